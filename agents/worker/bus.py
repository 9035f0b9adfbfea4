"""What every stage of the worker shares: settings, agreements, codec, topics, the ledger, one
producer, and the one way out (`Bus.send`).

The ledger is the commit point: a stage appends a step's records (and the consumer position they
cover) in one transaction, off the event loop, and only then sends what they imply. Sends after a
commit are at least once: a crash between the two sends the step's output again, with the same
keys and event ids, so every consumer (the dashboard, the API, the SDK reader) dedupes by event id.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from agents.core.agreements import AgreementSet
from agents.core.pipeline import outbound
from agents.record.ledger import AppendResult, Ledger, Position, open_ledger
from agents.worker.metrics import QbusMetrics
from schemas import SchemaSet, default_schemas
from streams.codec import Codec
from streams.registry import registry_from_settings
from streams.settings import Settings
from streams.topics import TopicCatalogue, item_key, record_key
from streams.validation import normalize, validate_event

log = logging.getLogger(__name__)
EVENT_ID_HEADER = "qbus-event-id"       # on every record the bus sends: the key consumers dedupe on
EVENT_TYPE_HEADER = "qbus-event-type"   # and what it is, so a consumer can pass over what it does not need unread


@dataclass(frozen=True)
class Message:
    topic: str
    value: bytes
    key: bytes | None
    partition: int | None = None
    event_id: str | None = None
    event_type: str | None = None

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        headers = [(EVENT_ID_HEADER, self.event_id.encode())] if self.event_id else []
        if self.event_type:
            headers.append((EVENT_TYPE_HEADER, self.event_type.encode()))
        return headers


def load_agreements(settings: Settings) -> AgreementSet:
    folder = Path(settings.agreements_dir)
    if not folder.is_dir():
        log.warning("agreements folder %s not found: every event will be refused as UNKNOWN_AGREEMENT", folder)
        return AgreementSet()
    return AgreementSet.load_dir(folder, strict=False)


class Bus:
    def __init__(self, settings: Settings, schemas: SchemaSet | None = None, agreements: AgreementSet | None = None,
                 ledger: Ledger | None = None):
        self.settings = settings
        self.schemas = schemas or default_schemas()
        self.metrics = QbusMetrics(CollectorRegistry())
        self.catalogue = TopicCatalogue.from_settings(settings)
        self.codec = Codec(registry_from_settings(settings), self.schemas)
        self.agreements = agreements if agreements is not None else load_agreements(settings)
        self.ledger = ledger or open_ledger(settings.ledger)
        self._intake_by_topic = {self.catalogue.intake(c): c for c in self.schemas.intake_categories}
        self.producer: AIOKafkaProducer | None = None

    def category_of_topic(self, topic: str) -> str | None:
        return self._intake_by_topic.get(topic)

    # -- Kafka clients, configured once for every stage -------------------------------------------
    def kafka_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"bootstrap_servers": self.settings.bootstrap_servers,
                                   "security_protocol": self.settings.security_protocol,
                                   "request_timeout_ms": int(self.settings.request_timeout_s * 1000)}
        if self.settings.sasl_mechanism:
            password = self.settings.sasl_password
            options.update(sasl_mechanism=self.settings.sasl_mechanism,
                           sasl_plain_username=self.settings.sasl_username,
                           sasl_plain_password=password.get_secret_value() if password else None)
        return options

    async def start(self) -> None:
        # acks=all without the idempotent producer: aiokafka's InitProducerId v0 is refused by Tansu,
        # so every consumer is idempotent by event id instead (BROKER.md).
        self.producer = AIOKafkaProducer(acks="all", linger_ms=self.settings.producer_linger_ms,
                                         # an event at the limit, plus the receipt the bus adds to it
                                         max_request_size=self.settings.max_event_bytes + 65_536,
                                         client_id=f"{self.settings.app_id}-producer", **self.kafka_options())
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()
        self.ledger.close()

    # -- the way out ----------------------------------------------------------------------------
    async def append(self, items: Sequence[dict], positions: Sequence[Position] = ()) -> list[AppendResult]:
        """One ledger transaction, off the event loop."""
        return await asyncio.to_thread(self.ledger.append, list(items), list(positions))

    def messages(self, records: Iterable[dict], deliveries=None) -> list[Message]:
        """The bus's messages for recorded records: each to its topic (`agents.core.pipeline.outbound`)."""
        out = []
        for where, record in outbound(records, deliveries, self.agreements, self.schemas):
            if where == "deadletter":
                key = record.get("original_key") or (record.get("agreement_id") or "").encode() or None
                out.append(Message(self.catalogue.dead_letters, self.codec.encode_dead_letter(record), key))
            elif where == "bus":
                category = record["event_type"].split(".", 1)[0]
                out.append(Message(self.catalogue.bus(category), self.codec.encode_event(record), record_key(record),
                                   event_id=record["event_id"], event_type=record["event_type"]))
            else:  # Art. 10: a holder's copy goes to that holder's own inbox topic only
                holder = where.split(":", 1)[1]
                out.append(Message(self.catalogue.inbox(holder), self.codec.encode_event(record), item_key(record),
                                   event_id=record["event_id"], event_type=record["event_type"]))
        return out

    def revive(self, records: Iterable[Any]) -> list[dict]:
        """Ledger records as the Avro-ready dicts they were appended as (to send them again)."""
        out = []
        for record in records:
            data = record.data
            if record.kind == "dead_letter":
                out.append(normalize(self.schemas.dead_letter, data))
            else:
                out.append(validate_event(data, self.schemas)[1])
        return out

    async def send(self, messages: Sequence[Message]) -> None:
        """Send and wait until the broker confirmed every message."""
        assert self.producer is not None, "the bus's producer is not started"
        futures = [await self.producer.send(m.topic, m.value, key=m.key, partition=m.partition, headers=m.headers)
                   for m in messages]
        if futures:
            await asyncio.gather(*futures)

    def count(self, records: Iterable[dict]) -> None:
        """The metrics of what a step recorded: escalation steps, suspension directives, dead letters."""
        for record in records:
            if "dead_letter_id" in record:
                self.metrics.dead_lettered(record["reason_code"])
                continue
            kind = record.get("event_type")
            if kind == "escalation.raised":
                self.metrics.escalated(record["payload"]["step"])
            elif kind == "directive.issued" and record["payload"].get("directive") == "SUSPEND_PRODUCTION":
                self.metrics.directive_issued(record["agreement_id"], "production.suspended")

    async def record_and_send(self, records: Sequence[dict], deliveries=None,
                              positions: Sequence[Position] = (), stage: str = "other") -> list[AppendResult]:
        """Append records (and positions) in one transaction, then send what the new ones imply."""
        with self.metrics.time_phase(stage, "append"):
            results = await self.append(records, positions)
        fresh = [r for r, result in zip(records, results) if result.status == "appended"]
        self.count(fresh)
        with self.metrics.time_phase(stage, "send"):
            await self.send(self.messages(fresh, deliveries))
        return results
