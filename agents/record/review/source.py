"""Reading the ledger for the quality figures: the one place that does I/O for them.

`MetricsSource` keeps a `MetricsFold` of every agreement's records and reads only what was
appended since it last looked, so the dashboard and the worker's gauges pay for new records, not
for the whole ledger, on every refresh. It is safe to share between threads: the dashboard calls
it from worker threads (`asyncio.to_thread`), never on the event loop.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from agents.core.calendar import WorkingCalendar, calendar_for
from agents.core.quality_metrics import ItemFacts, MetricsFold, Period, QualityMetrics, Scope, compute


def calendars_of(agreements, default_timezone: str = "Asia/Shanghai") -> Callable[[str], WorkingCalendar]:
    """Each agreement's working-day calendar (its time zone and the operator's schedule file), from an
    `AgreementSet`; the default zone's calendar for an agreement it does not have."""
    def calendar(agreement_id: str) -> WorkingCalendar:
        agreement = agreements.latest(agreement_id) if agreements is not None else None
        if agreement is None:
            return calendar_for(default_timezone, getattr(agreements, "schedule_file", None))
        return agreements.calendar(agreement)
    return calendar


class MetricsSource:
    def __init__(self, ledger, calendars: Callable[[str], WorkingCalendar]):
        self.ledger = ledger
        self.calendars = calendars
        self._fold = MetricsFold()
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Fold what was appended since the last refresh; returns how many records were read."""
        with self._lock:
            read = 0
            for record in self.ledger.iter(since=self._fold.last_seq, kinds=["event"]):
                self._fold.apply(record)
                read += 1
            return read

    def items(self, agreements: Iterable[str] | None = None) -> list[ItemFacts]:
        wanted = None if agreements is None else set(agreements)
        with self._lock:
            return [item for (agreement, _), item in self._fold.items.items() if wanted is None or agreement in wanted]

    def metrics(self, period: Period, *, now: datetime, scope: Scope, trend_unit: str | None = None,
                refresh: bool = True) -> QualityMetrics:
        """The figures of `period` for `scope` (its agreements must be given: tenancy is the caller's)."""
        if refresh:
            self.refresh()
        return compute(self.items(scope.agreements), period, now=now, calendars=self.calendars, scope=scope,
                       trend_unit=trend_unit)
