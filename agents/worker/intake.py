"""The intake stage: every record of the intake topics checked (`agents.core.intake`), then either
stamped with the bus's receipt and handed to the core stage, or dead-lettered with its reason.

One step per batch: the batch's dead letters go into the ledger in one transaction; then the
accepted events are sent to ``qc.accepted`` (or ``qc.accepted.urgent`` for a possible significant
risk, Art. 5), on the partition of their manufacturer, and the dead letters to ``qc.deadletter``;
only when the broker confirmed all of them are the intake offsets committed. A record read twice
after a crash is harmless: its dead letter has a derived id, and the core stage knows the event
by its receipt. Intake keeps no state, so it spreads over the intake topics' partitions.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from aiokafka import ConsumerRecord, TopicPartition

from agents.core.admission import Admission
from agents.core.intake import Accepted, Intake, Refusal
from agents.core.rules import refusal_of, urgent
from agents.worker.bus import Message
from agents.worker.stage import Stage, origin_of
from streams.topics import partition_for

log = logging.getLogger(__name__)


class IntakeStage(Stage):
    name = "intake"

    def __init__(self, bus, **kwargs):
        super().__init__(bus, **kwargs)
        settings = bus.settings
        # Art. 14: every event from a registered source of its party, signed where required.
        admission = Admission(bus.agreements, require_signatures=settings.require_signatures,
                              dashboard_keys=settings.dashboard_keys_path, user_keys=settings.user_keys_path,
                              clock_skew=timedelta(seconds=settings.clock_skew_s))

        def rules_refuse(event: dict, received_at: datetime) -> None:
            refusal = refusal_of(event, bus.agreements, received_at, bus.schemas)
            if refusal is not None:
                raise Refusal(refusal.reason_code, f"{refusal.article} ({refusal.rule_id}): {refusal.reason}")

        self.intake = Intake(bus.codec, bus.category_of_topic, settings.max_event_bytes, [admission, rules_refuse],
                             urgent=lambda event: urgent(event, bus.agreements, bus.schemas))
        self.partitions: dict[str, int] = {}

    def topics(self) -> list[str]:
        return self.bus.catalogue.intake_topics()

    async def on_started(self) -> None:
        assert self.bus.producer is not None
        for topic in (self.bus.catalogue.accepted, self.bus.catalogue.urgent):
            self.partitions[topic] = len(await self.bus.producer.partitions_for(topic))

    async def fetch(self):
        assert self.consumer is not None
        # A large batch, so a significant risk queued behind an end-of-batch upload is seen at once.
        return await self.consumer.getmany(timeout_ms=self.wait_ms, max_records=self.bus.settings.intake_batch)

    async def step(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        if not batch:
            return
        now = datetime.now(timezone.utc)
        letters: list[dict] = []
        refused: list[str] = []       # the event type of each refused record, where it could be read
        records = [record for part in batch.values() for record in part]
        decoded = [self.intake.peek(record.value) for record in records]
        urgent = [i for i, d in enumerate(decoded) if self.intake.may_be_urgent(d)]
        with self.bus.metrics.time_processing("intake"):
            # Art. 5: a possible significant risk goes on first, ahead of the rest of the batch.
            accepted = self._check(records, decoded, urgent, now, letters, refused)
            if accepted:
                await self.bus.send([self._forward(a) for a in accepted])
            rest = [i for i in range(len(records)) if i not in set(urgent)]
            accepted += (more := self._check(records, decoded, rest, now, letters, refused))
            if letters:
                await self.bus.record_and_send(letters)
            await self.bus.send([self._forward(a) for a in more])
        await self.commit(batch)
        for a in accepted:
            self.bus.metrics.event_handled(a.event["event_type"].split(".")[0], a.event["event_type"], "accepted")
        for letter, event_type in zip(letters, refused):
            category = self.bus.category_of_topic(letter["original_topic"]) or "unknown"
            self.bus.metrics.event_handled(category, event_type, "dead_lettered")

    def _check(self, records, decoded, indices, now, letters: list[dict], refused: list[str]) -> list[Accepted]:
        """Check these records; the accepted come back, the refused join ``letters`` (and their
        event types, where they could be read, join ``refused`` for the metrics)."""
        accepted = []
        for i in indices:
            record, before = records[i], len(letters)
            with self.guard(record, letters):
                outcome = self.intake.check(record.value, origin_of(record), now, decoded[i])
                if isinstance(outcome, Accepted):
                    accepted.append(outcome)
                else:
                    letters.append(outcome.dead_letter)
            if len(letters) > before:
                refused.append(str(decoded[i].value.get("event_type") or "unknown") if decoded[i] else "unknown")
        return accepted

    def _forward(self, accepted: Accepted) -> Message:
        """To the core stage, on the partition of the event's manufacturer (its rules and clocks)."""
        event = accepted.event
        topic = self.bus.catalogue.urgent if accepted.urgent else self.bus.catalogue.accepted
        partition = partition_for(event["manufacturer_id"], self.partitions[topic])
        return Message(topic, self.bus.codec.encode_event(event), event["manufacturer_id"].encode(), partition,
                       event["event_id"])

