"""The quality metrics pages: one agreement's, and across the agreements a user may see.

``/agreements/{id}/metrics`` and ``/metrics`` show the figures of a period (a quarter by default)
with charts drawn on the server (`agents.record.review.chart_set`: plain SVG, so nothing breaks the
Content-Security-Policy); every bar and point links to ``…/metrics/records?figure=KEY``, the list of
records it was counted from (``&format=json`` for a script). Tenancy is the other pages': an
agreement resolves through `Dashboard.agreement_for` (404 for one the user's party is not a party
to), and the cross-agreement page counts only `Dashboard.visible` agreements. The figures are read
by a `MetricsSource` that folds only new ledger records, in a worker thread, never on the loop.
"""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from agents.core.quality_metrics import ALL, TIMELINE_KINDS, Period, PeriodError, QualityMetrics, Scope, parse_period
from agents.core.quality_metrics.measures import OVERDUE_BUCKETS
from agents.core.quality_metrics.periods import TREND_UNITS, quarter_of, whole_year
from agents.record.review.chart_set import standard_charts
from agents.record.review.source import MetricsSource, calendars_of
from agents.record.review.titles import figure_title
from agents.record.review.words import Words
from agents.web.dashboard.i18n import Translator
from agents.web.dashboard.inputs import BadInput
from agents.web.dashboard.rendering import current_user, language_of, render
from agents.web.dashboard.state import DASHBOARD, Dashboard

METRICS = web.AppKey("quality_metrics", MetricsSource)
FIGURE_KEY = re.compile(r"^[A-Za-z0-9_.:/ -]{1,200}$")
EVENT_TYPE = re.compile(r"^[a-z_]+\.[a-z_]+$")
MAX_FILTER = 100


@dataclass
class View:
    """What the query asks for, checked."""
    period: Period
    product: str | None
    trend: str | None

    def query(self, **extra) -> str:
        values = {"period": self.period.label, **({"product": self.product} if self.product else {}),
                  **({"trend": self.trend} if self.trend else {}), **extra}
        return urlencode(values)


def setup_metrics(app: web.Application) -> None:
    """Register the metrics pages (the dashboard's app module calls this once)."""
    dash = app[DASHBOARD]
    app[METRICS] = MetricsSource(dash.ledger, calendars_of(dash.agreement_set, dash.settings.default_timezone))
    app.router.add_get("/metrics", all_metrics)
    app.router.add_get("/metrics/records", all_records)
    app.router.add_get("/agreements/{agreement_id}/metrics", agreement_metrics)
    app.router.add_get("/agreements/{agreement_id}/metrics/records", agreement_records)


def _view(request: web.Request, dash: Dashboard, tz: str) -> View:
    query = request.query
    today = dash.clock().astimezone(ZoneInfo(tz)).date()
    try:
        period = parse_period(query["period"], tz) if query.get("period") else quarter_of(today, tz)
    except PeriodError:
        raise BadInput("bad_period") from None
    product = (query.get("product") or "").strip() or None
    trend = query.get("trend") or None
    if (product and len(product) > MAX_FILTER) or (trend and trend not in TREND_UNITS):
        raise BadInput("bad_period")
    return View(period, product, trend)


async def _compute(request: web.Request, agreement_ids: list[str], view: View) -> QualityMetrics:
    dash = request.app[DASHBOARD]
    scope = Scope(agreements=tuple(agreement_ids), products=frozenset([view.product]) if view.product else frozenset())
    return await asyncio.to_thread(request.app[METRICS].metrics, view.period, now=dash.clock(), scope=scope,
                                   trend_unit=view.trend)


def _periods(dash: Dashboard, tz: str, chosen: Period) -> list[str]:
    """The choices offered: this quarter and the seven before it, this year and last year."""
    today = dash.clock().astimezone(chosen.zone).date()
    current = quarter_of(today, tz)
    year, number = current.first_day.year, (current.first_day.month - 1) // 3 + 1
    labels = []
    for _ in range(8):
        labels.append(f"{year}Q{number}")
        year, number = (year - 1, 4) if number == 1 else (year, number - 1)
    labels += [whole_year(today.year, tz).label, whole_year(today.year - 1, tz).label]
    return labels if chosen.label in labels else [chosen.label, *labels]


def _page(request: web.Request, metrics: QualityMetrics, view: View, *, base: str, agreement_ids: list[str],
          info=None) -> web.Response:
    dash = request.app[DASHBOARD]
    lang = language_of(request)
    w, t = Words(lang), Translator(lang)

    def records_url(key: str) -> str:
        return f"{base}/records?{view.query(figure=key)}"

    charts = standard_charts(metrics, w, t.category, records_url)
    products = sorted({code for a in agreement_ids for code in dash.model.agreements[a].products} | set(metrics.products))
    return render(request, "metrics.html", {
        "m": metrics, "w": w, "view": view, "base": base, "info": info, "charts": charts, "records_url": records_url,
        "kinds": (*TIMELINE_KINDS, ALL), "overdue_buckets": OVERDUE_BUCKETS, "products": products,
        "periods": _periods(dash, view.period.timezone, view.period), "trend_units": TREND_UNITS,
        "agreement_ids": agreement_ids if info is None else [], "nav": "metrics",
    })


async def agreement_metrics(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    view = _view(request, dash, info.timezone)
    metrics = await _compute(request, [info.agreement_id], view)
    return _page(request, metrics, view, base=f"/agreements/{quote(info.agreement_id, safe='')}/metrics",
                 agreement_ids=[info.agreement_id], info=info)


async def all_metrics(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    visible = dash.visible(user)
    view = _view(request, dash, dash.settings.default_timezone)
    metrics = await _compute(request, visible, view)
    return _page(request, metrics, view, base="/metrics", agreement_ids=visible)


async def _records(request: web.Request, agreement_ids: list[str], view: View, base: str, info=None) -> web.Response:
    key = request.query.get("figure") or ""
    if not FIGURE_KEY.match(key):
        raise BadInput("bad_period")
    metrics = await _compute(request, agreement_ids, view)
    figure = metrics.figure(key)
    if request.query.get("format") == "json":
        return web.json_response({"period": metrics.period.label, "as_at": metrics.to_json(False)["as_at"],
                                  "figure": figure.to_json()})
    lang = language_of(request)
    w, t = Words(lang), Translator(lang)
    return render(request, "metrics_records.html", {
        "m": metrics, "w": w, "figure": figure, "view": view, "base": base, "info": info,
        "title": figure_title(key, w, t.category), "time_header": _time_header(key), "event_type": EVENT_TYPE.match,
        "many": len(agreement_ids) > 1, "nav": "metrics",
        "json_url": f"{base}/records?{view.query(figure=key, format='json')}",
    })


def _time_header(key: str) -> str:
    """What the time column of a drill-down list measures for this figure."""
    head = key.split("/", 1)[0]
    if head in ("open", "overdue", "within") or key.split("/")[-1] in ("open", "overdue"):
        return "open_for"
    return "past_due" if head == "overdue_for" else "time_taken"


async def agreement_records(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    view = _view(request, dash, info.timezone)
    return await _records(request, [info.agreement_id], view,
                          f"/agreements/{quote(info.agreement_id, safe='')}/metrics", info)


async def all_records(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    view = _view(request, dash, dash.settings.default_timezone)
    return await _records(request, dash.visible(user), view, "/metrics")
