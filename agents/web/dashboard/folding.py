"""Folding ledger records into the read model's state: agreements, items, obligations, batches,
directives and the activity feed.

`LedgerFold.apply(record)` takes `agents.record.ledger.LedgerRecord`s in ledger order (seq). Obligation
records may come in either of two shapes: the schema's (schemas/bus/obligation.avsc:
``responsible_role``) or the obligation engine's own payload (``responsible_party_role``,
``state``, ``category``); both are read. The questions asked of the folded state are
`agents.web.dashboard.readmodel.ReadModel`'s.
"""
from __future__ import annotations

import json
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any

from agents.web.dashboard.agreementinfo import DEFAULT_TIMEZONE, AgreementInfo
from agents.web.dashboard.items import (
    BUS_CATEGORIES,
    DUE_SOON,
    OPEN_OBLIGATION_STATES,
    BatchView,
    DeadLetterNote,
    Entry,
    EscalationView,
    Item,
    ObligationView,
    _side,
    _ts,
)

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
OBLIGATION_STATE_OF_ACTION = {"opened": "OPEN", "satisfied": "SATISFIED", "breached": "BREACHED",
                              "escalated": "ESCALATED", "cancelled": "CANCELLED"}
# Payload fields worth a line in the timeline, first present wins.
SUMMARY_FIELDS = ("decision_reason", "feedback", "finding_text", "message", "reason", "description", "conclusion",
                  "findings", "request_text", "closure_summary", "root_cause", "risk_assessment_conclusion",
                  "capa_summary", "result", "note")


class RecentIds:
    """The last `size` ids seen, to drop a record delivered twice (a bounded window: memory stays flat)."""

    def __init__(self, size: int = 100_000):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str) -> bool:
        """True if `key` was seen within the window; otherwise remember it and say False."""
        if key in self._ids:
            return True
        self._ids[key] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return False


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


class LedgerFold:
    """The state of a `ReadModel` and how ledger records change it."""

    def __init__(self, agreements: Iterable[AgreementInfo] = (), due_soon: timedelta = DUE_SOON,
                 default_timezone: str = DEFAULT_TIMEZONE,
                 holder_view: Callable[[dict, AgreementInfo], dict] | None = None):
        self.due_soon = due_soon
        self.default_timezone = default_timezone
        # What an item's title is taken from: the event as the agreement's holder may see it
        # (titles show in lists to both parties; see agents.web.dashboard.actions.redact_for_viewer).
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
        # Per agreement chain, the ledger seq of each chain position (index chain_seq - 1): where to start
        # reading the ledger for a subscriber's per-agreement cursor (agents.web.dashboard.cursor).
        self.chain_seqs: dict[str, array] = {}
        self.seen_events = RecentIds()

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
        self._index_chain(record)
        body = json.loads(record.body) if isinstance(record.body, str) else dict(record.body)
        if record.kind == "event" and self.seen_events.seen(str(body.get("event_id") or record.record_key)):
            return None  # the same event delivered twice is shown once
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
        info.last_chain_seq = max(info.last_chain_seq, record.chain_seq)
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

    def _index_chain(self, record: Any) -> None:
        positions = self.chain_seqs.setdefault(record.chain, array("q"))
        if record.chain_seq == len(positions) + 1:
            positions.append(record.seq)
        else:
            del positions[:]  # a gap (a fold that began mid-ledger): no shortcut, read the chain from its start
        info = self.agreements.get(record.chain)
        if info is not None:  # dead letters count too: they are in the agreement's chain
            info.last_chain_seq = max(info.last_chain_seq, record.chain_seq)

    def seq_at(self, chain: str, chain_seq: int) -> int:
        """A ledger seq at or before the record at `chain_seq` of `chain` (0 when unknown): reading the
        ledger after it and keeping chain_seq > `chain_seq` yields exactly that chain's later records."""
        positions = self.chain_seqs.get(chain)
        if not positions or chain_seq <= 0:
            return 0
        return positions[min(chain_seq, len(positions)) - 1]

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
        if event_type == "deviation.capa_proposed":
            item.capa_proposal, item.capa_decision = entry, None   # a new proposal asks for a new approval
        if event_type == "deviation.capa_approved":
            item.capa_decision = entry
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
