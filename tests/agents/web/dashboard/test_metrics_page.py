"""The quality metrics pages of the dashboard: figures, drill-down lists, tenancy, JSON, CSP."""
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from agents.web.dashboard.security import CONTENT_SECURITY_POLICY
from tests.agents.core.quality_metrics.records import Chain, local
from tests.agents.core.quality_metrics.test_figures import NOW, quarter
from tests.agents.web.dashboard.conftest import logged_in

A, B = "QA-HOLDERA-CMOX-001", "QA-HOLDERB-CMOX-001"
MARK = re.compile(r'<a href="([^"]+)"><(?:rect|circle) [^>]*data-figure="([^"]+)" data-value="([^"]*)"'
                  r'(?: data-count="(\d+)")?(?: data-on-time="(\d+)")?')


def holder_b() -> Chain:
    c = Chain(B, holder_id="HOLDER-B")
    c.event("deviation.reported", "DEV-B-1", local("2026-11-03 09:00"))
    return c


@pytest.fixture
def seeded(ledger):
    ledger.append(quarter().events())
    ledger.append(holder_b().events())
    return ledger


async def page_of(make_client, username: str):
    client = await logged_in(make_client, username, clock=lambda: NOW)
    return client


async def text_of(client, path: str, status: int = 200) -> str:
    response = await client.get(path)
    body = await response.text()
    assert response.status == status, body[:500]
    return body


async def test_an_agreements_page_shows_the_quarter_with_its_four_charts(make_client, seeded):
    client = await page_of(make_client, "qa.a")
    html = await text_of(client, f"/agreements/{A}/metrics?period=2026Q4")
    for chart in ("trend", "open_age", "ack", "escalations"):
        assert f'data-testid="chart-{chart}"' in html
    kpi = re.search(r'data-figure="on_time/all/all" data-count="(\d+)" data-on-time="(\d+)"', html)
    assert kpi.groups() == ("10", "7") and ">70%<" in html
    assert 'data-figure="opened/all" data-value="4"' in html
    assert "DEV-B-1" not in html


async def test_every_figure_on_a_chart_matches_its_drill_down_list(make_client, seeded):
    client = await page_of(make_client, "qa.a")
    html = await text_of(client, f"/agreements/{A}/metrics?period=2026Q4")
    marks = MARK.findall(html)
    assert len(marks) >= 8
    for href, key, value, count, on_time in marks:
        href = unescape(href)
        assert parse_qs(urlsplit(href).query)["figure"] == [key]
        listing = await text_of(client, href)
        rows = re.findall(r'<tr data-item="([^"]+)" data-chain-seq="(\d+)" data-outcome="([^"]+)"', listing)
        assert f'data-figure="{key}"' in listing
        if count:    # a rate: how many were rated, and how many on time
            assert len(rows) == int(count) and sum(o == "on_time" for *_, o in rows) == int(on_time), key
            assert abs(float(value) - int(on_time) / int(count)) < 1e-4
        else:        # a count
            assert len(rows) == int(value), key
        assert all(int(seq) > 0 for _, seq, _ in rows)


async def test_the_drill_down_list_is_also_json(make_client, seeded):
    client = await page_of(make_client, "qa.a")
    response = await client.get(f"/agreements/{A}/metrics/records?period=2026Q4&figure=on_time/ACKNOWLEDGE/all"
                                "&format=json")
    data = await response.json()
    assert data["figure"]["on_time"] == 3 and data["figure"]["count"] == 4
    assert {r["item_ref"] for r in data["figure"]["records"]} == {"DEV-1", "DEV-2", "CHG-1", "OOS-1"}


async def test_another_holder_cannot_see_the_agreements_metrics(make_client, seeded):
    client = await page_of(make_client, "qa.b")
    await text_of(client, f"/agreements/{A}/metrics", 404)
    await text_of(client, f"/agreements/{A}/metrics/records?figure=opened/all", 404)
    mine = await text_of(client, "/metrics?period=2026Q4")
    assert 'data-figure="opened/all" data-value="1"' in mine
    listing = await text_of(client, "/metrics/records?period=2026Q4&figure=opened/all")
    assert "DEV-B-1" in listing and "DEV-1" not in listing.replace("DEV-B-1", "")


async def test_the_manufacturer_sees_every_agreement_it_makes_for(make_client, seeded):
    client = await page_of(make_client, "qa.cmox")
    html = await text_of(client, "/metrics?period=2026Q4")
    assert 'data-testid="by-agreement"' in html and A in html and B in html
    assert 'data-figure="opened/all" data-value="5"' in html


async def test_the_product_filter_and_the_chinese_page(make_client, seeded):
    client = await page_of(make_client, "qa.a")
    html = await text_of(client, f"/agreements/{A}/metrics?period=2026Q4&product=HA-ONS-2ML")
    assert 'data-figure="opened/all" data-value="1"' in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    await client.post("/language", data={"lang": "zh", "next": "/", "csrf_token": token}, allow_redirects=False)
    zh = await text_of(client, f"/agreements/{A}/metrics?period=2026Q4")
    assert "质量指标" in zh and "按时率" in zh and "未结事项账龄" in zh


async def test_a_period_that_cannot_be_read_is_a_plain_400(make_client, seeded):
    client = await page_of(make_client, "qa.a")
    await text_of(client, f"/agreements/{A}/metrics?period=2026Q9", 400)
    await text_of(client, f"/agreements/{A}/metrics/records?figure=%3Cscript%3E", 400)


async def test_the_page_needs_nothing_the_content_security_policy_forbids(make_client, seeded):
    client = await page_of(make_client, "qa.a")
    response = await client.get(f"/agreements/{A}/metrics?period=2026Q4")
    html = await response.text()
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"<script(?![^>]*(src=|application/json))", html)
