"""The dashboard's read model: ledger records folded into what a QA lead looks at.

Pure Python, no I/O: `ReadModel.apply(record)` takes `streams.ledger.LedgerRecord`s in ledger order
(seq) and keeps, per quality agreement, its items (one per ``item_ref``: every event, obligation,
escalation, finding and directive about it, in order), the obligations' current state, batches and
what each party still has to do. Everything that depends on the time (due soon, overdue,
countdowns) is computed when asked, with ``now`` passed in, so the same model answers for any
moment and tests need no clock.

Who may see what (Art. 10) is decided here too (`visible_agreements`): a holder's users see the
agreements whose holder is their party, a manufacturer's users those of their manufacturer, and
nothing else. The web layer asks this for every page, live update, export and API call.

Obligation records may come in either of two shapes: the schema's (schemas/bus/obligation.avsc:
``responsible_role``) or the obligation engine's own payload (``responsible_party_role``,
``state``, ``category``); both are read.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from streams.canonical import parse_timestamp

ART7_CATEGORIES = ("deviation", "change", "oos_oot", "qualification_validation", "retention_stability",
                   "pharmacovigilance", "regulatory_inspection", "adverse_credit")
# The overview's tiles: the eight Art. 7 categories, then batch release (Art. 12), co-line (Art. 8)
# and holder audits (Art. 13).
OVERVIEW_CATEGORIES = ART7_CATEGORIES + ("batch_release", "coline_change", "holder_audit")
BUS_CATEGORIES = frozenset({"obligation", "escalation", "finding", "directive", "delivery"})
DEFAULT_TIMEZONE = "Asia/Shanghai"
DUE_SOON = timedelta(hours=24)

# Events after which an item has nothing left in its lifecycle.
TERMINAL_EVENTS = frozenset({
    "deviation.closed", "change.rejected", "change.implemented", "change.withdrawn", "oos_oot.closed",
    "oos_oot.invalidated", "qualification_validation.report_approved", "retention_stability.study_completed",
    "pharmacovigilance.closed", "regulatory_inspection.capa_submitted", "batch_release.market_released",
    "coline_change.agreed", "holder_audit.report_issued", "technical_transfer_issue.resolved",
    "production.resumed", "production.started", "agreement.signed", "agreement.revised", "agreement.terminated",
    "periodic_review.risk_assessment_completed", "periodic_review.product_quality_review_completed",
    "periodic_review.onsite_inspection_completed", "licence.rectification_completed",
    "licence.category_b_granted", "licence.change_recorded", "licence.opinion_letter_issued",
    "licence.category_b_applied", "licence.cancellation_applied",
})
# Records with nothing to follow up but the other party's acknowledgement: closed once acknowledged.
CLOSED_BY_ACKNOWLEDGEMENT = frozenset({"adverse_credit", "retention_stability"})
# Events (besides "<category>.acknowledged") by which a party shows it has taken an item in.
ACKNOWLEDGING = {
    "change": ("change.approved", "change.rejected", "change.classified"),
    "pharmacovigilance": ("pharmacovigilance.investigation_reported",),
    "coline_change": ("coline_change.feedback_given",),
}
# Events that open an item and ask the other party to take note.
OPENING_EVENTS = frozenset({
    "deviation.reported", "change.proposed", "oos_oot.reported", "qualification_validation.planned",
    "retention_stability.sample_retained", "retention_stability.study_started", "pharmacovigilance.request_sent",
    "regulatory_inspection.started", "regulatory_inspection.finding_reported", "adverse_credit.recorded",
    "batch_release.factory_released", "coline_change.notified", "holder_audit.report_issued",
    "technical_transfer_issue.raised", "production.suspended",
})
# Payload fields that name what an item is about, first present wins.
TITLE_FIELDS = ("description", "test_name", "finding_text", "request_text", "scope", "subject", "reason",
                "study_condition", "conclusion")
# Bookkeeping records the activity feed leaves out (they show on the item's own lifecycle).
QUIET_IN_ACTIVITY = frozenset({"obligation.opened", "obligation.satisfied", "delivery.attempted", "delivery.delivered"})
OPEN_OBLIGATION_STATES = frozenset({"OPEN", "BREACHED", "ESCALATED"})
OBLIGATION_STATE_OF_ACTION = {"opened": "OPEN", "satisfied": "SATISFIED", "breached": "BREACHED",
                              "escalated": "ESCALATED", "cancelled": "CANCELLED"}
OTHER_SIDE = {"HOLDER": "MANUFACTURER", "MANUFACTURER": "HOLDER"}
# Payload fields worth a line in the timeline, first present wins.
SUMMARY_FIELDS = ("decision_reason", "feedback", "finding_text", "message", "reason", "description", "conclusion",
                  "findings", "request_text", "closure_summary", "root_cause", "risk_assessment_conclusion",
                  "capa_summary", "result", "note")


def _ts(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    try:
        return parse_timestamp(str(value))
    except ValueError:
        return None


def _side(role: Any) -> str | None:
    role = str(role or "").upper()
    return role if role in OTHER_SIDE else None


# --- the parts --------------------------------------------------------------------------------------
@dataclass
class AgreementInfo:
    """What the dashboard knows of an agreement: from its file when loaded, else from its events."""
    agreement_id: str
    holder_id: str | None = None
    manufacturer_id: str | None = None
    title: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    holder_name: str | None = None
    manufacturer_name: str | None = None
    products: dict[str, str] = field(default_factory=dict)   # code -> generic name
    from_file: bool = False
    first_recorded_at: datetime | None = None
    last_seq: int = 0
    holder_name_local: str | None = None
    manufacturer_name_local: str | None = None

    def holder_label(self, lang: str) -> str:
        return (self.holder_name_local if lang == "zh" else None) or self.holder_name or self.holder_id or "—"

    def manufacturer_label(self, lang: str) -> str:
        return ((self.manufacturer_name_local if lang == "zh" else None) or self.manufacturer_name
                or self.manufacturer_id or "—")


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
    event_ids: set[str] = field(default_factory=set)

    @property
    def key(self) -> tuple[str, str]:
        return (self.agreement_id, self.item_ref)

    def open_obligations(self) -> list[ObligationView]:
        return sorted((o for o in self.obligations.values() if o.is_open),
                      key=lambda o: (o.due_at or datetime.max.replace(tzinfo=timezone.utc), o.obligation_id))

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


# --- the model --------------------------------------------------------------------------------------
class ReadModel:
    def __init__(self, agreements: Iterable[AgreementInfo] = (), due_soon: timedelta = DUE_SOON,
                 default_timezone: str = DEFAULT_TIMEZONE,
                 holder_view: Callable[[dict, AgreementInfo], dict] | None = None):
        self.due_soon = due_soon
        self.default_timezone = default_timezone
        # What an item's title is taken from: the event as the agreement's holder may see it
        # (titles show in lists to both parties; see agents.dashboard.actions.redact_for_viewer).
        self.holder_view = holder_view or (lambda body, info: body)
        self.agreements: dict[str, AgreementInfo] = {a.agreement_id: a for a in agreements}
        self.items: dict[tuple[str, str], Item] = {}
        self.items_by_agreement: dict[str, list[Item]] = {}
        self.batches: dict[tuple[str, str], BatchView] = {}
        self.directives: dict[str, dict[str, Entry]] = {}       # agreement -> directive_id -> issuing entry
        self.recent: dict[str, list[Entry]] = {}                 # agreement -> last entries, newest last
        self.event_ids: dict[str, tuple[str, str]] = {}         # event_id -> item key
        self.dead_letters: dict[str, DeadLetterNote] = {}        # by the refused event's id
        self.last_seq = 0
        self.recent_limit = 50

    # -- folding -----------------------------------------------------------------------------------
    def apply_all(self, records: Iterable[Any]) -> set[str]:
        changed: set[str] = set()
        for record in records:
            agreement = self.apply(record)
            if agreement:
                changed.add(agreement)
        return changed

    def apply(self, record: Any) -> str | None:
        """Fold one ledger record; returns the agreement it changed (None for records of none)."""
        if record.seq <= self.last_seq:
            return None  # already folded
        self.last_seq = record.seq
        body = json.loads(record.body) if isinstance(record.body, str) else dict(record.body)
        if record.kind == "dead_letter":
            event_id = body.get("event_id")
            if event_id:
                self.dead_letters[event_id] = DeadLetterNote(event_id, str(body.get("reason_code") or ""),
                                                             str(body.get("reason") or ""), record.recorded_at)
            return record.agreement_id
        agreement_id = record.agreement_id or body.get("agreement_id")
        if not agreement_id:
            return None
        info = self._agreement(agreement_id, body, record)
        info.last_seq = record.seq
        event_type = record.event_type or body.get("event_type") or ""
        category, _, action = event_type.partition(".")
        item_ref = record.item_ref or body.get("item_ref")
        entry = self._entry(record, body, category, action)
        if item_ref:
            item = self._item(agreement_id, item_ref)
            item.entries.append(entry)
            if entry.event_id:
                item.event_ids.add(entry.event_id)
                self.event_ids[entry.event_id] = item.key
            if category in BUS_CATEGORIES:
                self._apply_bus(item, entry, body, category, action)
            else:
                self._apply_quality(item, entry, body, category, action, event_type)
        if category == "directive":
            self._apply_directive(agreement_id, entry, body, action)
        recent = self.recent.setdefault(agreement_id, [])
        if event_type not in QUIET_IN_ACTIVITY:
            recent.append(entry)
        if len(recent) > self.recent_limit:
            del recent[: len(recent) - self.recent_limit]
        return agreement_id

    def _agreement(self, agreement_id: str, body: dict, record: Any) -> AgreementInfo:
        info = self.agreements.get(agreement_id)
        if info is None:
            info = self.agreements[agreement_id] = AgreementInfo(agreement_id, timezone=self.default_timezone)
        if info.first_recorded_at is None:
            info.first_recorded_at = record.recorded_at
        if not info.from_file:
            # Ownership is learnt from the first quality event that names it and never changed by a
            # later one (intake already refuses events whose parties do not match the agreement).
            if info.holder_id is None and body.get("holder_id"):
                info.holder_id = body["holder_id"]
            if info.manufacturer_id is None and body.get("manufacturer_id"):
                info.manufacturer_id = body["manufacturer_id"]
        product = body.get("product") or {}
        if isinstance(product, Mapping) and product.get("code") and not info.from_file:
            info.products.setdefault(product["code"], str(product.get("generic_name") or ""))
        return info

    def _item(self, agreement_id: str, item_ref: str) -> Item:
        key = (agreement_id, item_ref)
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = Item(agreement_id, item_ref)
            self.items_by_agreement.setdefault(agreement_id, []).append(item)
        return item

    @staticmethod
    def _entry(record: Any, body: dict, category: str, action: str) -> Entry:
        source = body.get("source") or {}
        payload = body.get("payload") or {}
        summary = summarize(payload)
        signature = body.get("signature") or {}
        return Entry(
            seq=record.seq, chain_seq=record.chain_seq, hash=record.hash, prev_hash=record.prev_hash,
            recorded_at=record.recorded_at, occurred_at=record.occurred_at or _ts(body.get("occurred_at")),
            event_id=str(body.get("event_id") or record.record_key), event_type=record.event_type or "",
            category=category, action=action, party_id=source.get("party_id"),
            party_role=str(source.get("party_role") or "").upper() or None, user=source.get("user"),
            system=source.get("system"), instance=source.get("instance"),
            signed_by=signature.get("key_id") if isinstance(signature, Mapping) else None,
            summary=summary, event=body)

    def _apply_quality(self, item: Item, entry: Entry, body: dict, category: str, action: str,
                       event_type: str) -> None:
        side = _side(entry.party_role)
        payload = body.get("payload") if isinstance(body.get("payload"), Mapping) else {}
        # Follow-up events restate the whole record; what a reader wants is what this one changed.
        before = (item.latest_event or {}).get("payload") if item.latest_event else None
        if isinstance(before, Mapping) and (item.latest_event or {}).get("event_type", "").partition(".")[0] == category:
            entry.changed = frozenset(k for k, v in payload.items() if v != before.get(k) and k != "responds_to_event_id")
        else:
            entry.changed = frozenset(payload)
        entry.summary = summarize(payload, entry.changed)
        if item.category is None or item.category in BUS_CATEGORIES:
            item.category = category
        if item.opening_event is None and category == item.category:
            item.opening_event = body
            item.opened_by = side
            item.opened_at = entry.occurred_at or entry.recorded_at
        elif event_type in OPENING_EVENTS and item.opened_by is None:
            item.opened_by = side
        if body.get("classification") not in (None, "", "UNKNOWN"):
            item.classification = body["classification"]
        item.significant_risk = item.significant_risk or bool(body.get("significant_risk"))
        product = body.get("product") or {}
        if isinstance(product, Mapping):
            item.product_code = product.get("code") or item.product_code
            item.generic_name = product.get("generic_name") or item.generic_name
        item.batch_no = body.get("batch_no") or item.batch_no
        item.line_id = body.get("line_id") or item.line_id
        item.site_id = body.get("site_id") or item.site_id
        if item.batch_no:
            item.batches.add(item.batch_no)
        for batch in payload.get("affected_batches") or []:
            item.batches.add(str(batch))
        for batch in payload.get("batches_concerned") or []:
            item.batches.add(str(batch))
        visible = self.holder_view(body, self.agreements[item.agreement_id]).get("payload") or {}
        title = next((str(visible[k]) for k in TITLE_FIELDS if isinstance(visible.get(k), str) and visible[k]), "")
        if category == "batch_release" and visible.get("quantity"):
            title = f"{visible.get('decision') or ''} · {visible['quantity']}".strip(" ·")
        if title and (not item.title or event_type in OPENING_EVENTS):
            item.title = title
        item.latest_event = body
        item.last_event_type = event_type
        item.last_at = entry.occurred_at or entry.recorded_at
        if event_type in TERMINAL_EVENTS:
            item.terminal = True
        if side and (action == "acknowledged" or event_type in ACKNOWLEDGING.get(category, ())):
            item.acknowledged_by[side] = entry
        if event_type in ("change.approved", "change.rejected"):
            item.decision = entry
        if event_type == "coline_change.feedback_given":
            item.feedback = entry
        if category == "batch_release" or (item.batch_no and category in ("deviation", "oos_oot")):
            self._apply_batch(item, entry, body, payload, action)

    def _apply_batch(self, item: Item, entry: Entry, body: dict, payload: Mapping, action: str) -> None:
        batch_no = body.get("batch_no")
        if not batch_no:
            return
        key = (item.agreement_id, batch_no)
        batch = self.batches.get(key)
        if batch is None:
            batch = self.batches[key] = BatchView(item.agreement_id, batch_no)
        batch.product_code = item.product_code or batch.product_code
        batch.generic_name = item.generic_name or batch.generic_name
        batch.last_seq = entry.seq
        if entry.category != "batch_release":
            return
        batch.item_ref = item.item_ref
        if action == "factory_released":
            qp = payload.get("qp") or {}
            batch.decision = payload.get("decision") or batch.decision
            batch.qp_name = qp.get("name") if isinstance(qp, Mapping) else None
            batch.qp_signed_at = _ts(qp.get("signed_at")) if isinstance(qp, Mapping) else None
            batch.batch_record_ref = payload.get("batch_record_ref") or batch.batch_record_ref
            batch.test_record_ref = payload.get("test_record_ref") or batch.test_record_ref
            batch.deviation_record_ref = payload.get("deviation_record_ref") or batch.deviation_record_ref
        elif action == "market_released":
            batch.market_released_at = entry.occurred_at or entry.recorded_at
            batch.market_released_by = payload.get("market_released_by") or entry.user

    def _apply_bus(self, item: Item, entry: Entry, body: dict, category: str, action: str) -> None:
        payload = body.get("payload") if isinstance(body.get("payload"), Mapping) else {}
        if item.category is None and payload.get("category"):
            item.category = str(payload["category"])
        if category == "obligation":
            oid = str(payload.get("obligation_id") or entry.event_id)
            ob = item.obligations.get(oid)
            if ob is None:
                ob = item.obligations[oid] = ObligationView(
                    obligation_id=oid, kind=str(payload.get("kind") or "UNKNOWN").upper(),
                    responsible_role=_side(payload.get("responsible_role") or payload.get("responsible_party_role")),
                    responsible_party_id=payload.get("responsible_party_id"),
                    description=str(payload.get("description") or ""), due_at=_ts(payload.get("due_at")))
            ob.due_at = _ts(payload.get("due_at")) or ob.due_at
            ob.description = str(payload.get("description") or ob.description)
            ob.rule = payload.get("rule") or ob.rule
            ob.calendar_note = payload.get("calendar_note") or ob.calendar_note
            ob.ladder_step = max(ob.ladder_step, int(payload.get("ladder_step") or 0))
            ob.late = ob.late or bool(payload.get("late"))
            ob.satisfied_by_event_id = payload.get("satisfied_by_event_id") or ob.satisfied_by_event_id
            state = OBLIGATION_STATE_OF_ACTION.get(action) or str(payload.get("state") or "").upper() or ob.state
            if ob.state in ("SATISFIED", "CANCELLED") and state in OPEN_OBLIGATION_STATES:
                pass  # a late duplicate never reopens a finished obligation
            elif ob.state == "ESCALATED" and state == "BREACHED":
                pass
            else:
                ob.state = state
            ob.updated_seq = entry.seq
        elif category == "escalation":
            oid = payload.get("obligation_id")
            recipients = payload.get("recipients") or ([payload["recipient"]] if payload.get("recipient") else [])
            names = [r.get("name") or r.get("email") or "?" if isinstance(r, Mapping) else str(r) for r in recipients]
            item.escalations.append(EscalationView(
                seq=entry.seq, obligation_id=oid, step=int(payload.get("step") or 0), role=payload.get("role"),
                channel=payload.get("channel"), page=bool(payload.get("page")), reason=str(payload.get("reason") or ""),
                recipients=names, at=entry.occurred_at or entry.recorded_at))
            ob = item.obligations.get(str(oid)) if oid else None
            if ob is not None and ob.is_open:
                ob.state = "ESCALATED"
                ob.ladder_step = max(ob.ladder_step, int(payload.get("step") or 0))
                ob.updated_seq = entry.seq

    def _apply_directive(self, agreement_id: str, entry: Entry, body: dict, action: str) -> None:
        payload = body.get("payload") if isinstance(body.get("payload"), Mapping) else {}
        directive_id = str(payload.get("directive_id") or entry.event_id)
        active = self.directives.setdefault(agreement_id, {})
        if action == "issued":
            active[directive_id] = entry
        elif action == "lifted":
            active.pop(directive_id, None)

    # -- tenancy (Art. 10) -------------------------------------------------------------------------
    def visible_agreements(self, party_id: str, side: str | None) -> list[str]:
        """Agreements a party may see: as holder (side HOLDER), manufacturer, or either (side None)."""
        out = []
        for info in self.agreements.values():
            if side in (None, "HOLDER") and info.holder_id == party_id:
                out.append(info.agreement_id)
            elif side in (None, "MANUFACTURER") and info.manufacturer_id == party_id:
                out.append(info.agreement_id)
        return sorted(out)

    def can_see(self, party_id: str, side: str | None, agreement_id: str) -> bool:
        info = self.agreements.get(agreement_id)
        if info is None:
            return False
        return ((side in (None, "HOLDER") and info.holder_id == party_id)
                or (side in (None, "MANUFACTURER") and info.manufacturer_id == party_id))

    def role_in(self, party_id: str, agreement_id: str) -> str | None:
        info = self.agreements.get(agreement_id)
        if info is None:
            return None
        if info.holder_id == party_id:
            return "HOLDER"
        if info.manufacturer_id == party_id:
            return "MANUFACTURER"
        return None

    # -- questions ---------------------------------------------------------------------------------
    def item(self, agreement_id: str, item_ref: str) -> Item | None:
        return self.items.get((agreement_id, item_ref))

    def item_of_event(self, event_id: str) -> Item | None:
        key = self.event_ids.get(event_id)
        return self.items.get(key) if key else None

    def has_event(self, event_id: str) -> bool:
        return event_id in self.event_ids

    def items_of(self, agreement_id: str, category: str | None = None, *, open_only: bool = False) -> list[Item]:
        items = [i for i in self.items_by_agreement.get(agreement_id, ())
                 if i.category and i.category not in BUS_CATEGORIES
                 and (category is None or i.category == category) and (not open_only or i.is_open)]
        return items

    def counts(self, agreement_id: str, now: datetime) -> list[CategoryCount]:
        """Open / due soon / overdue items per overview category (each item counted once, in its worst state)."""
        counts = {c: CategoryCount(c) for c in OVERVIEW_CATEGORIES}
        for item in self.items_by_agreement.get(agreement_id, ()):
            row = counts.get(item.category or "")
            if row is None or not item.is_open:
                continue
            row.open += 1
            level = item.urgency(now, self.due_soon)
            if level == "overdue":
                row.overdue += 1
            elif level == "due_soon":
                row.due_soon += 1
        return list(counts.values())

    def attention(self, agreement_id: str, now: datetime, limit: int = 20) -> list[Item]:
        """Open items that are overdue or due soon, most urgent first."""
        rows = [i for i in self.items_of(agreement_id, open_only=True)
                if i.urgency(now, self.due_soon) in ("overdue", "due_soon")]
        rows.sort(key=lambda i: (0 if i.urgency(now, self.due_soon) == "overdue" else 1, _due_key(i)))
        return rows[:limit]

    def sorted_items(self, agreement_id: str, now: datetime, category: str | None = None) -> list[Item]:
        """Open items first (most urgent first), then closed ones, newest first."""
        rank = {"overdue": 0, "due_soon": 1, "ok": 2, "closed": 3}
        items = self.items_of(agreement_id, category)
        return sorted(items, key=lambda i: (rank[i.urgency(now, self.due_soon)], _due_key(i),
                                            -(i.entries[-1].seq if i.entries else 0)))

    def approvals(self, agreement_ids: Iterable[str]) -> list[Item]:
        return sorted((i for a in agreement_ids for i in self.items_of(a) if i.awaiting_decision()), key=_due_key)

    def acknowledgements(self, agreement_ids: Iterable[str], side: str) -> list[Item]:
        """Items waiting for `side` to confirm receipt; changes and co-line notices waiting for the
        holder's decision or feedback are listed there instead (answering them acknowledges them)."""
        def waiting(item: Item) -> bool:
            if side == "HOLDER" and (item.awaiting_decision() or item.awaiting_feedback()):
                return False
            return item.awaiting_acknowledgement(side)
        return sorted((i for a in agreement_ids for i in self.items_of(a) if waiting(i)), key=_due_key)

    def coline_feedback(self, agreement_ids: Iterable[str]) -> list[Item]:
        return sorted((i for a in agreement_ids for i in self.items_of(a, "coline_change") if i.awaiting_feedback()),
                      key=_due_key)

    def batch_readiness(self, agreement_id: str) -> list[BatchReadiness]:
        """Art. 12: per batch, the QP's release, the records handed over and what is still open on it."""
        issues: dict[str, list[Item]] = {}
        for item in self.items_of(agreement_id, open_only=True):
            if item.category in ("deviation", "oos_oot"):
                for batch in item.batches:
                    issues.setdefault(batch, []).append(item)
        out = []
        for (agreement, batch_no), batch in self.batches.items():
            if agreement != agreement_id:
                continue
            open_issues = sorted(issues.get(batch_no, []), key=lambda i: i.item_ref)
            missing = []
            if batch.decision is not None:
                if not batch.batch_record_ref:
                    missing.append("batch_record")
                if not batch.test_record_ref:
                    missing.append("test_record")
                related = any(i.category == "deviation" and batch_no in i.batches
                              for i in self.items_of(agreement_id))
                if related and not batch.deviation_record_ref:
                    missing.append("deviation_record")
            if batch.market_released_at is not None:
                status = "market_released"
            elif batch.decision is None:
                status = "awaiting_qp"
            elif batch.decision != "RELEASED":
                status = "not_released"
            elif open_issues or missing:
                status = "blocked"
            else:
                status = "ready"
            out.append(BatchReadiness(batch, status, open_issues, missing))
        order = {"blocked": 0, "ready": 1, "awaiting_qp": 2, "not_released": 3, "market_released": 4}
        out.sort(key=lambda r: (order[r.status], -r.batch.last_seq))
        return out

    def active_directives(self, agreement_id: str) -> list[Entry]:
        return list(self.directives.get(agreement_id, {}).values())

    def recent_entries(self, agreement_id: str, limit: int = 8) -> list[Entry]:
        return list(reversed(self.recent.get(agreement_id, [])[-limit:]))

    def crossed(self, since: datetime, now: datetime) -> set[str]:
        """Agreements where an open obligation became due soon or overdue in (since, now]: the time
        alone changed what the overview shows, with no new record."""
        changed = set()
        for item in self.items.values():
            for ob in item.obligations.values():
                if not ob.is_open or ob.due_at is None:
                    continue
                if since < ob.due_at <= now or since < ob.due_at - self.due_soon <= now:
                    changed.add(item.agreement_id)
                    break
        return changed


def summarize(payload: Any, fields: Iterable[str] | None = None) -> str:
    """The line a timeline shows for an event: its decision, feedback, finding, description ...
    (among `fields`, when given: e.g. only what the event changed)."""
    if not isinstance(payload, Mapping):
        return ""
    allowed = None if fields is None else set(fields)
    for name in SUMMARY_FIELDS:
        if allowed is not None and name not in allowed:
            continue
        value = payload.get(name)
        if value not in (None, "", []):
            return "; ".join(map(str, value)) if isinstance(value, list) else str(value)
    return ""


def _due_key(item: Item) -> tuple:
    due = item.next_due()
    return (due.due_at if due and due.due_at else datetime.max.replace(tzinfo=timezone.utc), item.item_ref)


def infos_from_agreements(agreements: Any) -> list[AgreementInfo]:
    """AgreementInfo for the latest version of each agreement of an `agents.agreements.AgreementSet`."""
    out = []
    for agreement_id in agreements.ids():
        a = agreements.latest(agreement_id)
        out.append(AgreementInfo(
            agreement_id=a.agreement_id, holder_id=a.holder.id, manufacturer_id=a.manufacturer.id, title=a.title,
            timezone=a.timezone, holder_name=a.holder.name, manufacturer_name=a.manufacturer.name,
            holder_name_local=getattr(a.holder, "name_local", None),
            manufacturer_name_local=getattr(a.manufacturer, "name_local", None),
            products={p.code: p.generic_name for p in a.products}, from_file=True))
    return out
