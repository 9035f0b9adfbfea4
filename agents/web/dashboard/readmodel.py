"""The dashboard's read model: ledger records folded into what a QA lead looks at.

Pure Python, no I/O: `ReadModel.apply(record)` takes `agents.record.ledger.LedgerRecord`s in ledger order
(seq) and keeps, per quality agreement, its items (one per ``item_ref``: every event, obligation,
escalation, finding and directive about it, in order), the obligations' current state, batches and
what each party still has to do. Everything that depends on the time (due soon, overdue,
countdowns) is computed when asked, with ``now`` passed in, so the same model answers for any
moment and tests need no clock.

Who may see what (Art. 10) is decided here too (`visible_agreements`): a holder's users see the
agreements whose holder is their party, a manufacturer's users those of their manufacturer, and
nothing else. The web layer asks this for every page, live update, export and API call.

The parts are in `agents.web.dashboard.items`, the folding of records in `agents.web.dashboard.folding`,
what is known of an agreement in `agents.web.dashboard.agreementinfo`; this module asks the questions.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from agents.web.dashboard.folding import LedgerFold
from agents.web.dashboard.items import BUS_CATEGORIES, OVERVIEW_CATEGORIES, BatchReadiness, CategoryCount, Entry, Item


class ReadModel(LedgerFold):
    """The folded ledger (`LedgerFold`) and the questions the pages ask of it."""

    # -- tenancy (Art. 10) -------------------------------------------------------------------------
    def visible_agreements(self, party_id: str, side: str | None) -> list[str]:
        """Agreements a party may see: as holder (side HOLDER), manufacturer, or either (side None)."""
        out = []
        for info in self.agreements.values():
            if side in (None, "HOLDER") and info.holder_id == party_id or side in (None, "MANUFACTURER") and info.manufacturer_id == party_id:
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

    def capa_approvals(self, agreement_ids: Iterable[str]) -> list[Item]:
        """Deviations whose proposed CAPA waits for the holder's approval (Art. 5)."""
        return sorted((i for a in agreement_ids for i in self.items_of(a, "deviation") if i.awaiting_capa_approval()),
                      key=_due_key)

    def acknowledgements(self, agreement_ids: Iterable[str], side: str) -> list[Item]:
        """Items waiting for `side` to confirm receipt; changes and co-line notices waiting for the
        holder's decision or feedback are listed there instead (answering them acknowledges them)."""
        def waiting(item: Item) -> bool:
            if side == "HOLDER" and (item.awaiting_decision() or item.awaiting_feedback() or item.awaiting_capa_approval()):
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

    def readiness_of(self, item: Item) -> BatchReadiness | None:
        """A batch release item's readiness for market release (Art. 12); None for other items."""
        if item.category != "batch_release" or (item.agreement_id, item.batch_no or "") not in self.batches:
            return None
        return next((r for r in self.batch_readiness(item.agreement_id) if r.batch.batch_no == item.batch_no), None)

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



def _due_key(item: Item) -> tuple:
    due = item.next_due()
    return (due.due_at if due and due.due_at else datetime.max.replace(tzinfo=UTC), item.item_ref)
