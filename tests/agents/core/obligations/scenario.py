"""Shared helpers: events on the fast test agreement (tests/fixtures/agreements), and a driver
that plays a list of operations against an engine, keeping the ledger it writes."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from agents.core.agreements import AgreementSet
from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.gauges import Counts
from agents.core.obligations.model import Change

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "agreements"
AID = "QA-TEST-FAST"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)   # Monday 2 Mar 2026, 10:00 Shanghai
CMO = {"system": "QMS", "instance": "qms-cmo-x", "party_id": "CMO-X", "party_role": "MANUFACTURER"}
HOLDER = {"system": "QMS", "instance": "qms-holder-a", "party_id": "HOLDER-A", "party_role": "HOLDER"}
_AGREEMENTS: list[AgreementSet] = []


def agreements() -> AgreementSet:
    if not _AGREEMENTS:
        _AGREEMENTS.append(AgreementSet.load_dir(FIXTURES))
    return _AGREEMENTS[0]


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(event_type: str, item: str = "DEV-1", *, source: dict = CMO, occurred: datetime = T0,
          published: datetime = T0, classification: str | None = None, batch_no: str | None = None,
          **extra) -> dict:
    return {
        "event_id": extra.pop("event_id", str(uuid.uuid4())),
        "event_type": event_type, "occurred_at": occurred, "published_at": published, "source": source,
        "agreement_id": extra.pop("agreement_id", AID), "holder_id": "HOLDER-A", "manufacturer_id": "CMO-X",
        "site_id": extra.pop("site_id", "SITE-1"),
        "product": {"code": "A-INJ-1", "generic_name": "Examplamide Injection", "dosage_form": "injection",
                    "sterile": True},
        "batch_no": batch_no, "line_id": "LINE-1", "item_ref": item, "classification": classification,
        "payload": {}, **extra,
    }


def brute_counts(engine: ObligationEngine, now: datetime, window: timedelta) -> dict[tuple[str, str], Counts]:
    """What counts() must say, by walking every open obligation (the old way)."""
    out: dict[tuple[str, str], list[int]] = {}
    for ob in engine.open_obligations():
        row = out.setdefault((ob.agreement_id, ob.category), [0, 0, 0])
        row[0] += 1
        if ob.due_at <= now:
            row[2] += 1
        elif ob.due_at - window <= now:
            row[1] += 1
    return {key: Counts(*row) for key, row in out.items()}


def fired(changes: list[Change]) -> list[tuple]:
    return [(c.action, c.obligation.obligation_id, c.escalation.step if c.escalation else None, c.at, c.reason)
            for c in changes]


def state(engine: ObligationEngine, now: datetime) -> tuple:
    """Everything a restarted engine must agree on."""
    opens = engine.open_obligations()
    return (opens, [engine.context_for(o) for o in opens], engine.next_firing(), engine.counts(now), len(engine))


class Driver:
    """Plays operations (tuples, see test_properties.OPERATIONS) against a live engine, keeping
    every change it returns, with its context, as the ledger would."""

    def __init__(self, window: timedelta):
        self.window = window
        self.engine = ObligationEngine(agreements(), Clock(), due_soon=window)
        self.now = T0
        self.ledger: list[tuple[Change, dict | None]] = []
        self.sent: list[dict] = []
        self.reports: dict[str, str] = {}   # item -> event id of its latest report

    def play(self, op: tuple) -> None:
        name, *args = op
        getattr(self, f"_{name}")(*args)

    def _record(self, changes: list[Change]) -> None:
        self.ledger += [(c, c.context) for c in changes]

    def _send(self, e: dict) -> None:
        self.sent.append(e)
        self._record(self.engine.on_event(e))

    def _report(self, item: str, classification: str, late_s: int, batch: int) -> None:
        e = event("deviation.reported", item, occurred=self.now - timedelta(seconds=late_s), published=self.now,
                  classification=classification, batch_no=f"B-{batch}" if batch else None)
        self.reports[item] = e["event_id"]
        self._send(e)

    def _correct(self, item: str, classification: str) -> None:
        if item in self.reports:
            self._send(event("deviation.reported", item, published=self.now, occurred=self.now,
                             classification=classification, corrects_event_id=self.reports[item]))

    def _ack(self, item: str, by_holder: bool) -> None:
        self._send(event("deviation.acknowledged", item, source=HOLDER if by_holder else CMO, published=self.now))

    def _close(self, item: str) -> None:
        self._send(event("deviation.closed", item, published=self.now))

    def _propose(self, item: str) -> None:
        self._send(event("change.proposed", item, published=self.now, occurred=self.now))

    def _approve(self, item: str) -> None:
        self._send(event("change.approved", item, source=HOLDER, published=self.now))

    def _replay(self, k: int) -> None:
        if self.sent:
            self._record(self.engine.on_event(dict(self.sent[k % len(self.sent)])))

    def _tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self._record(self.engine.tick(self.now))

    def _jump(self, days: int) -> None:
        self._tick(days * 86_400)

    def _count(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        self.engine.counts(self.now)
