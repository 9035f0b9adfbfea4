"""The intake agent: a thin Faust loop around the pure checks of `agents.core.intake`."""
from __future__ import annotations

import logging

from agents.core.intake import Accepted, DedupeWindow, Intake, Origin
from streams.canonical import canonical_json

log = logging.getLogger(__name__)


def install(app, bus) -> None:
    """Register the intake agent on a Faust app. `bus` is agents.worker.app.Bus."""
    def recorded_identically(event: dict) -> bool:
        stored = bus.ledger.get(event["event_id"])
        return stored is not None and stored.body == canonical_json(event)

    intake = Intake(bus.codec, bus.category_of_topic, bus.settings.max_event_bytes,
                    DedupeWindow(bus.settings.dedupe_window), bus.intake_checks, recorded_identically)
    bus.intake = intake
    intake_categories = set(bus.schemas.intake_categories)
    seeded = intake.seed(r.record_key for r in bus.ledger.iter(kinds=["event"])
                         if (r.event_type or "").split(".")[0] in intake_categories)
    log.info("intake: %d accepted event ids from the ledger remembered for duplicate checks", seeded)
    source = app.topic(*bus.catalogue.intake_topics(), value_serializer="raw", key_serializer="raw")

    @app.agent(source, name="qbus.intake")
    async def intake_agent(stream):
        async for record in stream.events():
            message = record.message
            origin = Origin(message.topic, message.partition, message.offset, record.key)
            with bus.metrics.time_processing("intake"):
                outcome = intake.check(record.value, origin)
                if isinstance(outcome, Accepted) and await bus.forward_accepted(outcome.event, outcome.data) == "conflict":
                    # The ledger holds a different event under this id (accepted before a restart).
                    outcome = intake.conflict(outcome, origin)
                if isinstance(outcome, Accepted):
                    intake.remember(outcome, origin)
                    event_type = outcome.event["event_type"]
                    bus.metrics.event_handled(event_type.split(".")[0], event_type, "accepted")
                else:
                    await bus.dead_letter(outcome.dead_letter)
                    bus.metrics.event_handled(bus.category_of_topic(origin.topic) or "unknown", "unknown", "dead_lettered")
