"""The facts the compliance rules remember between events. Pure and in memory.

Nothing here is authoritative: the ledger of accepted events is. After a restart the state is
rebuilt from a checkpoint and the accepted events since (or all of them), through
:func:`agents.core.rules.evaluate`, discarding the outcomes; :attr:`RuleState.seen` (the most recent
event ids) makes a redelivery a no-op. Duplicates at large are the core stage's, against the ledger.
Facts are slotted dataclasses: a large CDMO keeps hundreds of thousands of them.

Keys are always by agreement (Art. 10): an item is ``(agreement_id, item_ref)``, a batch
``(agreement_id, batch_no)``, a product ``(agreement_id, product_code)``; lines are physical and
shared by holders, so a line is ``(site_id, line_id)``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime

CLASSIFICATION_RANK = {None: 0, "UNKNOWN": 0, "MINOR": 1, "MAJOR": 2, "CRITICAL": 3}


def higher(a: str | None, b: str | None) -> str | None:
    """The higher of two classifications (None and UNKNOWN rank lowest)."""
    a = a if a != "UNKNOWN" else None
    b = b if b != "UNKNOWN" else None
    return a if CLASSIFICATION_RANK[a] >= CLASSIFICATION_RANK[b] else b


def at_least_major(classification: str | None) -> bool:
    return CLASSIFICATION_RANK.get(classification, 0) >= CLASSIFICATION_RANK["MAJOR"]


@dataclass(slots=True)
class ChangeFacts:
    """One change (Art. 9): both parties' classifications, the holder's decision, implementation."""

    agreement_id: str
    item_ref: str
    product_codes: set[str] = field(default_factory=set)
    manufacturer_classification: str | None = None
    holder_classification: str | None = None
    regulatory_category: str | None = None
    approved_by_event_id: str | None = None
    approved_at: datetime | None = None
    rejected_by_event_id: str | None = None
    implemented_at: datetime | None = None
    implemented_by_event_id: str | None = None
    first_batch_no: str | None = None
    disagreement_recorded: tuple[str | None, str | None] | None = None
    major_window_opened: bool = False

    @property
    def effective_classification(self) -> str | None:
        # Art. 9: where the parties disagree, the change is managed at the higher risk level.
        return higher(self.manufacturer_classification, self.holder_classification)

    @property
    def approved(self) -> bool:
        return self.approved_by_event_id is not None and self.rejected_by_event_id is None


@dataclass(slots=True)
class ItemFacts:
    """A deviation or OOS/OOT item and the batches it concerns (Arts. 11, 12)."""

    agreement_id: str
    item_ref: str
    category: str
    batches: set[str] = field(default_factory=set)
    open: bool = True
    classification: str | None = None


@dataclass(slots=True)
class BatchFacts:
    """A batch at release (Art. 12) and the retention triggers already opened for it (Art. 11)."""

    agreement_id: str
    batch_no: str
    product_code: str | None = None
    factory_released_by_event_id: str | None = None
    qp_signed: bool = False
    records: dict[str, str | None] = field(default_factory=dict)
    retention_triggers: set[str] = field(default_factory=set)


@dataclass(slots=True)
class LineFacts:
    """A physical production line (Arts. 17, 18): when it last produced, GMP inspections passed."""

    site_id: str
    line_id: str
    last_production_at: datetime | None = None
    gmp_passed: list[tuple[datetime, str]] = field(default_factory=list)

    def gmp_passed_since(self, since: datetime | None) -> list[tuple[datetime, str]]:
        return [p for p in self.gmp_passed if since is None or p[0] > since]


@dataclass(slots=True)
class ChangeWindow:
    """Art. 11: an approved and implemented major change; its first three batches get retention
    samples and ongoing stability."""

    agreement_id: str
    product_code: str
    change_item_ref: str
    opened_at: datetime
    batches: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return len(self.batches) >= 3


@dataclass(slots=True)
class Suspension:
    """An active suspend-production directive (Art. 5, or Art. 18 for an idle line)."""

    directive_id: str
    agreement_id: str
    site_id: str
    line_id: str | None
    product_code: str | None
    article: str
    reason: str
    triggered_by_event_id: str
    trigger_item_refs: set[str] = field(default_factory=set)
    context: dict = field(default_factory=dict)   # envelope fields of the directive (its item)

    def covers(self, agreement_id: str, site_id: str, line_id: str | None, product_code: str | None) -> bool:
        if self.agreement_id != agreement_id or self.site_id != site_id:
            return False
        if self.line_id is not None and line_id is not None and self.line_id != line_id:
            return False
        if self.product_code is not None and product_code is not None and self.product_code != product_code:
            return False
        return True


@dataclass(slots=True)
class EvaluationFacts:
    """Art. 3: the latest evaluation of the holder and the product an event recorded for an agreement."""

    ref: str
    satisfactory: bool
    completed_on: date
    covers: tuple[str, ...]
    event_id: str


@dataclass(slots=True)
class RectificationFacts:
    """Art. 13: a finding being rectified, remembered for a new round after the holder rejects."""

    category: str
    severity: str | None
    stated_due: date | None


class RecentIds:
    """The most recent ``capacity`` event ids, for a no-op redelivery; memory stays bounded."""

    __slots__ = ("capacity", "_ids", "_order")

    def __init__(self, capacity: int = 100_000):
        self.capacity = capacity
        self._ids: set[str] = set()
        self._order: deque[str] = deque()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        if event_id in self._ids:
            return
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())

    def __len__(self) -> int:
        return len(self._ids)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecentIds):
            return self._ids == other._ids
        return isinstance(other, (set, frozenset)) and self._ids == other

    def __getstate__(self):
        return (self.capacity, list(self._order))

    def __setstate__(self, state) -> None:
        self.capacity, order = state
        self._order = deque(order)
        self._ids = set(order)


@dataclass(slots=True)
class RuleState:
    """Every fact the rules keep. Compare two states with ``==`` (e.g. after a replay)."""

    seen: RecentIds = field(default_factory=RecentIds)
    changes: dict[tuple[str, str], ChangeFacts] = field(default_factory=dict)
    items: dict[tuple[str, str], ItemFacts] = field(default_factory=dict)
    batches: dict[tuple[str, str], BatchFacts] = field(default_factory=dict)
    lines: dict[tuple[str, str], LineFacts] = field(default_factory=dict)
    windows: dict[tuple[str, str], list[ChangeWindow]] = field(default_factory=dict)
    suspensions: dict[str, Suspension] = field(default_factory=dict)
    risk_items: set[tuple[str, str]] = field(default_factory=set)   # items that raised a significant risk
    periods_opened: set[tuple[str, str, str, str]] = field(default_factory=set)
    sterile_experience: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    evaluations: dict[str, EvaluationFacts] = field(default_factory=dict)          # by agreement
    evaluation_checked: set[str] = field(default_factory=set)                      # agreements checked (Art. 3)
    comparative_analyses: set[tuple[str, str]] = field(default_factory=set)        # (agreement, product) on record
    comparison_flagged: set[tuple[str, str]] = field(default_factory=set)          # (agreement, product) flagged
    rectifications: dict[tuple[str, str], RectificationFacts] = field(default_factory=dict)  # (agreement, RECT- ref)

    # -- accessors that create on first use --
    def change(self, agreement_id: str, item_ref: str) -> ChangeFacts:
        key = (agreement_id, item_ref)
        if key not in self.changes:
            self.changes[key] = ChangeFacts(agreement_id, item_ref)
        return self.changes[key]

    def item(self, agreement_id: str, item_ref: str, category: str) -> ItemFacts:
        key = (agreement_id, item_ref)
        if key not in self.items:
            self.items[key] = ItemFacts(agreement_id, item_ref, category)
        return self.items[key]

    def batch(self, agreement_id: str, batch_no: str) -> BatchFacts:
        key = (agreement_id, batch_no)
        if key not in self.batches:
            self.batches[key] = BatchFacts(agreement_id, batch_no)
        return self.batches[key]

    def line(self, site_id: str, line_id: str) -> LineFacts:
        key = (site_id, line_id)
        if key not in self.lines:
            self.lines[key] = LineFacts(site_id, line_id)
        return self.lines[key]

    # -- queries --
    def open_items_on_batch(self, agreement_id: str, batch_no: str) -> list[ItemFacts]:
        """Deviations and OOS/OOT results still open on a batch, by item_ref."""
        return sorted((i for i in self.items.values()
                       if i.agreement_id == agreement_id and i.open and batch_no in i.batches),
                      key=lambda i: i.item_ref)

    def active_suspensions(self, agreement_id: str, site_id: str, line_id: str | None,
                           product_code: str | None) -> list[Suspension]:
        return sorted((s for s in self.suspensions.values()
                       if s.covers(agreement_id, site_id, line_id, product_code)),
                      key=lambda s: s.directive_id)
