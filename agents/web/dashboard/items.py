"""The parts of the dashboard's read model: items of the communication list and their lifecycle.

An `Item` (one per ``item_ref``) gathers its `Entry`s (ledger records), `ObligationView`s and
`EscalationView`s; `BatchView` / `BatchReadiness` show a batch's release (Art. 12), `CategoryCount`
an overview tile. These answer questions about themselves (open? awaiting whom? how urgent at
``now``?); filling them from the ledger is `agents.web.dashboard.folding`'s job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from streams.canonical import parse_timestamp

ART7_CATEGORIES = ("deviation", "change", "oos_oot", "qualification_validation", "retention_stability",
                   "pharmacovigilance", "regulatory_inspection", "adverse_credit")
# The overview's tiles: the eight Art. 7 categories, then batch release (Art. 12), co-line (Art. 8)
# and holder audits (Art. 13).
OVERVIEW_CATEGORIES = ART7_CATEGORIES + ("batch_release", "coline_change", "holder_audit")
BUS_CATEGORIES = frozenset({"obligation", "escalation", "finding", "directive", "delivery"})
DUE_SOON = timedelta(hours=24)
# Records with nothing to follow up but the other party's acknowledgement: closed once acknowledged.
CLOSED_BY_ACKNOWLEDGEMENT = frozenset({"adverse_credit", "retention_stability"})
OPEN_OBLIGATION_STATES = frozenset({"OPEN", "BREACHED", "ESCALATED"})
OTHER_SIDE = {"HOLDER": "MANUFACTURER", "MANUFACTURER": "HOLDER"}


def _ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    try:
        return parse_timestamp(str(value))
    except ValueError:
        return None


def _side(role: Any) -> str | None:
    role = str(role or "").upper()
    return role if role in OTHER_SIDE else None


@dataclass
class Entry:
    """One ledger record as a line of an item's lifecycle."""
    seq: int
    chain_seq: int
    hash: str
    prev_hash: str
    recorded_at: datetime
    occurred_at: datetime | None
    event_id: str
    event_type: str
    category: str
    action: str
    party_id: str | None
    party_role: str | None
    user: str | None
    system: str | None
    instance: str | None
    signed_by: str | None
    summary: str
    event: dict
    changed: frozenset[str] = frozenset()   # payload fields this event set or changed (all, for the first)

    @property
    def is_bus(self) -> bool:
        return self.category in BUS_CATEGORIES

    @property
    def esignature(self) -> dict | None:
        """The person's electronic signature of this decision, if it carries one."""
        block = self.event.get("esignature")
        return block if isinstance(block, dict) and block else None


@dataclass
class ObligationView:
    obligation_id: str
    kind: str
    responsible_role: str | None
    responsible_party_id: str | None
    description: str
    due_at: datetime | None
    state: str = "OPEN"
    ladder_step: int = 0
    late: bool = False
    satisfied_by_event_id: str | None = None
    rule: str | None = None
    calendar_note: str | None = None
    updated_seq: int = 0

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_OBLIGATION_STATES

    def urgency(self, now: datetime, due_soon: timedelta = DUE_SOON) -> str:
        """'overdue', 'due_soon', 'ok' while open; 'done' or 'cancelled' after."""
        if not self.is_open:
            return "cancelled" if self.state == "CANCELLED" else "done"
        if self.state in ("BREACHED", "ESCALATED") or (self.due_at is not None and self.due_at <= now):
            return "overdue"
        if self.due_at is not None and self.due_at - now <= due_soon:
            return "due_soon"
        return "ok"


@dataclass
class EscalationView:
    seq: int
    obligation_id: str | None
    step: int
    role: str | None
    channel: str | None
    page: bool
    reason: str
    recipients: list[str]
    at: datetime


@dataclass
class Item:
    """One item of the communication list (a deviation, a change, a batch, ...) and its lifecycle."""
    agreement_id: str
    item_ref: str
    category: str | None = None
    classification: str | None = None
    title: str = ""
    product_code: str | None = None
    generic_name: str | None = None
    batch_no: str | None = None
    batches: set[str] = field(default_factory=set)
    line_id: str | None = None
    site_id: str | None = None
    significant_risk: bool = False
    opened_by: str | None = None             # side that opened it: HOLDER / MANUFACTURER
    opened_at: datetime | None = None
    opening_event: dict | None = None
    latest_event: dict | None = None         # latest quality (non-bus) event: the base of a response
    last_event_type: str | None = None
    last_at: datetime | None = None
    terminal: bool = False
    entries: list[Entry] = field(default_factory=list)
    obligations: dict[str, ObligationView] = field(default_factory=dict)
    escalations: list[EscalationView] = field(default_factory=list)
    acknowledged_by: dict[str, Entry] = field(default_factory=dict)   # side -> last acknowledging entry
    decision: Entry | None = None                                     # change.approved / change.rejected
    feedback: Entry | None = None                                     # coline_change.feedback_given
    capa_proposal: Entry | None = None                                # the latest deviation.capa_proposed
    capa_decision: Entry | None = None                                # deviation.capa_approved of that proposal
    event_ids: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str, str]:
        return (self.agreement_id, self.item_ref)

    def open_obligations(self) -> list[ObligationView]:
        return sorted((o for o in self.obligations.values() if o.is_open),
                      key=lambda o: (o.due_at or datetime.max.replace(tzinfo=UTC), o.obligation_id))

    @property
    def is_open(self) -> bool:
        if any(o.is_open for o in self.obligations.values()):
            return True
        if self.terminal:
            return False
        if self.category in CLOSED_BY_ACKNOWLEDGEMENT and self.opened_by and OTHER_SIDE[self.opened_by] in self.acknowledged_by:
            return False
        return self.category in OVERVIEW_CATEGORIES or self.category in ("technical_transfer_issue", "production")

    def urgency(self, now: datetime, due_soon: timedelta = DUE_SOON) -> str:
        """The most urgent of its open obligations: 'overdue', 'due_soon', 'ok'; 'closed' when closed."""
        if not self.is_open:
            return "closed"
        levels = {o.urgency(now, due_soon) for o in self.obligations.values() if o.is_open}
        for level in ("overdue", "due_soon"):
            if level in levels:
                return level
        return "ok"

    def next_due(self) -> ObligationView | None:
        opened = self.open_obligations()
        return opened[0] if opened else None

    def plain_acknowledgements(self) -> list[tuple[str, Entry]]:
        """(side, entry) of acknowledgements that were not also the decision or the feedback."""
        answers = {id(self.decision), id(self.feedback)}
        return [(side, entry) for side, entry in self.acknowledged_by.items() if id(entry) not in answers]

    def awaiting_acknowledgement(self, side: str) -> bool:
        """Does `side` still have to confirm receipt of this item?"""
        if not self.is_open:
            return False
        if side in self.acknowledged_by:
            return False
        tracked = [o for o in self.obligations.values() if o.kind == "ACKNOWLEDGE"]
        if tracked:
            return any(o.is_open and o.responsible_role == side for o in tracked)
        # No obligation recorded (yet): anything the other side opened waits for our acknowledgement,
        # except changes (the holder answers those by approving or rejecting) and co-line notices
        # (answered by feedback).
        return (self.opened_by == OTHER_SIDE.get(side) and self.category not in ("change", "coline_change")
                and self.opening_event is not None)

    def awaiting_decision(self) -> bool:
        """A change the manufacturer proposed that the holder has neither approved nor rejected (Art. 9)."""
        return (self.category == "change" and self.opened_by == "MANUFACTURER" and self.decision is None
                and not self.terminal)

    def awaiting_capa_approval(self) -> bool:
        """A CAPA the manufacturer proposed for a deviation that the holder has not approved yet (Art. 5)."""
        return (self.category == "deviation" and self.capa_proposal is not None and self.capa_decision is None
                and not self.terminal)

    def awaiting_feedback(self) -> bool:
        """A co-line notice the holder has not answered yet (Art. 8)."""
        return (self.category == "coline_change" and self.opened_by == "MANUFACTURER" and self.feedback is None
                and not self.terminal)


@dataclass
class BatchView:
    agreement_id: str
    batch_no: str
    product_code: str | None = None
    generic_name: str | None = None
    item_ref: str | None = None            # the batch_release item, when there is one
    decision: str | None = None
    qp_name: str | None = None
    qp_signed_at: datetime | None = None
    batch_record_ref: str | None = None
    test_record_ref: str | None = None
    deviation_record_ref: str | None = None
    market_released_at: datetime | None = None
    market_released_by: str | None = None
    last_seq: int = 0


@dataclass
class BatchReadiness:
    batch: BatchView
    status: str                       # market_released / ready / blocked / awaiting_qp / not_released
    open_issues: list[Item]
    missing_records: list[str]


@dataclass
class CategoryCount:
    category: str
    open: int = 0
    due_soon: int = 0
    overdue: int = 0

    @property
    def level(self) -> str:
        if self.overdue:
            return "overdue"
        if self.due_soon:
            return "due_soon"
        return "ok" if self.open else "none"


@dataclass
class DeadLetterNote:
    event_id: str
    reason_code: str
    reason: str
    recorded_at: datetime
