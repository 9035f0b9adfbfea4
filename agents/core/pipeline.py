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
            step.records += [d.event for d in deliveries if d.event.get("copy_of_event_id")]
        step.records += self._changes(self.engine.on_event(event), now)
        return step

    def _route(self, event: dict, outcome: Outcome) -> list[Delivery]:
        if outcome.notices:   # the rules routed it already (agents.core.routing, through evaluate)
            return [Delivery(n.holder_id, n.agreement_id, None, n.event, (), "own") for n in outcome.notices]
        return route(event, self.agreements, self.schemas)

    def context_of_change(self, change) -> dict:
        """The envelope of an obligation record: the opening event's, when it is of the obligation's
        own agreement; else (a holder's feedback on a co-line notice, Art. 8) the agreement's own
        parties and product, never the publishing agreement's (Art. 10)."""
        ob = change.obligation
        context = dict(change.context or self.engine.context_for(ob) or {}, agreement_id=ob.agreement_id)
        agreement = None
        if self.agreements is not None:
            agreement = self.agreements.version(ob.agreement_id, ob.agreement_version) or self.agreements.latest(ob.agreement_id)
        if agreement is None or not agreement.products or context.get("holder_id") == agreement.holder.id:
            return context
        line = context.get("line_id")
        product = next((p for p in agreement.products if line and line in p.line_ids()), agreement.products[0])
        return {**context, "agreement_id": ob.agreement_id, "holder_id": agreement.holder.id,
                "manufacturer_id": agreement.manufacturer.id, "site_id": product.site_id, "batch_no": None,
                "product": {"code": product.code, "generic_name": product.generic_name,
                            "dosage_form": product.dosage_form, "sterile": bool(product.sterile)}}

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
            out += change_events(change, self.context_of_change(change), now)
        return out

    # -- rebuilding from the ledger ---------------------------------------------------------------
    def replay(self, records: Iterable[dict]) -> int:
        """Bring the state to where these ledger records (oldest first) left it, deciding nothing:
        input events go through the rules (outcomes discarded), obligation records into the engine
        (each with its own envelope, which is its agreement's)."""
        from agents.core.obligations.events import change_from_event

        inputs, changes = 0, []
        for record in records:
            if (record.get("event_type") or "").startswith("obligation."):
                changes.append((change_from_event(record), context_of(record)))
            elif is_input(record):
                self.rules.replay([record])
                inputs += 1
        self.engine.restore_with_contexts(changes)
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
