"""The quality figures as Prometheus gauges, read from the ledger, for an operator's Grafana board.

`QualityGauges.refresh()` folds the ledger records appended since its last call (the first call
reads the whole ledger) and sets, per agreement, the gauges of `agents.worker.metrics.QbusMetrics`
named ``quality_*``: the deadlines that fell due in the last 30 days (a rolling window of whole
local days, the agreement's time zone) by outcome, their on-time ratio, and the open and overdue
items by age now. The numbers are the dashboard's (`agents.core.quality_metrics`), so a Grafana
panel and the metrics page agree.

It blocks on the ledger: the worker calls it off the event loop on a timer, e.g. every 5 minutes::

    gauges = QualityGauges(bus.metrics, bus.ledger, bus.agreements)
    ...
    await asyncio.to_thread(gauges.refresh)

With several workers, give each the agreements it owns (``owned=lambda: ...``) so a series has one
exporter; without it every worker exports every agreement (Grafana then takes ``max by``).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from agents.core.quality_metrics import ALL, RATED_OUTCOMES, TIMELINE_KINDS, QualityMetrics, Scope
from agents.core.quality_metrics.measures import AGE_BUCKETS, bucket_for
from agents.core.quality_metrics.periods import days
from agents.record.review.source import MetricsSource, calendars_of
from agents.worker.metrics import QbusMetrics

WINDOW_DAYS = 30


class QualityGauges:
    def __init__(self, metrics: QbusMetrics, ledger, agreements=None, *, default_timezone: str = "Asia/Shanghai",
                 owned: Callable[[], Iterable[str]] | None = None, clock: Callable[[], datetime] | None = None):
        self.metrics = metrics
        self.agreements = agreements
        self.default_timezone = default_timezone
        self.owned = owned
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.source = MetricsSource(ledger, calendars_of(agreements, default_timezone))

    def _zone(self, agreement_id: str) -> str:
        agreement = self.agreements.latest(agreement_id) if self.agreements is not None else None
        return agreement.timezone if agreement is not None else self.default_timezone

    def refresh(self) -> int:
        """Read what is new in the ledger and set the gauges; returns the number of agreements exported."""
        self.source.refresh()
        now = self.clock()
        wanted = set(self.owned()) if self.owned is not None else None
        agreement_ids = sorted({item.agreement_id for item in self.source.items()
                                if wanted is None or item.agreement_id in wanted})
        samples: dict[str, dict[tuple[str, ...], float]] = {
            "quality_deadlines": {}, "quality_on_time_ratio": {}, "quality_open_items": {}, "quality_overdue_items": {}}
        for agreement_id in agreement_ids:
            zone = self._zone(agreement_id)
            today = now.astimezone(ZoneInfo(zone)).date()
            window = days(today - timedelta(days=WINDOW_DAYS - 1), today, zone)
            metrics = self.source.metrics(window, now=now, scope=Scope(agreements=(agreement_id,)), refresh=False)
            _add_samples(samples, agreement_id, metrics)
        self.metrics.set_quality(samples, time.time())
        return len(agreement_ids)


def _add_samples(samples: dict, agreement_id: str, metrics: QualityMetrics) -> None:
    for kind in TIMELINE_KINDS:
        counts: dict[tuple[str, str], int] = {}
        for ref in metrics.figure(f"on_time/{kind}/{ALL}").refs:
            counts[(ref.category, ref.outcome)] = counts.get((ref.category, ref.outcome), 0) + 1
        for category in {c for c, _ in counts}:
            rated = sum(counts.get((category, o), 0) for o in RATED_OUTCOMES)
            for outcome in RATED_OUTCOMES:
                samples["quality_deadlines"][(agreement_id, category, kind, outcome)] = counts.get((category, outcome), 0)
            samples["quality_on_time_ratio"][(agreement_id, category, kind)] = counts.get((category, "on_time"), 0) / rated
    for figure, gauge in (("open/all", "quality_open_items"), ("overdue/all", "quality_overdue_items")):
        for category in metrics.categories:
            for name, _low, _high in AGE_BUCKETS:
                samples[gauge].setdefault((agreement_id, category, name), 0)
        for ref in metrics.figure(figure).refs:
            key = (agreement_id, ref.category, bucket_for(int((ref.hours or 0) // 24), AGE_BUCKETS))
            samples[gauge][key] = samples[gauge].get(key, 0) + 1
