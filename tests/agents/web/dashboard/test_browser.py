"""The dashboard in Debian's Chromium (Playwright): what a holder's QA lead does, end to end.

The dashboard reads a real SQLite ledger (written here as the bus's ledger sink would) and publishes
on a real Tansu broker; no Faust worker is involved. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from agents.record.ledger import open_ledger
from agents.web.dashboard.actions import DashboardSigner
from agents.web.dashboard.app import DASHBOARD, create_app
from agents.web.dashboard.settings import DashboardSettings
from agents.web.dashboard.users import Role, UserStore
from streams.publisher import Publisher
from streams.signing import KeyRegistry, verify_decision, verify_event
from tests.agents.web.dashboard.conftest import PASSWORD
from tests.agents.web.dashboard.factory import A, B, agreements, escalation, event, later, obligation
from tests.agents.web.dashboard.server import ServerThread

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.broker]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
LIVE_TIMEOUT_MS = 8000


def seed(ledger) -> None:
    """A working week of holder A's communication list, and one item of holder B."""
    dev = event("deviation", "reported", A, "DEV-2026-0042", batch_no="2611-07", at=later(-20),
                payload={"affected_batches": ["2611-07"]})
    dev_minor = event("deviation", "reported", A, "DEV-2026-0045", classification="MINOR", at=later(-3),
                      payload={"description": "Label roll changed without line clearance record on packaging line "
                                              "PK-1; no mix-up found. 包装线换标签卷未记录清场。"})
    dev_closed = event("deviation", "reported", A, "DEV-2026-0031", classification="MINOR", at=later(-200))
    change = event("change", "proposed", A, "CHG-2026-0015", at=later(-6))
    # Changes the signature tests decide on, one each.
    more_changes = [event("change", "proposed", A, ref, at=later(-5),
                          payload={"description": f"{what} 变更", "rationale": "supplier consolidation"})
                    for ref, what in (("CHG-2026-0016", "New gelatin capsule shell supplier."),
                                      ("CHG-2026-0017", "Second blister line for 500 mg capsules."),
                                      ("CHG-2026-0018", "Revised in-process fill-weight limits."))]
    oos = event("oos_oot", "reported", A, "OOS-2026-0007", batch_no="2611-07", at=later(-4))
    qv = event("qualification_validation", "planned", A, "QV-2026-0011", classification=None, at=later(-30))
    rs = event("retention_stability", "study_started", A, "STB-2026-0003", classification=None, at=later(-50))
    pv = event("pharmacovigilance", "request_sent", A, "PV-2026-0002", by="HOLDER", classification=None, at=later(-10))
    ri = event("regulatory_inspection", "finding_reported", A, "INS-2026-0001", at=later(-26))
    release = event("batch_release", "factory_released", A, "BR-2611-03", batch_no="2611-03", classification=None,
                    at=later(-8))
    release_07 = event("batch_release", "factory_released", A, "BR-2611-07", batch_no="2611-07", classification=None,
                       at=later(-2))
    coline = event("coline_change", "notified", A, "COL-2026-0006", classification=None, at=later(-12))
    records = [
        dev_closed, event("deviation", "acknowledged", A, "DEV-2026-0031", by="HOLDER", at=later(-190)),
        event("deviation", "closed", A, "DEV-2026-0031", at=later(-100), classification="MINOR"),
        dev, obligation("opened", dev, kind="CLOSE", responsible="MANUFACTURER", due_at=later(150),
                        obligation_id="OB-DEV42-CLOSE", at=later(-20)),
        event("deviation", "acknowledged", A, "DEV-2026-0042", by="HOLDER", user="zhang.min@holder-a.example",
              at=later(-19)),
        event("deviation", "investigation_updated", A, "DEV-2026-0042", at=later(-5),
              payload={"note": "Root cause: worn dosing disc on FM-02; disc replaced, 3 re-checks passed."}),
        dev_minor, obligation("opened", dev_minor, due_at=later(9), obligation_id="OB-DEV45-ACK", at=later(-3)),
        change, obligation("opened", change, kind="APPROVE", due_at=later(30), obligation_id="OB-CHG15-APPROVE",
                           at=later(-6), description="HOLDER-A must approve or reject change CHG-2026-0015 (MAJOR)"),
        oos, obligation("opened", oos, due_at=later(4), obligation_id="OB-OOS7-ACK", at=later(-4)),
        qv, rs, pv, obligation("opened", pv, responsible="MANUFACTURER", due_at=later(40), obligation_id="OB-PV2-ACK",
                               at=later(-10)),
        ri, obligation("opened", ri, due_at=later(-2), obligation_id="OB-INS1-ACK", at=later(-26)),
        obligation("breached", ri, due_at=later(-2), obligation_id="OB-INS1-ACK", at=later(-2)),
        escalation(ri, "OB-INS1-ACK", step=1, due_at=later(-2), at=later(-1)),
        event("adverse_credit", "recorded", A, "ACR-2026-0001", classification=None, at=later(-70)),
        release, release_07, coline,
        event("holder_audit", "performed", A, "AUD-2026-0004", by="HOLDER", classification=None, at=later(-90)),
        event("deviation", "reported", B, "DEV-2026-0042", at=later(-5)),   # holder B's own item of the same ref
        *more_changes,
    ]
    ledger.append(records)


@pytest.fixture(scope="module")
def world(tmp_path_factory, bus_settings, topics):
    from argon2 import PasswordHasher

    tmp = tmp_path_factory.mktemp("dashboard-browser")
    ledger = open_ledger(f"sqlite:///{tmp / 'ledger.db'}")
    seed(ledger)
    users = UserStore(tmp / "users.db", hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    for username, name, party, role in (("qa.a", "张敏 Zhang Min", "HOLDER-A", Role.HOLDER_QA),
                                        ("head.a", "王芳 Wang Fang", "HOLDER-A", Role.HOLDER_HEAD),
                                        ("qa2.a", "陈静 Chen Jing", "HOLDER-A", Role.HOLDER_QA),
                                        ("qa.b", "刘洋 Liu Yang", "HOLDER-B", Role.HOLDER_QA)):
        users.add(username, PASSWORD, party, role, display_name=name)
    signer = DashboardSigner(tmp / "dashboard-signing.pem")
    publisher = Publisher.from_settings(bus_settings, signer=signer)
    settings = DashboardSettings(state_dir=tmp, secret_key="b" * 48, poll_interval_s=0.2, heartbeat_s=5,
                                 sign_events=True)
    server = ServerThread(lambda: create_app(settings, ledger, publisher, users, agreements=agreements())).start()
    yield SimpleNamespace(url=server.url, ledger=ledger, signer=signer, server=server, settings=settings)
    server.stop()
    publisher.close()
    ledger.close()
    users.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def page_as(browser, world):
    contexts = []

    def open_page(username: str):
        context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US",
                                      timezone_id="Asia/Shanghai")
        contexts.append(context)
        page = context.new_page()
        page.goto(world.url + "/")
        assert "/login" in page.url
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit].primary")
        page.wait_for_url(world.url + "/")
        page.wait_for_selector("[data-testid=live-status][data-state=live]")
        return page

    yield open_page
    for context in contexts:
        context.close()


def tile_count(page, category: str, which: str) -> str:
    return page.inner_text(f"[data-testid=tile-{category}] [data-count={which}]")


def test_overdue_item_appears_live_after_it_is_recorded(page_as, world, artifacts_dir):
    page = page_as("qa.a")
    assert tile_count(page, "deviation", "overdue") == "0"
    assert tile_count(page, "deviation", "due_soon") == "1"
    page.evaluate("window.__notReloaded = true")
    # The manufacturer reports a deviation; its acknowledgement deadline has already passed, and the
    # bus records the breach (what the worker's ledger sink writes; here written directly).
    dev = event("deviation", "reported", A, "DEV-2026-0050", at=later(-30),
                payload={"description": "Temperature excursion in warehouse zone C (26.4 °C, limit 25 °C) for 3 h. "
                                        "仓库C区温度超限3小时。"})
    world.ledger.append([dev, obligation("opened", dev, due_at=later(-1), obligation_id="OB-DEV50-ACK", at=later(-30)),
                         obligation("breached", dev, due_at=later(-1), obligation_id="OB-DEV50-ACK")])
    expect(page.locator("[data-testid=tile-deviation] [data-count=overdue]")).to_have_text("1",
                                                                                          timeout=LIVE_TIMEOUT_MS)
    row = page.locator("[data-testid=attention] tr[data-item='DEV-2026-0050']")
    assert "overdue by" in row.inner_text()
    assert page.evaluate("window.__notReloaded") is True  # swapped in live, not a page reload
    assert "level-overdue" in page.get_attribute("[data-testid=tile-deviation]", "class")
    page.screenshot(path=str(artifacts_dir / "dashboard-overview.png"), full_page=True)


def decide(page, meaning: str, reason: str = "") -> None:
    """On an item page: state the decision and go to the review page."""
    page.check(f"[data-testid=meaning-{meaning.lower()}]")
    page.fill("form[data-testid=decide-form] textarea[name=reason]", reason)
    page.click("[data-testid=decide]")


def sign(page, password: str = PASSWORD) -> None:
    page.fill("[data-testid=sign-password]", password)
    page.click("[data-testid=sign]")


def pending_on(world, item_ref: str) -> list:
    """What the dashboard has sent on this item and the ledger has not recorded yet."""
    return [p for p in list(world.server.app[DASHBOARD].pending.values()) if p.item_ref == item_ref]


def published(read_topic, topics, item_ref: str) -> list[dict]:
    """The holder's decisions on this item's change intake topic, in order (waits for the first)."""
    reader = read_topic(topics.intake("change"))
    found = reader.collect(lambda rs: len(rs) >= 1, timeout=20, where=lambda r: r.value is not None and
                           r.value["item_ref"] == item_ref and r.value["source"]["system"] == "DASHBOARD")
    return [r.value for r in found]


def test_an_approval_is_reviewed_signed_with_the_password_and_shown_as_a_signature(page_as, world, read_topic, topics,
                                                                                   artifacts_dir):
    page = page_as("head.a")
    page.goto(world.url + f"/agreements/{A}/items/CHG-2026-0015")
    page.screenshot(path=str(artifacts_dir / "dashboard-item-change.png"), full_page=True)
    conditions = "Dissolution comparison against 3 historical batches; first three batches on ongoing stability (Art. 11)."
    decide(page, "APPROVED", conditions)
    # The review page shows what the signature covers; nothing is on the bus yet.
    review = page.locator("[data-testid=what-is-signed]").inner_text()
    assert "Approved" in review and "王芳 Wang Fang" in review and "head.a" in review and conditions in review
    assert "change.approved" in review and "CHG-2026-0015" in review
    page.screenshot(path=str(artifacts_dir / "dashboard-confirm.png"), full_page=True)
    sign(page)
    page.wait_for_selector("[data-testid=sent-notice]")
    assert page.locator("[data-testid=decide]").count() == 0
    # On the bus: the approval in the approver's name, signed by the dashboard and by the person's own key.
    (approval,) = published(read_topic, topics, "CHG-2026-0015")
    assert approval["event_type"] == "change.approved" and approval["holder_id"] == "HOLDER-A"
    assert approval["source"]["user"] == "王芳 Wang Fang <head.a>" and approval["source"]["party_role"] == "HOLDER"
    assert approval["payload"]["decision_reason"] == conditions
    dashboard_keys = KeyRegistry()
    dashboard_keys.register("qbus-dashboard", world.signer.key_id, world.signer.private_key.public_key())
    assert verify_event(approval, dashboard_keys, ["qbus-dashboard"]).code == "SIGNED"
    people = KeyRegistry.load(world.settings.state_dir / "dashboard-user-keys.json")
    assert verify_decision(approval, people).ok
    assert approval["esignature"]["meaning"] == "APPROVED" and approval["esignature"]["authentication"] == "password"
    # Once the bus has recorded it, the item page shows the signature block, live.
    world.ledger.append([approval])
    page.wait_for_selector("[data-testid=signature-block]", timeout=LIVE_TIMEOUT_MS)
    block = page.locator("[data-testid=signature-block]").inner_text()
    assert "王芳 Wang Fang" in block and "Approved" in block and conditions in block and "+08:00" in block
    assert approval["esignature"]["key_id"] in block and "verified" in block
    page.locator("[data-testid=signatures]").screenshot(path=str(artifacts_dir / "dashboard-signature-block.png"))
    page.screenshot(path=str(artifacts_dir / "dashboard-item.png"), full_page=True)
    # The same, in Chinese; and a rejection's review page, left unsigned.
    page.click("[data-testid=switch-language]")
    page.wait_for_selector("text=电子签名")
    assert "批准" in page.locator("[data-testid=signature-block]").inner_text()
    page.locator("[data-testid=signatures]").screenshot(path=str(artifacts_dir / "dashboard-signature-block-zh.png"))
    page.goto(world.url + f"/agreements/{A}/items/CHG-2026-0018")
    decide(page, "REJECTED", "未提供与历史批次的对比数据。")
    assert "拒绝" in page.locator("[data-testid=what-is-signed]").inner_text()
    page.screenshot(path=str(artifacts_dir / "dashboard-confirm-zh.png"), full_page=True)
    page.click("[data-testid=cancel]")
    page.click("[data-testid=switch-language]")
    page.wait_for_selector("text=Overview")


def test_a_wrong_password_signs_nothing(page_as, world, read_topic, topics):
    page = page_as("qa.a")
    page.goto(world.url + f"/agreements/{A}/items/CHG-2026-0017")
    decide(page, "APPROVED", "as proposed")
    sign(page, "not my password at all")
    assert "Wrong password: nothing was signed or sent." in page.inner_text("[data-testid=sign-error]")
    assert not pending_on(world, "CHG-2026-0017")
    # The right password then signs; it is the only decision on the bus for this change (a refused
    # one would have come first: one item, one partition, in order).
    sign(page)
    page.wait_for_selector("[data-testid=sent-notice]")
    sent_id = page.url.split("sent=")[1]
    decisions = published(read_topic, topics, "CHG-2026-0017")
    assert [d["event_id"] for d in decisions] == [sent_id]


def test_a_rejection_without_a_reason_is_refused(page_as, world):
    page = page_as("qa.a")
    page.goto(world.url + f"/agreements/{A}/items/CHG-2026-0016")
    decide(page, "REJECTED", "")
    assert "A reason is required to reject a change." in page.inner_text("[data-testid=action-error]")
    assert page.locator("[data-testid=confirm]").count() == 0 and page.locator("[data-testid=decide]").count() == 1
    assert not pending_on(world, "CHG-2026-0016")


def test_switching_to_chinese_is_remembered(page_as, world, artifacts_dir):
    page = page_as("qa2.a")
    page.click("[data-testid=switch-language]")
    page.wait_for_selector("text=总览")
    assert page.inner_text("[data-testid=tile-deviation] .tile-label") == "偏差"
    assert page.inner_text("[data-testid=tile-oos_oot] .tile-label") == "超标/超趋势"
    assert page.inner_text("[data-testid=tile-adverse_credit] .tile-label") == "不良信用记录"
    page.wait_for_selector("[data-testid=live-status][data-state=live]")
    page.screenshot(path=str(artifacts_dir / "dashboard-overview-zh.png"), full_page=True)
    page.reload()
    assert page.inner_text("[data-testid=tile-change] .tile-label") == "变更"
    page.goto(world.url + f"/agreements/{A}/items/DEV-2026-0042")
    assert "生命周期" in page.inner_text("main")
    page.screenshot(path=str(artifacts_dir / "dashboard-item-zh.png"), full_page=True)


def test_holder_b_reaches_nothing_of_holder_a(page_as, world):
    page = page_as("qa.b")
    overview = page.inner_text("main")
    assert B in overview and A not in overview and "HOLDER-A" not in overview
    # Holder A's item, live stream, export and action URLs: 404, and nothing of A in the answers.
    item = page.goto(world.url + f"/agreements/{A}/items/CHG-2026-0015")
    assert item.status == 404
    text = page.content()
    assert "CHG-2026-0015" not in text and "HOLDER-A" not in text and "amoxicillin" not in text
    for path in (f"/events?agreement={A}", f"/agreements/{A}/export", f"/agreements/{A}"):
        response = page.request.get(world.url + path)
        assert response.status == 404, path
        assert A not in response.text() and "HOLDER-A" not in response.text()
    status = page.evaluate(f"fetch('/events?agreement={A}').then(r => r.status)")
    assert status == 404
    # B's own live view hears nothing when A's agreement changes, and does when B's does.
    page.goto(world.url + "/")
    page.wait_for_selector("[data-testid=live-status][data-state=live]")
    world.ledger.append([event("deviation", "reported", A, "DEV-2026-0060")])
    page.wait_for_timeout(1200)
    assert page.evaluate("document.body.dataset.refreshed") is None
    world.ledger.append([event("oos_oot", "reported", B, "OOS-B-2026-0001")])
    expect(page.locator("body")).to_have_attribute("data-refreshed", re.compile(r"\d+"), timeout=LIVE_TIMEOUT_MS)
    assert "DEV-2026-0060" not in page.content()
