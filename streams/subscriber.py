"""Read a topic's decoded records with kafka-python: for `qbus tail`, tests and holder systems.

`TopicReader` reads without a consumer group (it assigns every partition itself), so it never
waits on a rebalance and never moves anybody's committed offsets.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

from kafka import KafkaConsumer, TopicPartition

from streams.codec import Codec, DecodeError
from streams.registry import registry_from_settings


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: dict | None          # None when the bytes could not be decoded
    raw: bytes
    error: str | None = None


class TopicReader:
    def __init__(self, consumer: KafkaConsumer, codec: Codec, topic: str, from_beginning: bool = True):
        self.consumer = consumer
        self.codec = codec
        self.topic = topic
        partitions = None
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        if not partitions:
            raise LookupError(f"topic {topic} does not exist (run `qbus topics create`)")
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        (consumer.seek_to_beginning if from_beginning else consumer.seek_to_end)(*assigned)

    @classmethod
    def from_settings(cls, settings, topic: str, from_beginning: bool = True) -> "TopicReader":
        consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                                 group_id=None, fetch_max_wait_ms=100,
                                 request_timeout_ms=int(settings.request_timeout_s * 1000) + 5000,
                                 **settings.kafka_client_config())
        return cls(consumer, Codec(registry_from_settings(settings)), topic, from_beginning)

    def _decode(self, message) -> Record:
        try:
            value, error = self.codec.decode(message.value).value, None
        except DecodeError as exc:
            value, error = None, str(exc)
        return Record(message.topic, message.partition, message.offset, message.key, value,
                      message.value, error)

    def follow(self, idle_timeout: float | None = None) -> Iterator[Record]:
        """Yield records as they arrive; stop after `idle_timeout` seconds without one (None: never)."""
        last = time.monotonic()
        while True:
            batch = self.consumer.poll(timeout_ms=200)
            for messages in batch.values():
                for message in messages:
                    last = time.monotonic()
                    yield self._decode(message)
            if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                return

    def collect(self, until: Callable[[list[Record]], bool], timeout: float = 30.0,
                where: Callable[[Record], bool] = lambda r: True) -> list[Record]:
        """Read records matching `where` until `until(records)` holds or `timeout` passes.

        Counts by reading, never from end offsets (Tansu reports wrong end offsets).
        """
        found: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(found):
            for messages in self.consumer.poll(timeout_ms=200).values():
                found.extend(r for r in map(self._decode, messages) if where(r))
        return found

    def close(self) -> None:
        self.consumer.close()

    def __enter__(self) -> "TopicReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
