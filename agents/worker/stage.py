"""A stage of the worker: one consumer group, steps of a batch each, one failure policy.

Each stage (intake, core, notify) reads its topics with an aiokafka consumer of its own group and
commits offsets by hand, only after the step's records are in the ledger and its messages were
confirmed by the broker. The stages run as services of the one Faust app (`agents.worker.app`);
they use aiokafka directly rather than Faust agents because Faust's own offset handling has
skipped records across rebalances (BROKER.md: "DROPPED MESSAGE ROFF", faust-streaming #216, #221,
#606), because the core stage continues from the position recorded in the ledger, not from the
group's, and because it reads its urgent topic ahead of its backlog.

The failure policy is the same for every stage (`Stage.guard`): a record a stage cannot process is
never skipped silently. It becomes a dead letter naming the stage, the record's origin (topic,
partition, offset) and the reason, recorded in the ledger and sent to the dead-letter topic in the
stage's step, and counted (``qbus_stage_failures_total{stage}``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import mode
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import OffsetAndMetadata

from agents.core.intake import Origin, reject
from agents.worker.bus import Bus

log = logging.getLogger(__name__)
COMMIT_SECONDS = 1.0


class StageFailed(Exception):
    """A record this stage cannot process; its message says why, in plain words."""


def origin_of(record: ConsumerRecord) -> Origin:
    return Origin(record.topic, record.partition, record.offset, record.key)


class Stage(mode.Service):
    """Subclasses set ``name`` and ``topics`` and implement ``step(batch)``."""

    name = "stage"
    wait_ms = 200          # how long one fetch waits when nothing is there

    def __init__(self, bus: Bus, **kwargs):
        super().__init__(**kwargs)
        self.bus = bus
        self.consumer: AIOKafkaConsumer | None = None
        self.ready = asyncio.Event()
        self._done: dict[TopicPartition, OffsetAndMetadata] = {}
        self._committed_at = 0.0

    # -- the consumer ----------------------------------------------------------------------------
    @property
    def group(self) -> str:
        return f"{self.bus.settings.app_id}.{self.name}"

    def topics(self) -> list[str]: ...                      # each stage names its topics

    def listener(self):
        return None

    async def on_start(self) -> None:
        settings = self.bus.settings
        self.consumer = AIOKafkaConsumer(
            group_id=self.group, client_id=f"{self.group}-{id(self):x}", enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=settings.fetch_max_wait_ms,
            max_poll_records=settings.stage_batch, max_partition_fetch_bytes=4 * settings.max_event_bytes,
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
            rebalance_timeout_ms=int(settings.rebalance_timeout_s * 1000),
            max_poll_interval_ms=int(settings.max_poll_interval_s * 1000), **self.bus.kafka_options())
        listener = self.listener()
        if listener is not None:
            self.consumer.subscribe(self.topics(), listener=listener)
        else:
            self.consumer.subscribe(self.topics())
        await self.consumer.start()

    async def on_stop(self) -> None:
        if self.consumer is not None:
            try:
                await self.commit({}, force=True)
            except Exception:  # noqa: BLE001 - the broker may be gone; the records are read again then
                log.warning("%s: last offsets not committed at stop", self.name)
            await self.consumer.stop()

    @mode.Service.task
    async def _run(self) -> None:
        assert self.consumer is not None
        while not self.should_stop:
            batch = await self.fetch()
            if batch and not self.ready.is_set():
                self.ready.set()
            await self.step(batch)

    async def fetch(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        assert self.consumer is not None
        return await self.consumer.getmany(timeout_ms=self.wait_ms, max_records=self.bus.settings.stage_batch)

    async def step(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None: ...  # what one step does

    async def commit(self, batch: dict[TopicPartition, list[ConsumerRecord]], force: bool = False) -> None:
        """Note the batch as done, and commit the group's offsets at most every COMMIT_SECONDS: a
        record read again after a crash is harmless (every stage is idempotent; the core stage's own
        record of where it stands is in the ledger), and a commit per step would cost each event a
        round trip to the broker."""
        assert self.consumer is not None
        for tp, records in batch.items():
            if records:
                self._done[tp] = OffsetAndMetadata(records[-1].offset + 1, "")
        if not self._done or (not force and time.monotonic() - self._committed_at < COMMIT_SECONDS):
            return
        offsets, self._done, self._committed_at = self._done, {}, time.monotonic()
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on (a rebalance): the new owner reads these again; every stage is
            # idempotent (the core stage continues from the ledger's position anyway).
            log.warning("%s: offsets not committed (%s); the records will be read again", self.name,
                        type(exc).__name__)

    # -- the one failure policy ------------------------------------------------------------------
    @contextmanager
    def guard(self, record: ConsumerRecord, failures: list[dict], decoded: dict | None = None) -> Iterator[None]:
        """Run one record's processing; any failure becomes a counted, recorded dead letter."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, never swallowed
            reason = str(exc) if isinstance(exc, StageFailed) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, StageFailed):
                log.exception("%s stage failed on %s[%s]@%s", self.name, record.topic, record.partition, record.offset)
            failures.append(self.failure(record, reason, decoded))

    def failure(self, record: ConsumerRecord, reason: str, decoded: dict | None = None) -> dict:
        self.bus.metrics.stage_failed(self.name)
        return reject("STAGE_FAILED", f"the {self.name} stage could not process this record: {reason}",
                      record.value, origin_of(record), decoded or {}, datetime.now(timezone.utc),
                      stage=self.name).dead_letter
