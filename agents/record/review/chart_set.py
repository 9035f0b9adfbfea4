"""The four charts a QA lead looks at first, built from one `QualityMetrics` (dashboard and review alike):
on-time rate by category over time, open items by age, the time-to-acknowledge distribution, and
escalations per month by step. `href(figure_key)` says where each bar's records are listed."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agents.core.quality_metrics import ALL, QualityMetrics
from agents.core.quality_metrics.measures import AGE_BUCKETS, RESPONSE_BUCKETS
from agents.core.quality_metrics.periods import trend_buckets
from agents.record.review.charts import INK, PALETTE, Mark, Series, bar_chart, line_chart
from agents.record.review.words import Words

OVERDUE_RED, WITHIN_TEAL = "#c0352b", "#0e6e6a"
STEP_COLOURS = ("#f2c14e", "#e07b39", "#c0352b", "#7a1f1f", "#4a1010")


@dataclass
class Chart:
    id: str
    title: str
    svg: str
    figures: list[str]      # the figure keys it shows, in drawing order


def standard_charts(metrics: QualityMetrics, w: Words, category: Callable[[str], str],
                    href: Callable[[str], str | None]) -> list[Chart]:
    return [trend_chart(metrics, w, category, href), open_age_chart(metrics, w, href),
            acknowledge_chart(metrics, w, href), escalation_chart(metrics, w, href)]


def _bucket_label(key: str, first_day) -> str:
    return f"{first_day.month}/{first_day.day}" if "-W" in key else key


def _count_mark(metrics: QualityMetrics, key: str, title: str, href) -> Mark:
    figure = metrics.figure(key)
    return Mark(figure.count, key, f"{title}: {figure.count}", href(key) if figure.count else None)


def trend_chart(metrics: QualityMetrics, w: Words, category: Callable[[str], str], href) -> Chart:
    rated = [c for c in metrics.categories if metrics.figure(f"on_time/all/{c}").count]
    series, keys = [], []
    for index, name in enumerate([ALL, *rated]):
        label = w("kind_all") if name == ALL else category(name)
        s = Series(label, INK if name == ALL else PALETTE[(index - 1) % len(PALETTE)])
        for bucket in metrics.buckets:
            key = f"trend/{bucket.key}/{name}"
            figure = metrics.figure(key)
            value = figure.value
            text = (f"{label} · {bucket.key}: {figure.on_time}/{figure.count} {w('on_time')}"
                    + (f" ({value:.0%})" if value is not None else ""))
            s.marks.append(Mark(value, key, text, href(key) if figure.count else None, figure.count, figure.on_time))
            keys.append(key)
        series.append(s)
    labels = [_bucket_label(b.key, b.first_day) for b in metrics.buckets]
    title = f"{w('chart_trend')} ({w(metrics.trend_unit)})"
    return Chart("trend", title, line_chart(title, labels, series), keys)


def open_age_chart(metrics: QualityMetrics, w: Words, href) -> Chart:
    overdue, within = Series(w("overdue"), OVERDUE_RED), Series(w("within_deadline"), WITHIN_TEAL)
    keys = []
    for name, _low, _high in AGE_BUCKETS:
        for s, prefix in ((overdue, "overdue"), (within, "within")):
            key = f"{prefix}/age/{name}"
            s.marks.append(_count_mark(metrics, key, f"{s.label} · {w('age_' + name)}", href))
            keys.append(key)
    title = w("chart_open_age")
    labels = [w(f"age_{name}") for name, _l, _h in AGE_BUCKETS]
    return Chart("open_age", title, bar_chart(title, labels, [overdue, within]), keys)


def acknowledge_chart(metrics: QualityMetrics, w: Words, href) -> Chart:
    s = Series(w("kind_ACKNOWLEDGE"), PALETTE[1])
    keys = [f"ack_within/{name}" for name, _l, _h in RESPONSE_BUCKETS]
    s.marks = [_count_mark(metrics, key, w(f"resp_{key.split('/')[1]}"), href) for key in keys]
    figure = metrics.figure(f"time_to/ACKNOWLEDGE/{ALL}")
    title = w("chart_ack")
    if figure.count:
        title += (f" · {w('median')} {w('working_days', n=figure.median_working_days)},"
                  f" {w('p90')} {w('working_days', n=figure.p90_working_days)}")
    labels = [w(f"resp_{name}") for name, _l, _h in RESPONSE_BUCKETS]
    return Chart("ack", title, bar_chart(title, labels, [s]), keys)


def escalation_chart(metrics: QualityMetrics, w: Words, href) -> Chart:
    months = [b.key for b in trend_buckets(metrics.period, "month")]
    steps = sorted({int(k.rsplit("/", 1)[1]) for k in metrics.figures if k.startswith("escalations/step/")}) or [1]
    series, keys = [], []
    for step in steps:
        s = Series(w("step", n=step), STEP_COLOURS[min(step, len(STEP_COLOURS)) - 1])
        for month in months:
            key = f"escalations/month/{month}/step/{step}"
            s.marks.append(_count_mark(metrics, key, f"{month} · {w('step', n=step)}", href))
            keys.append(key)
        series.append(s)
    title = w("chart_escalations")
    return Chart("escalations", title, bar_chart(title, months, series), keys)
