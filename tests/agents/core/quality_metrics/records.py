"""Ledger records written by hand for the metrics tests: quality events and the bus's obligation,
escalation and finding records, each at a chain position of its own (as `LedgerRecord`s)."""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from agents.record.ledger.chain import GENESIS_HASH, LedgerRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")
A = "QA-HOLDERA-CMOX-001"
P1 = {"code": "HA-AMX-500", "generic_name": "amoxicillin", "dosage_form": "capsule", "sterile": False}
P2 = {"code": "HA-ONS-2ML", "generic_name": "ondansetron", "dosage_form": "injection", "sterile": True}


def local(text: str) -> datetime:
    """'2026-10-09 10:00' in Shanghai, as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(timezone.utc)


def end_of(day: str) -> datetime:
    return local(f"{day} 23:59:59")


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


class Chain:
    """Appends records to one agreement's chain, numbering them as the ledger would."""

    def __init__(self, agreement_id: str = A, holder_id: str = "HOLDER-A", manufacturer_id: str = "CMO-X"):
        self.agreement_id = agreement_id
        self.parties = {"holder_id": holder_id, "manufacturer_id": manufacturer_id}
        self.records: list[LedgerRecord] = []
        self._prev = GENESIS_HASH

    def _append(self, event_type: str, item_ref: str, body: dict) -> LedgerRecord:
        seq = len(self.records) + 1
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.agreement_id}/{item_ref}/{event_type}/{seq}"))
        body = {"event_id": key, **self.parties, **body}
        text = json.dumps(body, sort_keys=True)
        digest = hashlib.sha256((self._prev + text).encode()).hexdigest()
        record = LedgerRecord(seq=seq, chain=self.agreement_id, chain_seq=seq, kind="event", record_key=key,
                              event_type=event_type, agreement_id=self.agreement_id, item_ref=item_ref,
                              corrects_key=None, occurred_at=None, recorded_at=datetime.now(timezone.utc), body=text,
                              key_id=None, signature=None, prev_hash=self._prev, hash=digest)
        self._prev = digest
        self.records.append(record)
        return record

    def event(self, event_type: str, item_ref: str, at: datetime, *, product: dict = P1, site: str = "SITE-SZ-01",
              classification: str | None = "MAJOR") -> LedgerRecord:
        return self._append(event_type, item_ref, {
            "event_type": event_type, "agreement_id": self.agreement_id, "item_ref": item_ref,
            "occurred_at": iso(at), "published_at": iso(at), "product": product, "site_id": site,
            "classification": classification, "payload": {}})

    def obligation(self, action: str, item_ref: str, oid: str, *, kind: str, category: str, due: datetime,
                   basis: datetime, at: datetime, rule: str = "Art. 7", late: bool = False, product: dict = P1,
                   site: str = "SITE-SZ-01", reason: str = "", breach: str | None = None) -> LedgerRecord:
        return self._append(f"obligation.{action}", item_ref, {
            "event_type": f"obligation.{action}", "agreement_id": self.agreement_id, "item_ref": item_ref,
            "occurred_at": iso(at), "product": product, "site_id": site,
            "payload": {"obligation_id": oid, "kind": kind, "category": category, "due_at": iso(due),
                        "basis_at": iso(basis), "opened_at": iso(basis), "at": iso(at), "late": late, "rule": rule,
                        "deadline": "", "action": action, "reason": reason or None, "breach": breach}})

    def met(self, item_ref: str, oid: str, *, kind: str, category: str, due: datetime, basis: datetime,
            done: datetime, rule: str = "Art. 7", **kw) -> None:
        """An obligation opened at `basis` and met at `done` (late if after `due`, breached at `due` then)."""
        self.obligation("opened", item_ref, oid, kind=kind, category=category, due=due, basis=basis, at=basis,
                        rule=rule, **kw)
        if done > due:
            self.obligation("breached", item_ref, oid, kind=kind, category=category, due=due, basis=basis, at=due,
                            rule=rule, breach="overdue", reason=f"{kind} for {item_ref} was due {iso(due)}", **kw)
        self.obligation("satisfied", item_ref, oid, kind=kind, category=category, due=due, basis=basis, at=done,
                        rule=rule, late=done > due, **kw)

    def escalation(self, item_ref: str, oid: str, *, step: int, at: datetime, kind: str, page: bool = False) -> None:
        self._append("escalation.raised", item_ref, {
            "event_type": "escalation.raised", "agreement_id": self.agreement_id, "item_ref": item_ref,
            "occurred_at": iso(at), "product": P1, "site_id": "SITE-SZ-01",
            "payload": {"obligation_id": oid, "step": step, "of_steps": 3, "page": page, "kind": kind,
                        "reason": f"step {step}"}})

    def finding(self, item_ref: str, action: str, *, article: str, rule_id: str, at: datetime) -> None:
        self._append(f"finding.{action}", item_ref, {
            "event_type": f"finding.{action}", "agreement_id": self.agreement_id, "item_ref": item_ref,
            "occurred_at": iso(at), "product": P1, "site_id": "SITE-SZ-01",
            "payload": {"rule_id": rule_id, "article": article, "severity": "HIGH", "message": "implemented early"}})


    def events(self) -> list[dict]:
        """The records' bodies, to append to a real ledger (which numbers and hashes them itself)."""
        return [json.loads(r.body) for r in self.records]


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
