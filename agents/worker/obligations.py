"""The obligations agent: the engine (pure) driven by accepted events and a timer.

State lives in the engine, rebuilt at start from the ledger (the durable record; the embedded
broker keeps nothing): first every recorded obligation change, then the accepted events recorded
since the last of them (they may have reached the ledger but not this agent before a crash).
Every change is emitted as an `obligation.*` event (and `escalation.raised` for a ladder step)
with an id derived from the change, so a replay re-emits nothing the ledger already has.
"""
from __future__ import annotations

import logging
from pathlib import Path
from datetime import datetime, timedelta, timezone

from agents.core.emitted import context_of
from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.gauges import Counts
from agents.core.obligations.openers import default_openers
from agents.core.obligations.events import change_events, change_from_event
from streams.validation import validate_event

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
GAUGE_SECONDS = 5.0
REPLAY_MARGIN = timedelta(minutes=5)


class ObligationsService:
    """Engine + the events it emits. No Kafka here. The envelope context of each obligation (what
    its events copy from the event that opened it) is kept by the engine, once per distinct value."""

    def __init__(self, engine: ObligationEngine, schemas):
        self.engine = engine
        self.schemas = schemas

    def restore(self, ledger) -> tuple[int, list[dict]]:
        """Rebuild from the ledger; returns (open obligations, events still to emit)."""
        last_recorded = None

        def recorded_changes():
            nonlocal last_recorded
            for record in ledger.iter(kinds=["event"], event_types=["obligation.*"]):
                last_recorded = record.recorded_at
                yield change_from_event(record.data), context_of(record.data)

        open_count = self.engine.restore_with_contexts(recorded_changes())
        intake = set(self.schemas.intake_categories)
        since = (last_recorded - REPLAY_MARGIN) if last_recorded else None
        pending = []
        for record in ledger.iter(kinds=["event"], since=since):
            if (record.event_type or "").split(".")[0] in intake and not record.data.get("copy_of_event_id"):
                _, event = validate_event(record.data, self.schemas)
                pending += self.on_event(event)
        return open_count, pending

    def on_event(self, event: dict, now: datetime | None = None) -> list[dict]:
        now = now or datetime.now(timezone.utc)
        out = []
        for change in self.engine.on_event(event):
            context = change.context if change.context is not None else context_of(event)
            out += change_events(change, context, now)
        return out

    def counts(self, now: datetime) -> dict[tuple[str, str], Counts]:
        """(agreement, category) -> Counts(open, due_soon, overdue), for the Prometheus gauges;
        kept by the engine as obligations come and go, not counted here."""
        return self.engine.counts(now)

    def tick(self, now: datetime | None = None) -> list[dict]:
        now = now or datetime.now(timezone.utc)
        out = []
        for change in self.engine.tick(now):
            out += change_events(change, change.context or {}, now)
        return out


def install(app, bus, extra_openers=()) -> None:
    openers = default_openers()
    for opener in extra_openers:  # e.g. the compliance rules' (Arts. 5, 8, 11, 13, 19, 20, 25)
        openers.register(opener)

    def fresh_service() -> ObligationsService:
        return ObligationsService(ObligationEngine(bus.agreements, openers=openers), bus.schemas)

    holder = {"service": fresh_service()}
    bus.obligations = holder["service"]
    accepted = bus.topics[bus.catalogue.accepted]

    async def emit_all(events: list[dict]) -> None:
        for event in events:
            await bus.emit(event)

    async def rebuild() -> None:
        service = fresh_service()
        open_count, pending = service.restore(bus.ledger)
        log.info("obligations: this worker owns the clocks; %d open obligations rebuilt from the ledger, "
                 "%d changes to catch up", open_count, len(pending))
        holder["service"] = bus.obligations = service
        await emit_all(pending)

    bus.on_ownership(rebuild)

    async def owned_service() -> ObligationsService | None:
        """The engine while this worker owns qc.accepted; None while another worker's clocks run."""
        return holder["service"] if await bus.owns_accepted() else None

    @app.agent(accepted, name="qbus.obligations")
    async def obligations_agent(stream):
        async for record in stream.events():
            try:
                event = bus.codec.decode(record.value).value
            except Exception as exc:  # accepted records were decoded once already; say so loudly
                log.error("obligations: cannot decode %s[%s]@%s: %s", record.message.topic,
                          record.message.partition, record.message.offset, exc)
                continue
            service = await owned_service()
            if service is None:
                continue
            with bus.metrics.time_processing("obligations"):
                await emit_all(service.on_event(event))

    reported: set[tuple[str, str]] = set()

    @app.timer(interval=GAUGE_SECONDS)
    async def report_open_obligations():
        service = await owned_service()
        if service is None:
            return
        counts = service.counts(datetime.now(timezone.utc))
        for agreement, category in reported - set(counts):
            bus.metrics.set_obligations(agreement, category, 0, 0)  # gone: say zero, not stale
        for (agreement, category), count in counts.items():
            bus.metrics.set_obligations(agreement, category, count.open, count.overdue)
        reported.clear()
        reported.update(counts)

    @app.timer(interval=TICK_SECONDS)
    async def tick():
        # Cost follows what falls due (the engine keeps a heap), so ticking often is cheap.
        service = await owned_service()
        if service is not None:
            await emit_all(service.tick())


def open_from_ledger(settings, agreements=None) -> list:
    """Open obligations as the worker would rebuild them: for `qbus obligations` (read-only)."""
    from agents.core.agreements import AgreementSet
    from schemas import default_schemas
    from agents.record.ledger import open_ledger

    if agreements is None:
        agreements = AgreementSet.load_dir(settings.agreements_dir, strict=False) \
            if Path(settings.agreements_dir).is_dir() else AgreementSet([])
    service = ObligationsService(ObligationEngine(agreements), default_schemas())
    with open_ledger(settings.ledger, create=False) as ledger:
        service.restore(ledger)
    return service.engine.open_obligations()
