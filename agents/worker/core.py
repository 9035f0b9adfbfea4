"""The core stage: rules, clocks and routing for the manufacturers whose partitions this worker owns.

``qc.accepted`` (and ``qc.accepted.urgent``) are partitioned by manufacturer, so each partition
carries everything a rule needs together: a line's holders, a site's suspensions, an agreement's
clocks. Each worker of the group owns some partitions; for each it keeps one `Pipeline` and, on
gaining it, rebuilds that state from the ledger records of the partition's agreements alone.

One step = the records fetched (urgent ones first, so a significant risk never waits behind a
backlog, Art. 5) plus the clocks that fell due, turned into records by the pure pipeline, appended
to the ledger in ONE transaction together with the consumer positions they cover, and only then
sent. On gaining a partition the stage continues from the position in the ledger, not from the
group's offset, and sends the last recorded step's output again (sends are at least once).

Duplicates are decided here, against the shared ledger: an event id already recorded from the
same intake record is a redelivery and produces nothing; from another record it is a duplicate
publication and is dead-lettered (``DUPLICATE``) with where it was first accepted.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition

from agents.core.intake import Origin, reject
from agents.record.ledger import Position
from agents.worker.bus import EVENT_ID_HEADER, Bus
from agents.worker import partitions
from agents.worker.partitions import Partition
from agents.worker.stage import Stage, StageFailed
from streams.canonical import canonical_json
from streams.codec import DecodeError
from streams.topics import partition_for

log = logging.getLogger(__name__)
STAGE = "core"
GAUGE_SECONDS = 5.0
TICK_SECONDS = 0.25


class CoreStage(Stage):
    name = STAGE
    wait_ms = int(TICK_SECONDS * 1000)

    def __init__(self, bus: Bus, **kwargs):
        super().__init__(bus, **kwargs)
        self.parts: dict[int, Partition] = {}
        self.next_offsets: dict[TopicPartition, int] = {}
        self.last_keys: dict[TopicPartition, str | None] = {}
        self.lock = asyncio.Lock()
        self.partition_count = 0
        self._preparing: dict[int, asyncio.Future] = {}
        self._last_gauges = 0.0
        self._gauged: set[tuple[str, str]] = set()

    def topics(self) -> list[str]:
        return [self.bus.catalogue.accepted, self.bus.catalogue.urgent]

    def listener(self):
        return _Rebalance(self)

    # -- one step --------------------------------------------------------------------------------
    async def fetch(self) -> dict[TopicPartition, list[ConsumerRecord]]:
        assert self.consumer is not None
        mine = [tp for tp in self.consumer.assignment() if tp.partition in self.parts]
        urgent = [tp for tp in mine if tp.topic == self.bus.catalogue.urgent]
        if urgent:
            # Art. 5: a possible significant risk is taken before anything queued on qc.accepted.
            found = await self.consumer.getmany(*urgent, timeout_ms=0, max_records=self.bus.settings.stage_batch)
            if found:
                return found
        normal = [tp for tp in mine if tp.topic == self.bus.catalogue.accepted]
        if not normal:
            await asyncio.sleep(self.wait_ms / 1000)
            return {}
        return await self.consumer.getmany(*normal, timeout_ms=self.wait_ms, max_records=self.bus.settings.stage_batch)

    async def step(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        async with self.lock:
            # A partition handed over between the fetch and now is not ours to process or commit.
            batch = {tp: records for tp, records in batch.items() if tp.partition in self.parts}
            now = datetime.now(timezone.utc)
            with self.bus.metrics.time_processing(STAGE):
                with self.bus.metrics.time_phase(STAGE, "decide"):
                    items, deliveries, touched = await self._decide(batch, now)
                for part in self.parts.values():
                    ticked = part.pipeline.tick(now).records
                    if ticked:
                        touched.setdefault(part.number, []).extend(range(len(items), len(items) + len(ticked)))
                        items += ticked
                if items or batch:
                    positions = self._positions(batch, touched)
                    results = await self.bus.record_and_send(items, deliveries, positions, STAGE)
                    self.bus.metrics.step_records.labels(stage=STAGE).observe(len(items))
                    for number, indices in touched.items():
                        part = self.parts.get(number)
                        for i in indices if part is not None else ():
                            part.saw(results[i].seq, results[i].record_key, results[i].hash)
                await self._checkpoint_due()
            with self.bus.metrics.time_phase(STAGE, "commit"):
                await self.commit(batch)
            self._gauges(now)

    async def _decide(self, batch, now: datetime):
        """The records this batch produces, partition by partition (their indices by partition)."""
        decoded: dict[tuple[TopicPartition, int], dict] = {}
        failures: dict[TopicPartition, list[dict]] = {}
        for tp, records in batch.items():
            for record in records:
                with self.guard(record, failures.setdefault(tp, [])):
                    decoded[(tp, record.offset)] = self._decode(record)
        ids = [e["event_id"] for e in decoded.values()]
        stored = await asyncio.to_thread(self.bus.ledger.get_many, ids) if ids else {}
        items: list[dict] = []
        deliveries: dict = {}
        touched: dict[int, list[int]] = {}
        seen: dict[str, dict] = {}
        for tp, records in batch.items():
            part = self.parts.get(tp.partition)
            start = len(items)
            items += failures.get(tp, [])
            for record in records:
                event = decoded.get((tp, record.offset))
                if event is None or part is None:
                    continue
                duplicate = self._duplicate(event, record, stored, seen)
                if duplicate is not None:
                    if duplicate:
                        items.append(duplicate)
                    continue
                seen[event["event_id"]] = event
                step = part.pipeline.process(event, now)
                if step.refusal is not None:
                    items.append(self._refused(record, event, step.refusal))
                    continue
                items += step.records
                deliveries.update(step.deliveries)
                items += [self.failure(record, reason, failed) for failed, reason in step.failures]
            touched.setdefault(tp.partition, []).extend(range(start, len(items)))
        return items, deliveries, touched

    def _decode(self, record: ConsumerRecord) -> dict:
        try:
            return self.bus.codec.decode(record.value).value
        except DecodeError as exc:
            raise StageFailed(f"an accepted record no longer decodes: {exc}") from exc

    def _duplicate(self, event: dict, record: ConsumerRecord, stored: dict, seen: dict) -> dict | None:
        """None: a new event. {}: a redelivery of a recorded one (nothing to do). A dead letter: a
        second publication of an event id (the same content or not)."""
        event_id = event["event_id"]
        first = seen.get(event_id)
        first_receipt = (first or {}).get("receipt")
        if first is None and event_id in stored:
            first = stored[event_id].data
            first_receipt = first.get("receipt")
        if first is None:
            return None
        here = event.get("receipt") or {}
        where = _where(first_receipt)
        if first_receipt and all(first_receipt.get(k) == here.get(k) for k in ("topic", "partition", "offset")):
            return {}  # the same intake record read again after a crash: recorded already, once
        same = _content(first) == _content(event)
        reason = (f"event_id {event_id} was already accepted{where}; publish a correction with a new event_id and "
                  "corrects_event_id instead of re-sending" if same else
                  f"event_id {event_id} was already accepted{where} with different content; publish a correction "
                  "with a new event_id")
        return reject("DUPLICATE", reason, record.value, _intake_origin(event, record), event,
                      datetime.now(timezone.utc), stage=STAGE).dead_letter

    def _refused(self, record: ConsumerRecord, event: dict, refusal) -> dict:
        return reject(refusal.reason_code, f"{refusal.article} ({refusal.rule_id}): {refusal.reason}", record.value,
                      _intake_origin(event, record), event, datetime.now(timezone.utc), stage=STAGE).dead_letter

    def _positions(self, batch, touched: dict[int, list[int]]) -> list[Position]:
        """Every partition the step read or produced for: where it now stands, and its records."""
        for tp, records in batch.items():
            if records:
                self.next_offsets[tp] = records[-1].offset + 1
                self.last_keys[tp] = _header(records[-1], EVENT_ID_HEADER)
        positions = []
        accepted = self.bus.catalogue.accepted
        for tp, offset in self.next_offsets.items():
            if tp.partition not in self.parts:
                continue
            read = tp in batch
            # A tick's records go with the partition's qc.accepted position, so they are sent again too.
            items = tuple(touched.get(tp.partition, ())) if tp.topic == accepted else ()
            if read or items:
                positions.append(Position(STAGE, tp.topic, tp.partition, offset, self.last_keys.get(tp), items))
        return positions

    # -- gaining and losing partitions -----------------------------------------------------------
    async def gain(self, assigned: set[TopicPartition]) -> None:
        """Called in the rebalance: pause what is not ready and prepare it in the background, so a
        long rebuild never holds up the group (the other workers keep their partitions meanwhile)."""
        assert self.consumer is not None
        self.partition_count = len(self.consumer.partitions_for_topic(self.bus.catalogue.accepted) or ())
        waiting = [tp for tp in assigned if tp.partition not in self.parts]
        if waiting:
            self.consumer.pause(*waiting)
        for number in sorted({tp.partition for tp in waiting}):
            if number not in self._preparing:
                self._preparing[number] = asyncio.ensure_future(self._prepare(number))
        async with self.lock:
            for tp in assigned:
                if tp.partition in self.parts:
                    await self._resume(tp)
        if not self._preparing:
            self.ready.set()

    async def _prepare(self, number: int) -> None:
        started = time.monotonic()
        try:
            part, how = await asyncio.to_thread(partitions.restore, self.bus.ledger, self.bus.agreements,
                                                self.bus.schemas, self.bus.catalogue.accepted,
                                                self.partition_count, number)
            async with self.lock:
                mine = [tp for tp in self.consumer.assignment() if tp.partition == number] if self.consumer else []
                if not mine:
                    return   # handed to another worker while it was being prepared
                self.parts[number] = part
                for tp in mine:
                    await self._resume(tp)
                self.consumer.resume(*mine)
            log.info("core: partition %d gained (%d agreements); state rebuilt %s in %.1f s", number,
                     len(part.agreement_ids), how, time.monotonic() - started)
        except Exception:
            log.exception("core: partition %d could not be prepared; it stays paused until the next rebalance", number)
            raise
        finally:
            self._preparing.pop(number, None)
            if not self._preparing and self.parts:
                self.ready.set()

    async def lose(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:   # after the step in hand is recorded and sent
            for tp in revoked:
                self.next_offsets.pop(tp, None)
                self.last_keys.pop(tp, None)
            still = {tp.partition for tp in (self.consumer.assignment() if self.consumer else set())} - \
                {tp.partition for tp in revoked}
            for number in set(self._preparing) - still:
                self._preparing.pop(number).cancel()
            for number in set(self.parts) - still:
                del self.parts[number]
                log.info("core: partition %d handed over to another worker", number)

    def adopt(self, agreement) -> None:
        """A new agreement (Art. 15: taken from the agreements topic): its partition now carries it."""
        if not self.partition_count:
            return
        number = partition_for(agreement.manufacturer.id, self.partition_count)
        part = self.parts.get(number)
        if part is not None:
            part.agreement_ids.add(agreement.agreement_id)

    # -- checkpoints -----------------------------------------------------------------------------
    async def _checkpoint_due(self, force: bool = False) -> None:
        """Write a checkpoint of each partition whose last one is old or far behind (held under the lock)."""
        settings = self.bus.settings
        for part in list(self.parts.values()):
            stale = time.monotonic() - part.checkpointed_at >= settings.checkpoint_interval_s
            if not part.since_checkpoint or not (force or stale or part.since_checkpoint >= settings.checkpoint_records):
                continue
            name, upto, body = partitions.snapshot(part, self.bus.catalogue.accepted, self.partition_count)
            await asyncio.to_thread(self.bus.ledger.save_checkpoint, name, upto, body)
            part.since_checkpoint, part.checkpointed_at = 0, time.monotonic()
            log.info("core: checkpoint of partition %d at seq %d (%d KiB)", part.number, upto, len(body) // 1024)

    async def on_stop(self) -> None:
        async with self.lock:
            try:
                await self._checkpoint_due(force=True)   # a clean stop restarts from here, not from a replay
            except Exception:  # noqa: BLE001 - a failed checkpoint only means a longer rebuild next time
                log.exception("core: the checkpoints at stop could not be written")
        await super().on_stop()

    async def _resume(self, tp: TopicPartition) -> None:
        """Continue after the last recorded step, and send that step's output again."""
        assert self.consumer is not None
        position = await asyncio.to_thread(self.bus.ledger.position, STAGE, tp.topic, tp.partition)
        if position is None:
            return  # never processed here: the group's offset (or the start) it is
        if not await self._same_topic(tp, position):
            log.warning("core: %s[%d] was re-created since offset %d was recorded (a memory broker restarted); "
                        "reading it from the start, the ledger knows what it has", tp.topic, tp.partition,
                        position.next_offset)
            await self.consumer.seek_to_beginning(tp)
            return
        self.consumer.seek(tp, position.next_offset)
        self.next_offsets[tp], self.last_keys[tp] = position.next_offset, position.last_key
        if position.last_seqs:
            records = await asyncio.to_thread(self.bus.ledger.by_seqs, position.last_seqs)
            await self.bus.send(self.bus.messages(self.bus.revive(records)))
            log.info("core: %s[%d] resumes at offset %d; the last step's %d records sent again (at least once)",
                     tp.topic, tp.partition, position.next_offset, len(records))

    async def _same_topic(self, tp: TopicPartition, position: Position) -> bool:
        """Whether the record before the position is the one recorded (else the topic is a new one)."""
        if position.next_offset == 0:
            return True
        probe = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="none", group_id=None,
                                 fetch_max_wait_ms=self.bus.settings.fetch_max_wait_ms, **self.bus.kafka_options())
        await probe.start()
        try:
            probe.assign([tp])
            probe.seek(tp, position.next_offset - 1)
            found = await probe.getmany(tp, timeout_ms=3000, max_records=1)
        except Exception:  # noqa: BLE001 - out of range: the offset does not exist in this topic
            return False
        finally:
            await probe.stop()
        records = found.get(tp) or []
        return bool(records) and records[0].offset == position.next_offset - 1 and \
            _header(records[0], EVENT_ID_HEADER) == position.last_key

    # -- gauges ----------------------------------------------------------------------------------
    def _gauges(self, now: datetime) -> None:
        if time.monotonic() - self._last_gauges < GAUGE_SECONDS:
            return
        self._last_gauges = time.monotonic()
        counts: dict[tuple[str, str], list[int]] = {}
        for part in self.parts.values():
            # Kept as the engine opens, satisfies and breaches: nothing here walks the open obligations.
            for key, count in part.pipeline.engine.counts(now).items():
                entry = counts.setdefault(key, [0, 0, 0])
                entry[0] += count.open
                entry[1] += count.due_soon
                entry[2] += count.overdue
        for agreement, category in self._gauged - set(counts):
            self.bus.metrics.set_obligations(agreement, category, 0, 0, 0)   # gone: zero, not stale
        for (agreement, category), (open_, due_soon, overdue) in counts.items():
            self.bus.metrics.set_obligations(agreement, category, open_, overdue, due_soon)
        self._gauged = set(counts)
        if self.consumer is not None:
            for tp in self.consumer.assignment():
                high = self.consumer.highwater(tp)
                if high is not None and tp in self.next_offsets:
                    self.bus.metrics.set_consumer_lag(self.group, tp.topic, tp.partition,
                                                      max(0, high - self.next_offsets[tp]))


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, stage: CoreStage):
        self.stage = stage

    async def on_partitions_revoked(self, revoked) -> None:
        await self.stage.lose(set(revoked))

    async def on_partitions_assigned(self, assigned) -> None:
        await self.stage.gain(set(assigned))


def _header(record: ConsumerRecord, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _where(receipt: dict | None) -> str:
    if not receipt:
        return ""
    return f" from {receipt.get('topic')}[{receipt.get('partition')}]@{receipt.get('offset')}"


def _content(event: dict) -> str:
    return canonical_json({k: v for k, v in event.items() if k != "receipt"})


def _intake_origin(event: dict, record: ConsumerRecord) -> Origin:
    """Where the publisher's record came in: the intake topic, partition and offset of the receipt."""
    receipt = event.get("receipt") or {}
    return Origin(receipt.get("topic") or record.topic, int(receipt.get("partition", record.partition)),
                  int(receipt.get("offset", record.offset)), record.key)

