"""Ledger records folded into the facts the quality figures are counted from. Pure: no I/O.

`MetricsFold.apply(record)` takes ledger records (anything shaped like
`agents.record.ledger.LedgerRecord`: ``kind``, ``event_type``, ``agreement_id``, ``item_ref``,
``chain_seq``, ``record_key``, ``hash``, ``body``) in ledger order and keeps, per item, only what
a figure needs: when the item opened and closed, each obligation's deadline and outcome, the
escalation steps and the compliance findings. Every fact keeps its `Mark` (chain position, record
key and hash), so a figure can always name the records behind it.

Times are the business times the records state (when a thing happened, when an obligation was
met or breached), never the moment the ledger stored them, so replaying the same records yields
the same facts.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.core.obligations.model import as_utc
from agents.core.obligations.openers import CLOSING_EVENTS

BUS_CATEGORIES = frozenset({"obligation", "escalation", "finding", "directive", "delivery"})
# Records that never change a figure; skipped before their body is parsed.
IGNORED_CATEGORIES = frozenset({"delivery", "directive"})


# Events that end a lifecycle without satisfying a CLOSE obligation: a change has no close timeline
# (implementing it ends it), a technical-transfer issue is resolved.
_ALSO_CLOSING = {"change": ("change.implemented",), "technical_transfer_issue": ("technical_transfer_issue.resolved",)}


def closing_events(category: str) -> frozenset[str]:
    """Events that end an item's lifecycle: what satisfies its CLOSE obligation (Art. 7), and the others above."""
    return frozenset((f"{category}.closed", *CLOSING_EVENTS.get(category, ()), *_ALSO_CLOSING.get(category, ())))


CLOSABLE_CATEGORIES = frozenset({"deviation", "change", "oos_oot", "qualification_validation", "retention_stability",
                                 "pharmacovigilance", "regulatory_inspection", "technical_transfer_issue"})


@dataclass(frozen=True, slots=True)
class Mark:
    """Where a fact was recorded: the business time it states and the record's place in its chain."""
    at: datetime | None
    chain_seq: int
    record_key: str
    record_hash: str
    detail: str = ""


@dataclass(slots=True)
class ObligationFacts:
    obligation_id: str
    kind: str
    category: str
    classification: str | None
    rule: str                      # the article that set the deadline, e.g. "Art. 7"
    deadline: str                  # as agreed, e.g. "2wd"
    due_at: datetime | None
    basis_at: datetime | None      # what the deadline counts from
    opened: Mark
    satisfied: Mark | None = None
    late: bool = False             # met, but after its deadline (the engine's own judgement)
    breached: Mark | None = None
    breach: str | None = None      # late_notification | overdue
    cancelled: Mark | None = None

    def owed_at(self, moment: datetime) -> bool:
        """Still owed at `moment`: opened by then, and neither met nor cancelled by then."""
        if self.opened.at is not None and self.opened.at > moment:
            return False
        return not any(m is not None and m.at is not None and m.at <= moment for m in (self.satisfied, self.cancelled))

    def overdue_at(self, moment: datetime) -> bool:
        return self.due_at is not None and self.due_at < moment and self.owed_at(moment)


@dataclass(frozen=True, slots=True)
class EscalationFact:
    obligation_id: str | None
    kind: str | None
    step: int
    of_steps: int
    page: bool
    mark: Mark


@dataclass(frozen=True, slots=True)
class FindingFact:
    action: str                    # violation_recorded | warning_raised | breach_recorded
    rule_id: str
    article: str
    severity: str
    mark: Mark


@dataclass(slots=True)
class ItemFacts:
    """One item of one agreement (an ``item_ref``) and what the figures need of it."""
    agreement_id: str
    item_ref: str
    category: str = ""
    classification: str | None = None
    product_code: str | None = None
    generic_name: str | None = None
    site_id: str | None = None
    opened: Mark | None = None     # its first quality event (None: the bus's own item, e.g. a periodic review)
    closed: Mark | None = None     # the event that ended its lifecycle
    obligations: dict[str, ObligationFacts] = field(default_factory=dict)
    escalations: list[EscalationFact] = field(default_factory=list)
    findings: list[FindingFact] = field(default_factory=list)

    @property
    def is_quality_item(self) -> bool:
        return self.opened is not None

    def open_at(self, moment: datetime) -> bool:
        """Open at `moment`: opened by then and not closed by then; an item of a category that never
        closes by an event of its own counts as open only while it still owes something."""
        if self.opened is None or (self.opened.at is not None and self.opened.at > moment):
            return False
        if self.closed is not None and self.closed.at is not None and self.closed.at <= moment:
            return False
        if self.category in CLOSABLE_CATEGORIES:
            return True
        return any(o.owed_at(moment) for o in self.obligations.values())

    def overdue_at(self, moment: datetime) -> bool:
        return any(o.overdue_at(moment) for o in self.obligations.values())


def _mark(record: Any, at: datetime | None, detail: str = "") -> Mark:
    return Mark(at, int(record.chain_seq), str(record.record_key), str(record.hash), detail)


class MetricsFold:
    """The facts of every item seen, by (agreement_id, item_ref); fed in ledger order."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], ItemFacts] = {}
        self.last_seq = 0

    def apply_all(self, records: Iterable[Any]) -> None:
        for record in records:
            self.apply(record)

    def apply(self, record: Any) -> None:
        if record.seq <= self.last_seq:
            return   # already folded
        self.last_seq = record.seq
        if record.kind != "event" or not record.agreement_id or not record.item_ref:
            return
        category, _, action = (record.event_type or "").partition(".")
        if category in IGNORED_CATEGORIES:
            return
        body = json.loads(record.body) if isinstance(record.body, str) else dict(record.body)
        payload = body.get("payload") if isinstance(body.get("payload"), Mapping) else {}
        item = self._item(record.agreement_id, record.item_ref)
        self._envelope(item, body)
        if category == "obligation":
            self._obligation(item, record, action, payload)
        elif category == "escalation":
            self._escalation(item, record, body, payload)
        elif category == "finding":
            self._finding(item, record, body, action, payload)
        elif category not in BUS_CATEGORIES:
            self._quality(item, record, body, category)

    def _item(self, agreement_id: str, item_ref: str) -> ItemFacts:
        key = (agreement_id, item_ref)
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = ItemFacts(agreement_id, item_ref)
        return item

    @staticmethod
    def _envelope(item: ItemFacts, body: Mapping[str, Any]) -> None:
        product = body.get("product") if isinstance(body.get("product"), Mapping) else {}
        item.product_code = item.product_code or product.get("code") or None
        item.generic_name = item.generic_name or product.get("generic_name") or None
        item.site_id = item.site_id or body.get("site_id") or None

    @staticmethod
    def _quality(item: ItemFacts, record: Any, body: Mapping[str, Any], category: str) -> None:
        at = as_utc(body.get("occurred_at")) or as_utc(body.get("published_at"))
        if item.opened is None:
            item.category = category
            item.opened = _mark(record, at, record.event_type)
        if body.get("classification") not in (None, "", "UNKNOWN"):
            item.classification = str(body["classification"])
        if item.closed is None and record.event_type in closing_events(item.category):
            item.closed = _mark(record, at, record.event_type)

    @staticmethod
    def _obligation(item: ItemFacts, record: Any, action: str, payload: Mapping[str, Any]) -> None:
        oid = str(payload.get("obligation_id") or record.record_key)
        at = as_utc(payload.get("at"))
        facts = item.obligations.get(oid)
        if facts is None:
            opened_at = as_utc(payload.get("opened_at")) or at
            facts = item.obligations[oid] = ObligationFacts(
                obligation_id=oid, kind=str(payload.get("kind") or "UNKNOWN").upper(),
                category=str(payload.get("category") or item.category or ""),
                classification=payload.get("classification") or None, rule=str(payload.get("rule") or ""),
                deadline=str(payload.get("deadline") or ""), due_at=as_utc(payload.get("due_at")),
                basis_at=as_utc(payload.get("basis_at")) or opened_at, opened=_mark(record, opened_at, "opened"))
        if not item.category:
            item.category = facts.category
        reason = str(payload.get("reason") or "")
        if action == "satisfied" and facts.satisfied is None:
            facts.satisfied = _mark(record, at, reason)
            facts.late = bool(payload.get("late"))
        elif action == "breached" and facts.breached is None:
            facts.breached = _mark(record, at, reason)
            facts.breach = payload.get("breach") or None
        elif action == "cancelled" and facts.cancelled is None:
            facts.cancelled = _mark(record, at, reason)

    @staticmethod
    def _escalation(item: ItemFacts, record: Any, body: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        at = as_utc(body.get("occurred_at")) or as_utc(body.get("published_at"))
        item.escalations.append(EscalationFact(
            payload.get("obligation_id") or None, payload.get("kind") or None, int(payload.get("step") or 0),
            int(payload.get("of_steps") or 0), bool(payload.get("page")), _mark(record, at, str(payload.get("reason") or ""))))
        if not item.category and payload.get("category"):
            item.category = str(payload["category"])

    @staticmethod
    def _finding(item: ItemFacts, record: Any, body: Mapping[str, Any], action: str, payload: Mapping[str, Any]) -> None:
        at = as_utc(body.get("occurred_at")) or as_utc(body.get("published_at"))
        item.findings.append(FindingFact(action, str(payload.get("rule_id") or ""), str(payload.get("article") or ""),
                                         str(payload.get("severity") or ""),
                                         _mark(record, at, str(payload.get("message") or ""))))
