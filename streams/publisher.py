"""Publisher SDK for MES/LIMS/QMS integrations: validate, encode, send, confirm.

    from streams.publisher import Publisher
    with Publisher.from_settings(Settings()) as pub:
        event_id = pub.publish({"event_type": "deviation.reported", ...})

Nothing is sent unless the event fits its schema; the error names each field at fault.
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple

from kafka import KafkaProducer
from kafka.errors import KafkaError

from schemas import SchemaSet, default_schemas
from streams.codec import Codec
from streams.outbox import Outbox
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


def key_signer(path: Path, key_id: str | None = None) -> Callable[[dict], dict]:
    """Sign with the private key in ``path`` under ``key_id`` (default: the key's fingerprint)."""
    from streams.signing import key_fingerprint, load_private_key, sign_event

    private = load_private_key(path)
    kid = key_id or key_fingerprint(private.public_key())
    return lambda event: sign_event(event, private, kid)


class BatchEventInvalid(EventInvalid):
    """One event of a batch does not fit; `index` says which (from 0), so nothing of the batch was sent."""

    def __init__(self, index: int, cause: EventInvalid):
        self.index = index
        self.cause = cause
        super().__init__(cause.problems, cause.reason_code)
        self.args = (f"event [{index}]: {cause}",)


class Reconciled(NamedTuple):
    recorded: int                          # the ledger has them: done
    resent: int                            # sent again, byte for byte
    refused: list[tuple[str, str]]         # (event_id, reason): dead-lettered by the bus; re-sending cannot help


def complete(event: dict, now: datetime | None = None) -> dict:
    """Fill what a publisher may leave out: a new event_id and the publication time."""
    event = dict(event)
    event.setdefault("event_id", str(uuid.uuid4()))
    event.setdefault("published_at", now or datetime.now(timezone.utc))
    return event


class Publisher:
    def __init__(self, producer: KafkaProducer, codec: Codec, catalogue: TopicCatalogue,
                 max_event_bytes: int = 1_048_576, signer: Callable[[dict], dict] | None = None,
                 send_timeout_s: float = 30.0, outbox: Outbox | None = None):
        self.producer = producer
        self.codec = codec
        self.catalogue = catalogue
        self.max_event_bytes = max_event_bytes
        self.signer = signer
        self.send_timeout_s = send_timeout_s
        self.outbox = outbox

    @classmethod
    def from_settings(cls, settings, schemas: SchemaSet | None = None, outbox: Path | None = None,
                      signing_key: Path | str | None = None, key_id: str | None = None, **kw) -> "Publisher":
        """A publisher from the bus settings. ``signing_key`` (a PEM file of the source's Ed25519
        private key) and ``key_id`` (as registered in the agreement) sign every event (Art. 14)."""
        if signing_key is not None:
            kw["signer"] = key_signer(Path(signing_key), key_id)
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            acks="all", enable_idempotence=True, linger_ms=5, retries=5,
            request_timeout_ms=int(settings.request_timeout_s * 1000),
            client_id="qbus-publisher", **settings.kafka_client_config())
        schemas = schemas or default_schemas()
        return cls(producer, Codec(registry_from_settings(settings), schemas),
                   TopicCatalogue.from_settings(settings), settings.max_event_bytes,
                   outbox=Outbox(outbox) if outbox else None, **kw)

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
        return self.publish_many([event])[0]

    def publish_many(self, events: Iterable[dict]) -> list[str]:
        """Validate every event first, so a bad one in the list sends nothing; then send all and
        wait for the broker to confirm each."""
        return self.send_encoded(self.encode_all(events))

    def encode_all(self, events: Iterable[dict]) -> list[tuple[str, dict, bytes]]:
        """`encode` each event, or raise for the first bad one (`BatchEventInvalid` names its index
        when there are several)."""
        events = list(events)
        prepared = []
        for index, event in enumerate(events):
            try:
                prepared.append(self.encode(event))
            except EventInvalid as exc:
                raise (BatchEventInvalid(index, exc) if len(events) > 1 else exc) from exc
        return prepared

    def send_encoded(self, prepared: list[tuple[str, dict, bytes]]) -> list[str]:
        """Send what `encode`/`encode_all` made and wait until the broker confirms each; the event ids."""
        return self._send([(v["event_id"], t, item_key(v), d) for t, v, d in prepared])

    def _send(self, parcels: list[tuple[str, str, bytes, bytes]]) -> list[str]:
        if self.outbox is not None:
            for event_id, topic, key, data in parcels:
                self.outbox.keep(event_id, topic, key, data)
        futures = [(event_id, topic, self.producer.send(topic, key=key, value=data))
                   for event_id, topic, key, data in parcels]
        ids = []
        for event_id, topic, future in futures:
            try:
                future.get(timeout=self.send_timeout_s)
            except KafkaError as exc:
                raise PublishError(f"broker did not confirm event {event_id} on {topic}: {exc}"
                                   + ("; it stays in the outbox and `reconcile` sends it again"
                                      if self.outbox is not None else "")) from exc
            if self.outbox is not None:
                self.outbox.confirmed(event_id)
            ids.append(event_id)
        return ids

    def reconcile(self, is_recorded: Callable[[str], bool], grace_s: float = 30.0) -> tuple[int, int]:
        """Compare the outbox with the ledger: mark what it holds, and send again, byte for byte,
        what it still lacks `grace_s` seconds after sending. Returns (recorded, resent)."""
        done = self.reconcile_status(lambda event_id: {"status": "recorded" if is_recorded(event_id) else "unknown"},
                                     grace_s)
        return done.recorded, done.resent

    def reconcile_status(self, status: Callable[[str], dict[str, Any]], grace_s: float = 30.0) -> Reconciled:
        """Like `reconcile`, asking `status(event_id)` for the bus's answer (``{"status": "recorded" |
        "dead_lettered" | "unknown", "reason": ...}``, as `streams.http_status.EventStatusClient`
        gives over HTTP): recorded ones are done, dead-lettered ones are reported and no longer
        re-sent, unknown ones are sent again after the grace period."""
        if self.outbox is None:
            raise ValueError("this publisher has no outbox to reconcile")
        recorded, resend, refused = 0, [], []
        for parcel in self.outbox.unrecorded():
            answer = status(parcel.event_id)
            if answer.get("status") == "recorded":
                self.outbox.recorded(parcel.event_id)
                recorded += 1
            elif answer.get("status") == "dead_lettered":
                reason = f"{answer.get('reason_code') or 'REFUSED'}: {answer.get('reason') or 'no reason given'}"
                self.outbox.refused(parcel.event_id, reason)
                refused.append((parcel.event_id, reason))
            elif time.time() - parcel.sent_at >= grace_s:
                resend.append((parcel.event_id, parcel.topic, parcel.key, parcel.value))
        if resend:
            self._send(resend)
        return Reconciled(recorded, len(resend), refused)

    def close(self) -> None:
        """Send what is buffered and close; bounded, so a dead broker cannot hang the caller."""
        try:
            self.producer.flush(timeout=self.send_timeout_s)
        except KafkaError as exc:
            log.warning("publisher: unsent events dropped at close (not confirmed by the broker): %s", exc)
        self.producer.close(timeout=self.send_timeout_s)
        if self.outbox is not None:
            self.outbox.close()

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
