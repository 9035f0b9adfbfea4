"""One step of the bus for one accepted event: rules → obligations → routing, as records. Pure.

`Pipeline` holds one partition's state (the rules' facts and the obligation engine, for the
manufacturers whose events that partition carries) and turns an accepted event into the records the
bus appends for it, in order: the event itself, what the rules found or directed, the copies made
for other holders' agreements (Art. 8), and the obligation changes. `Pipeline.tick` does the same
for clocks that fell due. The worker appends a step's records to the ledger in one transaction
with the consumer position they cover, and only then sends what `outbound` derives from them, so
a crash between the two re-sends, and never re-decides.

A failing rule never withholds the event or its inbox copies: the event is still recorded and
routed, the communication list's clocks still start, and the failure comes back in
`Step.failures` for the worker to dead-letter with the stage's name.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.events import change_events
from agents.core.obligations.openers import default_openers
from agents.core.emitted import context_of
from agents.core.routing import Delivery, route
from agents.core.rules import ComplianceRules
from agents.core.rules.outcome import Outcome, bus_event, page_escalation_payload
from schemas import SchemaSet, default_schemas

log = logging.getLogger(__name__)

# Bus records that a holder sees in its own inbox as well as on the bus's topic.
ROUTED_BUS_RECORDS = ("finding.", "directive.")


@dataclass
class Step:
    """What one event (or one tick) produced: the records to append, in order; the inbox copies
    already routed for them (by the record's event_id); and failures to dead-letter."""
    records: list[dict] = field(default_factory=list)
    deliveries: dict[str, list[Delivery]] = field(default_factory=dict)
    failures: list[tuple[dict, str]] = field(default_factory=list)   # (event, reason)
    refusal: Any = None                                               # a rule refused the event

    def extend(self, other: "Step") -> None:
        self.records += other.records
        self.deliveries.update(other.deliveries)
        self.failures += other.failures


def is_input(record: dict) -> bool:
    """An event a source published (not the bus's own record, not a copy the bus made)."""
    source = record.get("source") or {}
    return source.get("party_role") != "BUS" and not record.get("copy_of_event_id")


class Pipeline:
    """The rules and the clocks of one partition. Not thread-safe; one per partition per worker."""

    def __init__(self, agreements: Any, schemas: SchemaSet | None = None,
                 engine_factory=None):
        self.agreements = agreements
        self.schemas = schemas or default_schemas()
        self.rules = ComplianceRules(agreements, self.schemas)
        openers = default_openers()
        openers.register(self.rules.opener)   # the rules' obligations (Arts. 5, 8, 11, 13, 19, 20, 25)
        self.engine = (engine_factory or ObligationEngine)(agreements, openers=openers)
        # Envelope fields of each item, for the obligation records about it (its agreement's own:
        # a holder's copy of a co-line notice gives that holder's context, never the publisher's).
        self.contexts: dict[tuple[str, str], dict] = {}

    # -- one accepted event ---------------------------------------------------------------------
    def process(self, event: dict, now: datetime) -> Step:
        step = Step()
        try:
            outcome = self.rules.evaluate(event, now)
        except Exception as exc:  # a rule bug must not withhold the event, its copies or its clocks
            log.exception("rules failed on %s (%s)", event.get("event_id"), event.get("event_type"))
            step.failures.append((event, f"the compliance rules failed on this event ({type(exc).__name__}: "
                                         f"{exc}); it was recorded and routed, no rule acted on it"))
            outcome = Outcome()
        if outcome.refusal is not None:
            return Step(refusal=outcome.refusal)
        step.records.append(event)
        step.deliveries[event["event_id"]] = self._route(event, outcome)
        emitted = self._emitted(event, outcome, now)
        for record in emitted:
            step.records.append(record)
            if record["event_type"].startswith(ROUTED_BUS_RECORDS):
                step.deliveries[record["event_id"]] = route(record, self.agreements, self.schemas)
        for deliveries in list(step.deliveries.values()):
            # A copy under another holder's agreement is that holder's own record (Art. 8).
            copies = [d.event for d in deliveries if d.event.get("copy_of_event_id")]
            step.records += copies
            for copy in copies:
                self._remember(copy)
        self._remember(event)
        changes = self.engine.on_event(event)
        for change in changes:
            self._remember_for(change.obligation, event)
        step.records += self._changes(changes, now)
        return step

    def _route(self, event: dict, outcome: Outcome) -> list[Delivery]:
        if outcome.notices:   # the rules routed it already (agents.core.routing, through evaluate)
            return [Delivery(n.holder_id, n.agreement_id, None, n.event, (), "own") for n in outcome.notices]
        return route(event, self.agreements, self.schemas)

    def _remember(self, event: dict) -> None:
        self.contexts[(event["agreement_id"], event["item_ref"])] = context_of(event)

    def _remember_for(self, obligation, event: dict) -> None:
        """The context of an obligation whose item no event names (a periodic review, a licence
        step): the opening event's if it is of the same agreement, else the agreement's own parties."""
        key = (obligation.agreement_id, obligation.item_ref)
        if key in self.contexts:
            return
        context = context_of(event)
        if event.get("agreement_id") != obligation.agreement_id:
            agreement = self.agreements.latest(obligation.agreement_id) if self.agreements is not None else None
            if agreement is not None:
                own = agreement.product((event.get("product") or {}).get("code", "")) or agreement.products[0]
                context.update(holder_id=agreement.holder.id, manufacturer_id=agreement.manufacturer.id,
                               site_id=own.site_id, batch_no=None, line_id=None,
                               product={"code": own.code, "generic_name": own.generic_name,
                                        "dosage_form": own.dosage_form, "sterile": bool(own.sterile)})
        context.update(agreement_id=obligation.agreement_id, item_ref=obligation.item_ref)
        self.contexts[key] = context

    def context_for(self, agreement_id: str, item_ref: str) -> dict:
        return self.contexts[(agreement_id, item_ref)]

    def _emitted(self, event: dict, outcome: Outcome, now: datetime) -> list[dict]:
        emitted = outcome.bus_events(event, now)
        agreement = None
        if self.agreements is not None and event.get("agreement_id"):
            agreement = self.agreements.latest(event["agreement_id"])
        for page in outcome.pages:
            if not page.via_directive:   # a directive pages through the notifier by itself
                emitted.append(bus_event("escalation.raised", page_escalation_payload(page, event, agreement, now),
                                         event, now=now, rule_id=page.rule_id, discriminator="page"))
        return emitted

    # -- clocks ----------------------------------------------------------------------------------
    def tick(self, now: datetime) -> Step:
        return Step(records=self._changes(self.engine.tick(now), now))

    def _changes(self, changes: Iterable, now: datetime) -> list[dict]:
        out: list[dict] = []
        for change in changes:
            ob = change.obligation
            out += change_events(change, self.context_for(ob.agreement_id, ob.item_ref), now)
        return out

    def counts(self, now: datetime) -> dict[tuple[str, str], tuple[int, int]]:
        """(agreement, category) -> (open, overdue), for the gauges."""
        out: dict[tuple[str, str], list[int]] = {}
        for obligation in self.engine.open_obligations(now=now):
            entry = out.setdefault((obligation.agreement_id, obligation.category), [0, 0])
            entry[0] += 1
            entry[1] += obligation.due_at <= now
        return {key: (open_, overdue) for key, (open_, overdue) in out.items()}

    # -- rebuilding from the ledger ---------------------------------------------------------------
    def replay(self, records: Iterable[dict]) -> int:
        """Bring the state to where these ledger records (oldest first) left it, deciding nothing:
        input events go through the rules (outcomes discarded), obligation records into the engine."""
        from agents.core.obligations.events import change_from_event

        inputs, changes = 0, []
        for record in records:
            if (record.get("event_type") or "").startswith("obligation."):
                changes.append(change_from_event(record))
                self.contexts.setdefault((record["agreement_id"], record["item_ref"]), context_of(record))
            elif is_input(record) or record.get("copy_of_event_id"):
                self._remember(record)
                if is_input(record):
                    self.rules.replay([record])
                    inputs += 1
        self.engine.restore(changes)
        return inputs


def outbound(records: Iterable[dict], deliveries: dict[str, list[Delivery]] | None, agreements: Any,
             schemas: SchemaSet | None = None) -> list[tuple[str, dict]]:
    """What goes out after a step is recorded: ``("bus", record)`` for the bus's own topics and
    ``("inbox:<holder>", copy)`` for a holder's inbox. A pure function of the recorded records
    (routing is recomputed where ``deliveries`` does not have it), so re-sending after a crash
    sends what the first time sent."""
    schemas = schemas or default_schemas()
    out: list[tuple[str, dict]] = []
    deliveries = deliveries or {}
    for record in records:
        if "dead_letter_id" in record:
            out.append(("deadletter", record))
            continue
        kind = record.get("event_type") or ""
        if not is_input(record) and not record.get("copy_of_event_id"):
            out.append(("bus", record))
        if is_input(record) or kind.startswith(ROUTED_BUS_RECORDS):
            routed = deliveries.get(record["event_id"])
            if routed is None:
                routed = route(record, agreements, schemas)
            out += [(f"inbox:{d.holder_id}", d.event) for d in routed]
    return out
