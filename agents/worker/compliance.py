"""The compliance agent: a thin loop on the accepted topic around the pure rules (agents/core/rules/).

For each accepted event it asks :class:`agents.core.rules.ComplianceRules` for the outcome and then:

* a refusal (e.g. a co-line notice without a risk conclusion, Art. 8): the event goes to the
  dead-letter topic with reason code ``RULE_REFUSED``, the record's bytes and where it came from;
  nothing else is done for it;
* findings and directives: emitted as bus events (``Bus.emit``: the findings and directives
  topics), and a copy of each to the holder's inbox, so the holder's QA sees it;
* pages that no directive carries (a directive pages through the notifier by itself): emitted as
  ``escalation.raised`` with ``page`` set, from the agreement's paging ladder step;
* notices: each holder's copy to that holder's inbox topic only (Art. 10).

Obligation specs are not opened here: register ``bus.compliance.opener`` on the obligation
engine's opener registry; it returns the same outcome's specs for the same event, whichever of the
two agents sees the event first.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path

from agents.core.routing import route
from agents.core.rules import ComplianceRules
from agents.core.rules.outcome import bus_event, page_escalation_payload
from streams.codec import DecodeError
from streams.topics import item_key

log = logging.getLogger(__name__)


def load_agreements(settings):
    """The agreement set from ``settings.agreements_dir`` (empty, with a warning, if it is missing)."""
    from agents.core.agreements import AgreementSet

    directory = Path(settings.agreements_dir)
    if not directory.is_dir():
        log.warning("compliance rules: agreements directory %s not found; rules run without agreements "
                    "(no fan-out, no obligations)", directory)
        return AgreementSet()
    return AgreementSet.load_dir(directory, strict=False)


def refusal_record(refusal, event: dict, value: bytes, topic: str, partition: int, offset: int,
                   key: bytes | None) -> dict:
    """The dead-letter record for an event a rule refused."""
    return {
        "dead_letter_id": str(uuid.uuid4()),
        "reason_code": refusal.reason_code,
        "reason": f"{refusal.article} ({refusal.rule_id}): {refusal.reason}",
        "original_topic": topic,
        "original_partition": partition,
        "original_offset": offset,
        "original_key": key,
        "original_value": value or b"",
        "event_id": event.get("event_id"),
        "agreement_id": event.get("agreement_id"),
        "received_at": datetime.now(timezone.utc),
    }


def outgoing(rules: ComplianceRules, event: dict, outcome, now: datetime) -> tuple[list[dict], list[tuple[str, dict]]]:
    """What to publish for one outcome: (bus events to emit, (holder_id, copy) for inboxes)."""
    emitted = outcome.bus_events(event, now)
    agreement = None
    if rules.agreements is not None and event.get("agreement_id"):
        agreement = rules.agreements.latest(event["agreement_id"])
    for page in outcome.pages:
        if page.via_directive:
            continue
        payload = page_escalation_payload(page, event, agreement, now)
        emitted.append(bus_event("escalation.raised", payload, event, now=now, rule_id=page.rule_id,
                                 discriminator="page"))
    inbox = [(n.holder_id, n.event) for n in outcome.notices]
    for record in emitted:
        if record["event_type"].startswith(("finding.", "directive.")):
            # The holder concerned sees what the rules found about its own items (Art. 10: its inbox only).
            for delivery in route(record, rules.agreements, rules.schemas):
                inbox.append((delivery.holder_id, delivery.event))
    return emitted, inbox


def accepted_from_ledger(ledger, schemas):
    """The accepted events of the ledger, oldest first, normalized (what the rules replay)."""
    from streams.validation import EventInvalid, validate_event

    intake = set(schemas.intake_categories)
    for record in ledger.iter(kinds=["event"]):
        if (record.event_type or "").split(".", 1)[0] not in intake:
            continue
        data = record.data
        if data.get("copy_of_event_id"):  # a holder's copy of an event, not an input
            continue
        try:
            yield validate_event(data, schemas)[1]
        except EventInvalid as exc:
            log.error("compliance: ledger record %s does not validate any more, skipped in the replay: %s",
                      record.event_type, exc)


def install(app, bus, rules: ComplianceRules | None = None) -> ComplianceRules:
    """Register the compliance agent on a Faust app. ``bus`` is agents.worker.app.Bus. Returns the rules
    (also set as ``bus.compliance``) so the obligation engine can register ``rules.opener``.

    The rule state is rebuilt from the ledger's accepted events whenever this worker gains
    qc.accepted (``Bus.on_ownership``): install this before the obligations agent, whose rebuild
    replays events through ``rules.opener``."""
    if rules is None:
        agreements = getattr(bus, "agreements", None)
        if agreements is None:
            agreements = load_agreements(bus.settings)
        rules = ComplianceRules(agreements, bus.schemas)
    bus.compliance = rules

    async def rebuild() -> None:
        applied = rules.rebuild(accepted_from_ledger(bus.ledger, bus.schemas))
        log.info("compliance: this worker owns the rules; state rebuilt from %d accepted events in the ledger",
                 applied)

    bus.on_ownership(rebuild)
    source = bus.topic(bus.catalogue.accepted)

    @app.agent(source, name="qbus.compliance")
    async def compliance_agent(stream):
        async for record in stream.events():
            message = record.message
            where = f"{message.topic}[{message.partition}]@{message.offset}"
            try:
                event = bus.codec.decode(record.value).value
            except DecodeError as exc:
                log.error("compliance: cannot decode accepted record %s: %s", where, exc)
                continue
            if not await bus.owns_accepted():
                continue  # another worker owns the rules (qc.accepted has one partition)
            try:
                outcome = rules.evaluate(event)
            except Exception:
                # A rule bug must not stop the bus; the event is in the ledger and can be replayed.
                log.exception("compliance: rules failed on %s (%s) at %s", event.get("event_id"),
                              event.get("event_type"), where)
                continue
            if outcome.refusal is not None:
                log.warning("compliance refused %s at %s: %s", event.get("event_id"), where, outcome.refusal.reason)
                await bus.dead_letter(refusal_record(outcome.refusal, event, record.value, message.topic,
                                                     message.partition, message.offset, record.key))
                continue
            emitted, inbox = outgoing(rules, event, outcome, datetime.now(timezone.utc))
            for bus_record in emitted:
                await bus.emit(bus_record)
            for holder_id, copy in inbox:
                if copy.get("copy_of_event_id"):
                    bus.record(copy)  # the receiving holder's own record, in its agreement's chain
                await bus.topic(bus.catalogue.inbox(holder_id)).send(key=item_key(copy),
                                                                     value=bus.codec.encode_event(copy))

    return rules


__all__ = ["accepted_from_ledger", "install", "load_agreements", "outgoing", "refusal_record"]
