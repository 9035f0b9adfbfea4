"""Pages, actions, live stream and export of the dashboard; tenancy (Art. 10) on every route."""
import asyncio
import io
import json
import zipfile
from html import escape

import pytest

from agents.web.dashboard.i18n import CATEGORIES
from tests.agents.web.dashboard.conftest import csrf_token, dash_of, logged_in
from tests.agents.web.dashboard.factory import A, B, agreements, event, later, obligation

SECRET_TEXT = "FM-02 fill weight secret detail of holder A"


@pytest.fixture
def seeded(ledger):
    """Holder A: an overdue deviation, a proposed change, a co-line notice about holder B's new product.
    Holder B: one deviation. Same manufacturer, same generic name (Art. 10)."""
    dev_a = event("deviation", "reported", A, "DEV-A-1", batch_no="2611-07",
                  payload={"description": SECRET_TEXT})
    change_a = event("change", "proposed", A, "CHG-A-1")
    coline_a = event("coline_change", "notified", A, "COL-A-1")
    dev_b = event("deviation", "reported", B, "DEV-B-1")
    ledger.append([dev_a, obligation("opened", dev_a, due_at=later(-2)), change_a,
                   obligation("opened", change_a, kind="APPROVE", due_at=later(20)), coline_a, dev_b])
    return {"dev_a": dev_a, "change_a": change_a, "coline_a": coline_a, "dev_b": dev_b}


async def read_sse(response, count=1, timeout=3.0):
    """The next `count` SSE messages as (event, data) pairs."""
    messages, name, data = [], None, []
    async def run():
        nonlocal name, data
        while len(messages) < count:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and (name or data):
                messages.append((name, json.loads("\n".join(data))))
                name, data = None, []
    await asyncio.wait_for(run(), timeout)
    return messages


# --- what a holder sees ----------------------------------------------------------------------------
async def test_overview_shows_every_category_with_counts(make_client, seeded):
    client = await logged_in(make_client, "qa.a")
    html = await (await client.get("/")).text()
    for category in ("deviation", "change", "oos_oot", "qualification_validation", "retention_stability",
                     "pharmacovigilance", "regulatory_inspection", "adverse_credit", "batch_release",
                     "coline_change", "holder_audit"):
        assert f'data-testid="tile-{category}"' in html and escape(CATEGORIES[category][0]) in html
    assert 'class="tile level-overdue"' in html and "DEV-A-1" in html  # in "needs attention"
    assert B not in html and "DEV-B-1" not in html


async def test_item_page_shows_the_lifecycle_with_hashes_and_countdowns(make_client, seeded, ledger):
    client = await logged_in(make_client, "qa.a")
    html = await (await client.get(f"/agreements/{A}/items/DEV-A-1")).text()
    record = next(r for r in ledger.iter(agreement=A) if r.item_ref == "DEV-A-1")
    assert record.hash[:16] in html and SECRET_TEXT in html
    assert f"chain #{record.chain_seq}<" in html  # the agreement's own numbering, never the ledger's global seq
    assert "overdue by" in html and 'data-testid="acknowledge"' in html
    assert "Asia/Shanghai (UTC+08:00)" in html


async def test_partial_render_is_just_the_live_part(make_client, seeded):
    client = await logged_in(make_client, "qa.a")
    full = await (await client.get("/")).text()
    part = await (await client.get("/", headers={"X-Qbus-Partial": "1"})).text()
    assert "<html" in full and "<html" not in part and 'data-testid="tile-deviation"' in part


async def test_chinese_is_switchable_and_remembered(make_client, seeded, users):
    client = await logged_in(make_client, "qa.a")
    token = await csrf_token(client, "/")
    response = await client.post("/language", data={"lang": "zh", "next": "/", "csrf_token": token})
    html = await response.text()
    assert "偏差" in html and "超标/超趋势" in html and "不良信用记录" in html and "总览" in html
    assert users.get("qa.a").language == "zh"
    # Remembered: a new browser session of the same user is in Chinese too.
    again = await logged_in(make_client, "qa.a")
    assert "确认与验证" in await (await again.get("/")).text()


async def test_coline_notice_hides_another_holders_confidential_fields(make_client, seeded):
    client = await logged_in(make_client, "qa.a")
    html = await (await client.get(f"/agreements/{A}/items/COL-A-1")).text()
    notice = seeded["coline_a"]["payload"]
    assert notice["risk_assessment_conclusion"][:40] in html
    for hidden in ("new_product_name", "commercial_volume", "formulation_details"):
        assert notice[hidden] not in html
    assert "HOLDER-B" not in html


async def test_queue_lists_approvals_acknowledgements_and_coline_feedback(make_client, seeded):
    client = await logged_in(make_client, "qa.a")
    html = await (await client.get("/queue")).text()
    approvals = html.split('data-testid="queue-approvals"')[1].split("</table>")[0]
    acks = html.split('data-testid="queue-acknowledgements"')[1].split("</table>")[0]
    coline = html.split('data-testid="queue-coline"')[1].split("</table>")[0]
    assert "CHG-A-1" in approvals and "DEV-A-1" in acks and "COL-A-1" in coline


# --- actions publish on the bus ---------------------------------------------------------------------
async def test_the_dashboard_writes_nothing_itself(make_client, seeded, bus, ledger):
    before = ledger.count()
    client = await logged_in(make_client, "qa.a")
    page = f"/agreements/{A}/items/DEV-A-1"
    await client.post(page + "/acknowledge", data={"csrf_token": await csrf_token(client, page), "note": "received"})
    assert bus.sent[0]["event_type"] == "deviation.acknowledged" and ledger.count() == before
    # Once the bus has recorded the event, the item is no longer waiting and the notice is gone.
    ledger.append([bus.sent[0]])
    await dash_of(client).poll_once()
    html = await (await client.get(page)).text()
    assert 'data-testid="sent-notice"' not in html and 'data-testid="acknowledge"' not in html
    assert "deviation.acknowledged" in html


# --- tenancy: holder B reaches nothing of holder A ------------------------------------------------
async def test_holder_b_gets_the_same_404_for_holder_as_item_as_for_nothing(make_client, seeded, bus):
    client = await logged_in(make_client, "qa.b")
    probes = {
        "item": f"/agreements/{A}/items/DEV-A-1",
        "agreement": f"/agreements/{A}",
        "category": f"/agreements/{A}?category=deviation",
        "export": f"/agreements/{A}/export",
    }
    for headers in ({}, {"X-Qbus-Partial": "1"}):
        missing_text = await (await client.get(f"/agreements/{A}/items/NO-SUCH-ITEM", headers=headers)).text()
        for name, path in probes.items():
            response = await client.get(path, headers=headers)
            text = await response.text()
            assert response.status == 404, name
            assert text == missing_text, name
            assert "DEV-A-1" not in text and SECRET_TEXT not in text and "HOLDER-A" not in text
    token = await csrf_token(client, "/")
    for action in ("decide", "sign", "acknowledge", "feedback"):
        response = await client.post(f"/agreements/{A}/items/CHG-A-1/{action}",
                                     data={"csrf_token": token, "meaning": "APPROVED", "reason": "x", "feedback": "x"})
        assert response.status == 404
    assert bus.sent == []
    for page in ("/", "/queue", "/batches"):
        text = await (await client.get(page)).text()
        assert A not in text and "DEV-A-1" not in text and "CHG-A-1" not in text


async def test_holder_b_cannot_open_holder_as_live_stream(make_client, seeded):
    client = await logged_in(make_client, "qa.b")
    response = await client.get(f"/events?agreement={A}")
    assert response.status == 404 and A not in await response.text()


async def test_live_stream_tells_each_holder_only_of_its_own_agreements(make_client, seeded, ledger):
    client = await logged_in(make_client, "qa.b")
    dash = dash_of(client)
    stream = await client.get("/events")
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert (await read_sse(stream))[0][0] == "hello"
    # Something happens on holder A's agreement: holder B's stream stays silent ...
    ledger.append([event("deviation", "reported", A, "DEV-A-2")])
    await dash.poll_once()
    # ... and when B's own agreement changes, B hears of B only, with the length of B's own chain
    # (not the ledger's global seq, which would tell B how busy A is).
    (b_record, _a_record) = ledger.append([event("oos_oot", "reported", B, "OOS-B-1"),
                                           event("deviation", "reported", A, "DEV-A-4")])
    await dash.poll_once()
    ((name, data),) = await read_sse(stream)
    assert name == "change" and data == {"agreements": [B], "position": b_record.chain_seq}
    assert b_record.chain_seq == 2 and b_record.seq > 2
    stream.close()


async def test_live_stream_of_holder_a_names_its_changes(make_client, seeded, ledger):
    client = await logged_in(make_client, "qa.a")
    stream = await client.get(f"/events?agreement={A}")
    await read_sse(stream)
    ledger.append([event("deviation", "reported", A, "DEV-A-3")])
    await dash_of(client).poll_once()
    ((name, data),) = await read_sse(stream)
    assert name == "change" and data["agreements"] == [A] and data["position"] == ledger.count(A)
    stream.close()


# --- export ------------------------------------------------------------------------------------------
async def test_export_downloads_the_agreements_inspection_package(make_client, seeded):
    client = await logged_in(make_client, "auditor.a")
    response = await client.get(f"/agreements/{A}/export")
    assert response.status == 200 and response.headers["Content-Type"] == "application/zip"
    assert f"qbus-{A}-" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    assert {"manifest.json", "events.jsonl", "report.html"} <= set(archive.namelist())
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["agreement_id"] == A
    lines = archive.read("events.jsonl").decode().splitlines()
    assert lines and all(json.loads(line)["agreement_id"] == A for line in lines)
    assert "DEV-B-1" not in archive.read("events.jsonl").decode()


async def test_export_says_501_when_not_available(make_client, seeded):
    client = await logged_in(make_client, "qa.a", export=False)
    response = await client.get(f"/agreements/{A}/export")
    assert response.status == 501 and "not available" in await response.text()


# --- with the agreement files loaded ------------------------------------------------------------------
@pytest.fixture
def agreement_set():
    return agreements()


async def test_agreement_files_give_names_and_no_holder_sees_anothers_name(make_client, ledger, agreement_set):
    # A site-wide inspection finding published under A's agreement that happens to name B's product.
    finding = event("regulatory_inspection", "finding_reported", A, "INS-A-1",
                    payload={"finding_text": "Cleaning records of HB-AMX-250 incomplete; HA-AMX-500 line clean."})
    ledger.append([finding])
    client = await logged_in(make_client, "qa.a", agreements=agreement_set)
    overview = await (await client.get("/")).text()
    assert "Holder A Pharma" in overview and "Quality agreement HOLDER-A / CMO-X" in overview
    for path in ("/", f"/agreements/{A}", f"/agreements/{A}/items/INS-A-1", "/queue"):
        assert "HB-AMX-250" not in await (await client.get(path)).text(), path
    # The manufacturer, who wrote it, sees it whole.
    cmo = await logged_in(make_client, "qa.cmox", agreements=agreement_set)
    assert "HB-AMX-250" in await (await cmo.get(f"/agreements/{A}/items/INS-A-1")).text()
