"""Publisher SDK for MES/LIMS/QMS integrations: validate, encode, send, confirm.

    from streams.publisher import Publisher
    with Publisher.from_settings(Settings()) as pub:
        event_id = pub.publish({"event_type": "deviation.reported", ...})

Nothing is sent unless the event fits its schema; the error names each field at fault.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Callable, Iterable

from kafka import KafkaProducer
from kafka.errors import KafkaError

from schemas import SchemaSet, default_schemas
from streams.codec import Codec
from streams.registry import registry_from_settings
from streams.topics import TopicCatalogue, item_key
from streams.validation import EventInvalid, Problem, validate_event


log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not confirm the event; it may not have been stored."""


class EventTooLarge(EventInvalid):
    def __init__(self, size: int, limit: int):
        super().__init__([Problem("", f"event is {size} bytes encoded; the limit is {limit} bytes. "
                                      "Attach large documents by reference (a document id or URL) instead")],
                         "TOO_LARGE")


def complete(event: dict, now: datetime | None = None) -> dict:
    """Fill what a publisher may leave out: a new event_id and the publication time."""
    event = dict(event)
    event.setdefault("event_id", str(uuid.uuid4()))
    event.setdefault("published_at", now or datetime.now(timezone.utc))
    return event


class Publisher:
    def __init__(self, producer: KafkaProducer, codec: Codec, catalogue: TopicCatalogue,
                 max_event_bytes: int = 1_048_576, signer: Callable[[dict], dict] | None = None,
                 send_timeout_s: float = 30.0):
        self.producer = producer
        self.codec = codec
        self.catalogue = catalogue
        self.max_event_bytes = max_event_bytes
        self.signer = signer
        self.send_timeout_s = send_timeout_s

    @classmethod
    def from_settings(cls, settings, schemas: SchemaSet | None = None, **kw) -> "Publisher":
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all", enable_idempotence=True, linger_ms=5, retries=5,
            request_timeout_ms=int(settings.request_timeout_s * 1000),
            client_id="qbus-publisher", **settings.kafka_client_config())
        schemas = schemas or default_schemas()
        return cls(producer, Codec(registry_from_settings(settings), schemas),
                   TopicCatalogue.from_settings(settings), settings.max_event_bytes, **kw)

    def encode(self, event: dict) -> tuple[str, dict, bytes]:
        """Validate and encode without sending: (topic, normalized event, bytes)."""
        event = complete(event)
        category, value = validate_event(event, self.codec.schemas)
        if self.signer is not None:
            value = self.signer(value)
        data = self.codec.encode_event(value)
        if len(data) > self.max_event_bytes:
            raise EventTooLarge(len(data), self.max_event_bytes)
        if category.emitted_by_bus:
            raise EventInvalid([Problem("event_type", f"'{category.category}' records are emitted by "
                                                      "the bus itself and cannot be published")],
                               "UNKNOWN_EVENT_TYPE")
        return self.catalogue.intake(category.category), value, data

    def publish(self, event: dict) -> str:
        """Send one event and wait until the broker confirms it. Returns its event_id."""
        topic, value, data = self.encode(event)
        try:
            self.producer.send(topic, key=item_key(value), value=data).get(timeout=self.send_timeout_s)
        except KafkaError as exc:
            raise PublishError(f"broker did not confirm event {value['event_id']} on {topic}: {exc}") from exc
        return value["event_id"]

    def publish_many(self, events: Iterable[dict]) -> list[str]:
        """Validate every event first, so a bad one in the list sends nothing; then send all."""
        prepared = [self.encode(e) for e in events]
        futures = [(v["event_id"], self.producer.send(t, key=item_key(v), value=d)) for t, v, d in prepared]
        ids = []
        for event_id, future in futures:
            try:
                future.get(timeout=self.send_timeout_s)
            except KafkaError as exc:
                raise PublishError(f"broker did not confirm event {event_id}: {exc}") from exc
            ids.append(event_id)
        return ids

    def close(self) -> None:
        """Send what is buffered and close; bounded, so a dead broker cannot hang the caller."""
        try:
            self.producer.flush(timeout=self.send_timeout_s)
        except KafkaError as exc:
            log.warning("publisher: unsent events dropped at close (not confirmed by the broker): %s", exc)
        self.producer.close(timeout=self.send_timeout_s)

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
