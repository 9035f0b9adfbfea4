"""The quality figures of a period, from item facts. Pure: the clock and the calendars are passed in.

Figure keys (``<cat>`` is a category or ``all``; ``<KIND>`` NOTIFY, ACKNOWLEDGE, APPROVE, CLOSE,
SUBMIT, PERFORM, or ``all`` for the four communication timelines together):

* ``opened/<cat>``, ``closed/<cat>``: items whose first event / closing event happened in the period.
* ``on_time/<KIND>/<cat>`` (rate): obligations due in the period, met by their deadline or not;
  ``pending/<KIND>/<cat>``: due in the period but later than now, not yet met (not rated).
* ``trend/<bucket>/<cat>`` (rate): the same, the four timelines together, by week or month of the deadline.
* ``time_to/<KIND>/<cat>`` (durations): obligations met in the period, from what the deadline counts
  from to when it was met, in hours and working days; ``ack_within/<bucket>``: time-to-acknowledge counts.
* ``open/<cat>``, ``overdue/<cat>``, ``open/age/<bucket>``, ``overdue/age/<bucket>``, ``within/age/<bucket>``:
  items open at the end of the period (or now, if it has not ended), those with something overdue and
  those without, by days open.
* ``overdue_for/<bucket>``: obligations overdue then, by working days past their deadline.
* ``escalations/step/<n>``, ``escalations/all``, ``escalations/paged``, ``escalations/month/<YYYY-MM>/step/<n>``,
  ``escalated_items/step/<n>`` (each item once, at the highest step it reached in the period).
* ``breaches/<article>``, ``violations/<article>``, ``warnings/<article>`` (and ``/all``): recorded in the period.
* ``agreement/<id>/<m>``, ``product/<code>/<m>``, ``site/<id>/<m>`` with ``<m>`` one of opened, closed,
  on_time, open, overdue, breaches.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from agents.core.calendar import WorkingCalendar
from agents.core.quality_metrics.facts import EscalationFact, FindingFact, ItemFacts, ObligationFacts
from agents.core.quality_metrics.measures import (AGE_BUCKETS, OVERDUE_BUCKETS, RESPONSE_BUCKETS, bucket_for,
                                                  working_days_between)
from agents.core.quality_metrics.model import (ALL, COUNT, DURATIONS, LATE, MISSED, ON_TIME, PENDING, RATE,
                                               TIMELINE_KINDS, Figure, QualityMetrics, Ref, Scope)
from agents.core.quality_metrics.periods import Period, bucket_of, default_unit, trend_buckets

# Art. 7: the communication list's eight categories come first wherever categories are listed.
COMMUNICATION_LIST = ("deviation", "change", "oos_oot", "qualification_validation", "retention_stability",
                      "pharmacovigilance", "regulatory_inspection", "adverse_credit")
BREAKDOWN_MEASURES = ("opened", "closed", "on_time", "open", "overdue", "breaches")
FINDING_FIGURES = {"violation_recorded": "violations", "warning_raised": "warnings"}


def obligation_outcome(ob: ObligationFacts, now: datetime) -> str | None:
    """on_time, late, missed or pending; None when it was cancelled (no longer owed)."""
    if ob.cancelled is not None:
        return None
    if ob.satisfied is not None:
        return LATE if ob.late else ON_TIME
    if ob.due_at is not None and ob.due_at <= now:
        return MISSED
    return PENDING


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds() / 3600)


class _Figures:
    """Figures under construction, with the breakdowns by agreement, product and site."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}
        self.added = 0

    def add(self, key: str, kind: str, ref: Ref) -> None:
        self.added += 1
        figure = self.figures.get(key)
        if figure is None:
            figure = self.figures[key] = Figure(key, kind)
        figure.refs.append(ref)

    def by_category(self, measure: str, kind: str, item: ItemFacts, ref: Ref) -> None:
        self.add(f"{measure}/{item.category}", kind, ref)
        self.add(f"{measure}/{ALL}", kind, ref)
        self.breakdown(measure, kind, item, ref)

    def breakdown(self, measure: str, kind: str, item: ItemFacts, ref: Ref) -> None:
        if measure not in BREAKDOWN_MEASURES:
            return
        self.add(f"agreement/{item.agreement_id}/{measure}", kind, ref)
        if item.product_code:
            self.add(f"product/{item.product_code}/{measure}", kind, ref)
        if item.site_id:
            self.add(f"site/{item.site_id}/{measure}", kind, ref)


def compute(items: Iterable[ItemFacts], period: Period, *, now: datetime,
            calendars: Callable[[str], WorkingCalendar], scope: Scope = Scope(),
            trend_unit: str | None = None) -> QualityMetrics:
    """The figures of `period` for the items `scope` admits. `now` decides what is already due;
    open and overdue items are counted as at the end of the period (or `now`, if earlier)."""
    as_at = min(period.end, now)
    unit = trend_unit or default_unit(period)
    buckets = trend_buckets(period, unit)
    months = trend_buckets(period, "month")
    out = _Figures()
    seen_categories: set[str] = set()
    products: set[str] = set()
    sites: set[str] = set()
    for item in items:
        if not item.category or not scope.admits(item.agreement_id, item.product_code, item.site_id, item.category):
            continue
        calendar = calendars(item.agreement_id)
        before = out.added
        _item_figures(out, item, period, as_at, calendar)
        for ob in item.obligations.values():
            _obligation_figures(out, item, ob, period, now, as_at, calendar, buckets)
        _escalation_figures(out, item, item.escalations, period, months)
        for finding in item.findings:
            _finding_figures(out, item, finding, period)
        if out.added > before:
            seen_categories.add(item.category)
            products.update([item.product_code] if item.product_code else [])
            sites.update([item.site_id] if item.site_id else [])
    categories = [c for c in COMMUNICATION_LIST if c in seen_categories] + sorted(seen_categories - set(COMMUNICATION_LIST))
    for figure in out.figures.values():
        figure.refs.sort(key=lambda r: (r.at is None, r.at or as_at, r.agreement_id, r.chain_seq))
    return QualityMetrics(period=period, as_at=as_at, generated_at=now, scope=scope, trend_unit=unit, buckets=buckets,
                          categories=categories, products=sorted(products), sites=sorted(sites), figures=out.figures)


def _ref(item: ItemFacts, mark, outcome: str, **extra) -> Ref:
    return Ref(item.agreement_id, item.item_ref, item.category, mark.chain_seq, mark.record_key, mark.record_hash,
               mark.at, outcome, **extra)


def _item_figures(out: _Figures, item: ItemFacts, period: Period, as_at: datetime, calendar: WorkingCalendar) -> None:
    if item.opened is None:
        return   # the bus's own items (periodic reviews) count through their obligations only
    if period.contains(item.opened.at):
        out.by_category("opened", COUNT, item, _ref(item, item.opened, "opened", detail=item.opened.detail))
    if item.closed is not None and period.contains(item.closed.at):
        out.by_category("closed", COUNT, item, _ref(item, item.closed, "closed", detail=item.closed.detail,
                                                    hours=_hours(item.opened.at, item.closed.at)))
    if not item.open_at(as_at) or item.opened.at is None:
        return
    age = _hours(item.opened.at, as_at) or 0.0
    bucket = bucket_for(int(age // 24), AGE_BUCKETS)
    overdue = sorted((o for o in item.obligations.values() if o.overdue_at(as_at)), key=lambda o: o.due_at)
    first = overdue[0] if overdue else None
    ref = _ref(item, item.opened, "overdue" if first else "open", hours=age,
               working_days=working_days_between(calendar, item.opened.at, as_at),
               kind=first.kind if first else None, due_at=first.due_at if first else None, detail=item.opened.detail)
    out.by_category("open", COUNT, item, ref)
    out.add(f"open/age/{bucket}", COUNT, ref)
    if first is not None:
        out.by_category("overdue", COUNT, item, ref)
        out.add(f"overdue/age/{bucket}", COUNT, ref)
    else:
        out.add(f"within/age/{bucket}", COUNT, ref)


def _obligation_figures(out: _Figures, item: ItemFacts, ob: ObligationFacts, period: Period, now: datetime,
                        as_at: datetime, calendar: WorkingCalendar, buckets) -> None:
    outcome = obligation_outcome(ob, now)
    if outcome is None:
        return
    timeline = ob.kind in TIMELINE_KINDS
    taken = _hours(ob.basis_at, ob.satisfied.at) if ob.satisfied else None
    taken_wd = (working_days_between(calendar, ob.basis_at, ob.satisfied.at)
                if ob.satisfied and ob.basis_at and ob.satisfied.at else None)
    if period.contains(ob.due_at):
        deciding = ob.satisfied or ob.breached or ob.opened
        ref = _ref(item, deciding, outcome, kind=ob.kind, due_at=ob.due_at, hours=taken, working_days=taken_wd,
                   article=ob.rule or None, detail=deciding.detail if deciding is not ob.opened else "")
        if outcome == PENDING:
            for kind in (ob.kind, ALL) if timeline else (ob.kind,):
                out.add(f"pending/{kind}/{item.category}", COUNT, ref)
                out.add(f"pending/{kind}/{ALL}", COUNT, ref)
        else:
            out.add(f"on_time/{ob.kind}/{item.category}", RATE, ref)
            out.add(f"on_time/{ob.kind}/{ALL}", RATE, ref)
            if timeline:
                out.by_category(f"on_time/{ALL}", RATE, item, ref)
                out.breakdown("on_time", RATE, item, ref)
                bucket = bucket_of(buckets, ob.due_at, period.zone)
                if bucket is not None:
                    out.add(f"trend/{bucket.key}/{item.category}", RATE, ref)
                    out.add(f"trend/{bucket.key}/{ALL}", RATE, ref)
    if ob.satisfied is not None and period.contains(ob.satisfied.at) and taken is not None:
        ref = _ref(item, ob.satisfied, LATE if ob.late else ON_TIME, kind=ob.kind, due_at=ob.due_at, hours=taken,
                   working_days=taken_wd, article=ob.rule or None)
        out.add(f"time_to/{ob.kind}/{item.category}", DURATIONS, ref)
        out.add(f"time_to/{ob.kind}/{ALL}", DURATIONS, ref)
        if ob.kind == "ACKNOWLEDGE" and taken_wd is not None:
            out.add(f"ack_within/{bucket_for(taken_wd, RESPONSE_BUCKETS)}", COUNT, ref)
    if ob.breached is not None and period.contains(ob.breached.at):
        article = ob.rule or "—"
        ref = _ref(item, ob.breached, MISSED if ob.satisfied is None else LATE, kind=ob.kind, due_at=ob.due_at,
                   article=article, detail=ob.breached.detail)
        out.add(f"breaches/{article}", COUNT, ref)
        out.add(f"breaches/{ALL}", COUNT, ref)
        out.breakdown("breaches", COUNT, item, ref)
    if ob.overdue_at(as_at) and ob.due_at is not None:
        wd = working_days_between(calendar, ob.due_at, as_at)
        mark = ob.breached if ob.breached is not None and ob.breached.at and ob.breached.at <= as_at else ob.opened
        out.add(f"overdue_for/{bucket_for(wd, OVERDUE_BUCKETS)}", COUNT,
                _ref(item, mark, MISSED, kind=ob.kind, due_at=ob.due_at, hours=_hours(ob.due_at, as_at),
                     working_days=wd, article=ob.rule or None))


def _escalation_figures(out: _Figures, item: ItemFacts, escalations: list[EscalationFact], period: Period,
                        months) -> None:
    highest: tuple[int, Ref] | None = None
    for esc in escalations:
        if not period.contains(esc.mark.at):
            continue
        ref = _ref(item, esc.mark, "escalated", kind=esc.kind, step=esc.step, detail=esc.mark.detail)
        out.add(f"escalations/step/{esc.step}", COUNT, ref)
        out.add(f"escalations/{ALL}", COUNT, ref)
        if esc.page:
            out.add("escalations/paged", COUNT, ref)
        bucket = bucket_of(months, esc.mark.at, period.zone)
        if bucket is not None:
            out.add(f"escalations/month/{bucket.key}/step/{esc.step}", COUNT, ref)
        if highest is None or esc.step > highest[0]:
            highest = (esc.step, ref)
    if highest is not None:
        out.add(f"escalated_items/step/{highest[0]}", COUNT, highest[1])


def _finding_figures(out: _Figures, item: ItemFacts, finding: FindingFact, period: Period) -> None:
    measure = FINDING_FIGURES.get(finding.action)
    if measure is None or not period.contains(finding.mark.at):
        return
    article = finding.article or "—"
    ref = _ref(item, finding.mark, measure[:-1], article=article, detail=f"{finding.rule_id}: {finding.mark.detail}")
    out.add(f"{measure}/{article}", COUNT, ref)
    out.add(f"{measure}/{ALL}", COUNT, ref)


def month_keys(period: Period) -> list[str]:
    """The months a period touches, as the escalation figures key them."""
    return [b.key for b in trend_buckets(period, "month")]


