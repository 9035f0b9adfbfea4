"""The figures and the records behind each: what `compute` returns, and its JSON form.

Every number a person sees is a `Figure`: a count, an on-time rate or a set of durations, together
with the list of `Ref`s it was counted from (the item, the record's place in the agreement's hash
chain, its key and hash). The number is derived from that list and nothing else, so a chart and
its drill-down list cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.core.quality_metrics.measures import nearest_rank
from agents.core.quality_metrics.periods import Bucket, Period

COUNT, RATE, DURATIONS = "count", "rate", "durations"
# Outcomes of an obligation for the on-time rate; 'pending' ones (not yet due) are left out of it.
ON_TIME, LATE, MISSED, PENDING = "on_time", "late", "missed", "pending"
RATED_OUTCOMES = (ON_TIME, LATE, MISSED)   # what an on-time rate counts, in the order they are shown
# The communication timelines of Art. 7 (and Art. 9 for decisions), in the order a QA lead reads them.
TIMELINE_KINDS = ("NOTIFY", "ACKNOWLEDGE", "APPROVE", "CLOSE")
ALL = "all"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


@dataclass(frozen=True, slots=True)
class Ref:
    """One record behind a figure."""
    agreement_id: str
    item_ref: str
    category: str
    chain_seq: int                 # the record's position in the agreement's hash chain
    record_key: str                # its event_id
    record_hash: str
    at: datetime | None            # when it happened (the time the record states)
    outcome: str                   # on_time, late, missed, pending, opened, closed, open, overdue, escalated, ...
    kind: str | None = None        # the obligation's kind, where there is one
    due_at: datetime | None = None
    hours: float | None = None     # a duration, or how long open / overdue
    working_days: int | None = None
    step: int | None = None        # an escalation's ladder step
    article: str | None = None
    detail: str = ""               # the record's own words (reason, rule id)

    def to_json(self) -> dict[str, Any]:
        out = {"agreement_id": self.agreement_id, "item_ref": self.item_ref, "category": self.category,
               "chain_seq": self.chain_seq, "record_key": self.record_key, "record_hash": self.record_hash,
               "at": _iso(self.at), "outcome": self.outcome}
        for name in ("kind", "hours", "working_days", "step", "article"):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value, 2) if isinstance(value, float) else value
        if self.due_at is not None:
            out["due_at"] = _iso(self.due_at)
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass
class Figure:
    key: str                       # e.g. on_time/ACKNOWLEDGE/deviation (see compute.py for every key)
    kind: str                      # count | rate | durations
    refs: list[Ref] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.refs)

    @property
    def on_time(self) -> int:
        return sum(r.outcome == ON_TIME for r in self.refs)

    @property
    def value(self) -> float | int | None:
        """A count; a rate between 0 and 1 (None when nothing fell due); a median in hours."""
        if self.kind == COUNT:
            return len(self.refs)
        if self.kind == RATE:
            return self.on_time / len(self.refs) if self.refs else None
        return self.median_hours

    @property
    def median_hours(self) -> float | None:
        return nearest_rank([r.hours for r in self.refs if r.hours is not None], 0.5)

    @property
    def p90_hours(self) -> float | None:
        return nearest_rank([r.hours for r in self.refs if r.hours is not None], 0.9)

    @property
    def median_working_days(self) -> int | None:
        return nearest_rank([r.working_days for r in self.refs if r.working_days is not None], 0.5)

    @property
    def p90_working_days(self) -> int | None:
        return nearest_rank([r.working_days for r in self.refs if r.working_days is not None], 0.9)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "count": self.count}
        if self.kind == RATE:
            out.update(on_time=self.on_time, late=sum(r.outcome == LATE for r in self.refs),
                       missed=sum(r.outcome == MISSED for r in self.refs),
                       rate=round(self.value, 4) if self.value is not None else None)
        elif self.kind == DURATIONS:
            out.update(median_hours=_round(self.median_hours), p90_hours=_round(self.p90_hours),
                       median_working_days=self.median_working_days, p90_working_days=self.p90_working_days)
        return out

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "key": self.key, "records": [r.to_json() for r in self.refs]}


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


@dataclass(frozen=True)
class Scope:
    """Which items count: agreements (None: all given), and optional product, site and category filters."""
    agreements: tuple[str, ...] | None = None
    products: frozenset[str] = frozenset()
    sites: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()

    def admits(self, agreement_id: str, product: str | None, site: str | None, category: str) -> bool:
        return ((self.agreements is None or agreement_id in self.agreements)
                and (not self.products or product in self.products)
                and (not self.sites or site in self.sites)
                and (not self.categories or category in self.categories))

    def to_json(self) -> dict[str, Any]:
        return {"agreements": list(self.agreements) if self.agreements is not None else None,
                "products": sorted(self.products), "sites": sorted(self.sites), "categories": sorted(self.categories)}


@dataclass
class QualityMetrics:
    period: Period
    as_at: datetime                # open and overdue items are counted as they stood then
    generated_at: datetime
    scope: Scope
    trend_unit: str
    buckets: list[Bucket]
    categories: list[str]          # the categories with anything to show, communication list first
    products: list[str]
    sites: list[str]
    figures: dict[str, Figure] = field(default_factory=dict)

    def figure(self, key: str) -> Figure:
        """The figure under `key`; an empty one when nothing was counted under it."""
        found = self.figures.get(key)
        if found is not None:
            return found
        kind = RATE if key.startswith(("on_time/", "trend/")) else DURATIONS if key.startswith("time_to/") else COUNT
        return Figure(key, kind)

    def value(self, key: str) -> float | int | None:
        return self.figure(key).value

    def articles(self) -> list[str]:
        """The articles with a breach, violation or warning in the period, in article order."""
        found = {key.split("/", 1)[1] for key in self.figures
                 if key.split("/", 1)[0] in ("breaches", "violations", "warnings") and not key.endswith("/all")}
        return sorted(found, key=lambda a: (int("".join(ch for ch in a if ch.isdigit()) or 0), a))

    def records(self) -> set[tuple[str, int]]:
        """Every (agreement, chain position) behind any figure."""
        return {(r.agreement_id, r.chain_seq) for f in self.figures.values() for r in f.refs}

    def to_json(self, with_records: bool = True) -> dict[str, Any]:
        figures = {k: (f.to_json() if with_records else {**f.summary(), "key": k}) for k, f in sorted(self.figures.items())}
        return {
            "period": {"label": self.period.label, "kind": self.period.kind, "first_day": self.period.first_day.isoformat(),
                       "last_day": self.period.last_day.isoformat(), "timezone": self.period.timezone,
                       "from": _iso(self.period.start), "to": _iso(self.period.end), "end": "exclusive"},
            "as_at": _iso(self.as_at), "generated_at": _iso(self.generated_at), "scope": self.scope.to_json(),
            "trend": {"unit": self.trend_unit, "buckets": [b.key for b in self.buckets]},
            "categories": self.categories, "products": self.products, "sites": self.sites,
            "figures": figures,
        }
