"""The metrics page in Debian's Chromium: both languages, and a bar's drill-down list. Screenshots
go to test-artifacts/ (dashboard-metrics-en.png, dashboard-metrics-zh.png, dashboard-metrics-records.png)."""
from __future__ import annotations

import pytest

from agents.record.ledger import open_ledger
from agents.web.dashboard.app import create_app
from agents.web.dashboard.settings import DashboardSettings
from agents.web.dashboard.users import Role, UserStore
from tests.agents.core.quality_metrics.test_figures import NOW
from tests.agents.web.dashboard.conftest import PASSWORD, RecordingBus
from tests.agents.web.dashboard.factory import A, agreements
from tests.agents.web.dashboard.metrics_world import busy_quarter
from tests.agents.web.dashboard.server import ServerThread
from tests.agents.web.dashboard.test_browser import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from argon2 import PasswordHasher

    tmp = tmp_path_factory.mktemp("metrics-browser")
    ledger = open_ledger(f"sqlite:///{tmp / 'ledger.db'}")
    ledger.append(busy_quarter().events())
    users = UserStore(tmp / "users.db", hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    users.add("qa.a", PASSWORD, "HOLDER-A", Role.HOLDER_QA, display_name="张敏 Zhang Min")
    settings = DashboardSettings(state_dir=tmp, secret_key="m" * 48, poll_interval_s=0.2, heartbeat_s=5,
                                 sign_events=False)
    server = ServerThread(lambda: create_app(settings, ledger, RecordingBus(), users, agreements=agreements(),
                                             clock=lambda: NOW)).start()
    yield server
    server.stop()
    ledger.close()
    users.close()


@pytest.fixture(scope="module")
def page(site):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.goto(site.url + "/login")
    page.fill("input[name=username]", "qa.a")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(site.url + "/")
    yield page
    context.close()
    browser.close()
    playwright.stop()


def test_the_metrics_page_in_english_and_chinese(page, site, artifacts_dir):
    page.click("[data-testid=nav-metrics]")
    page.goto(site.url + f"/agreements/{A}/metrics?period=2026Q4")
    for chart in ("trend", "open_age", "ack", "escalations"):
        assert page.locator(f"[data-testid=chart-{chart}] svg").count() == 1
    assert "On-time rate" in page.inner_text("[data-testid=kpis]")
    page.screenshot(path=str(artifacts_dir / "dashboard-metrics-en.png"), full_page=True)
    page.click("[data-testid=switch-language]")
    page.wait_for_selector("html[lang=zh-CN]")
    assert "按时率" in page.inner_text("[data-testid=kpis]")
    page.screenshot(path=str(artifacts_dir / "dashboard-metrics-zh.png"), full_page=True)
    page.click("[data-testid=switch-language]")
    page.wait_for_selector("html[lang=en]")


def test_a_bar_opens_the_list_of_its_records(page, site, artifacts_dir):
    page.goto(site.url + f"/agreements/{A}/metrics?period=2026Q4")
    bar = page.locator("[data-testid=chart-open_age] a rect[data-figure='within/age/8-30d']")
    expected = int(bar.get_attribute("data-value"))
    assert expected > 0
    bar.click()
    page.wait_for_selector("[data-testid=records]")
    assert page.get_attribute("[data-testid=records]", "data-figure") == "within/age/8-30d"
    assert page.locator("[data-testid=record-rows] tbody tr").count() == expected
    page.screenshot(path=str(artifacts_dir / "dashboard-metrics-records.png"), full_page=True)
