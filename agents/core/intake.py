"""Intake checks: decode, validate and admit what source systems publish; refuse nothing silently.

A pure class (`Intake`); the worker's intake stage is a thin loop around it: each record either
goes on, stamped with the bus's receipt, to the core stage, or becomes a dead letter with the
original bytes, where it came from and a reason a person can act on. Count in = accepted +
dead-lettered. Duplicates are the core stage's business: it asks the ledger, which every worker
shares, whether an event id was recorded before.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from streams.codec import Codec, Decoded, DecodeError
from streams.validation import EventInvalid, validate_decoded

log = logging.getLogger(__name__)

DEAD_LETTER_NAMESPACE = uuid.UUID("3c1b7a52-0f4e-5d6a-9b8c-1e2f3a4b5c6d")
# A dead letter keeps at most this much of the refused bytes, so it stays within the size limit itself.
KEPT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Origin:
    topic: str
    partition: int
    offset: int
    key: bytes | None

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class Accepted:
    event: dict           # validated, with the bus's receipt
    urgent: bool          # may be a significant risk (Art. 5): the core stage takes it ahead of a backlog


@dataclass(frozen=True)
class Rejected:
    dead_letter: dict
    event_type: str | None = None     # where it could be read (the metrics name it)

    @property
    def reason(self) -> str:
        return self.dead_letter["reason"]


class Refusal(Exception):
    """A check refuses the event. ``operator``: the sender is not a party of the agreement the event
    names, so the dead letter goes to the operator's chain instead of that agreement's."""

    def __init__(self, reason_code: str, reason: str, operator: bool = False):
        self.reason_code = reason_code
        self.operator = operator
        super().__init__(reason)


# A further check on a valid event (agreement, sender, signature, a rule's refusal): raise Refusal.
EventCheck = Callable[[dict, datetime], None]


def receipt(origin: Origin, received_at: datetime) -> dict:
    """The bus's own note of when and where it received an event (the envelope's ``receipt``)."""
    return {"received_at": received_at, "topic": origin.topic, "partition": origin.partition, "offset": origin.offset}


class Intake:
    def __init__(self, codec: Codec, topic_category: Callable[[str], str | None],
                 max_event_bytes: int = 1_048_576, checks: list[EventCheck] | None = None,
                 urgent: Callable[[dict], bool] = lambda event: False):
        """``urgent``: whether an accepted event may be a significant risk (Art. 5)."""
        self.codec = codec
        self.topic_category = topic_category
        self.max_event_bytes = max_event_bytes
        self.checks = list(checks or [])
        self.urgent = urgent

    def peek(self, value: bytes | None) -> Decoded | None:
        """The record decoded, or None where it does not decode (`check` will say why)."""
        try:
            return self._decode(value)
        except Refusal:
            return None

    def may_be_urgent(self, record: Decoded | None) -> bool:
        """Art. 5: whether a decoded record may be a significant risk, to be checked first."""
        try:
            return record is not None and self.urgent(record.value)
        except Exception:  # noqa: BLE001 - a record this odd is checked in its turn, and refused there
            return False

    def check(self, value: bytes | None, origin: Origin, received_at: datetime | None = None,
              decoded_record: Decoded | None = None) -> Accepted | Rejected:
        """``decoded_record``: the record as `peek` decoded it (so it is decoded once)."""
        received_at = received_at or datetime.now(timezone.utc)
        decoded: dict = {}
        try:
            record = decoded_record or self._decode(value)
            decoded = record.value
            event = self._validate(record, origin, received_at)
        except Refusal as refusal:
            return reject(refusal.reason_code, str(refusal), value, origin, decoded, received_at,
                          operator=refusal.operator)
        except EventInvalid as invalid:
            return reject(invalid.reason_code, f"event does not fit its schema: {invalid}", value, origin, decoded,
                          received_at)
        return Accepted(event, self.urgent(event))

    def _decode(self, value: bytes | None) -> Decoded:
        if value is None:
            raise Refusal("UNDECODABLE", "record has no value (empty message)")
        if len(value) > self.max_event_bytes:
            # Tansu accepts records of any size; we do not (BROKER.md).
            raise Refusal("TOO_LARGE", f"record is {len(value)} bytes; the limit is {self.max_event_bytes}. "
                                       "Send large documents by reference")
        try:
            return self.codec.decode(value)
        except DecodeError as exc:
            raise Refusal("UNDECODABLE", f"cannot decode: {exc}") from exc

    def _validate(self, record: Decoded, origin: Origin, received_at: datetime) -> dict:
        event = record.value
        expected = self.topic_category(origin.topic)
        category_name = str(event.get("event_type", "")).split(".", 1)[0]
        if expected and category_name != expected:
            raise Refusal("SCHEMA_VIOLATION", f"a '{event.get('event_type')}' event was published on "
                                              f"{origin.topic}, which carries '{expected}' events only")
        category = validate_decoded(event, self.codec.schemas)
        if record.record_name != category.name:
            raise Refusal("SCHEMA_VIOLATION", f"a '{event['event_type']}' event was written with the "
                                              f"{record.record_name} schema; use {category.name}")
        if category.emitted_by_bus:
            raise Refusal("UNKNOWN_EVENT_TYPE", f"'{category.category}' records are written by the bus itself")
        # The bus's receipt replaces anything a publisher put there: it is the bus's own clock.
        event["receipt"] = receipt(origin, received_at)
        for check in self.checks:
            check(event, received_at)
        return event


def dead_letter_id(origin: Origin, reason_code: str, stage: str) -> str:
    """Derived from where the record came from, so a record read twice is refused once."""
    return str(uuid.uuid5(DEAD_LETTER_NAMESPACE, f"{stage}|{origin.topic}|{origin.partition}|{origin.offset}|{reason_code}"))


def reject(code: str, reason: str, value: bytes | None, origin: Origin, decoded: dict, received_at: datetime,
           *, operator: bool = False, stage: str = "intake") -> Rejected:
    """The dead letter for a refused record: its bytes (at most `KEPT_BYTES`), origin and reason."""
    log.warning("dead-lettered %s at %s: %s: %s", origin, stage, code, reason)
    claimed = _text(decoded.get("agreement_id"))
    value = value or b""
    cut = len(value) > KEPT_BYTES
    return Rejected(event_type=_text(decoded.get("event_type")), dead_letter={
        "dead_letter_id": dead_letter_id(origin, code, stage),
        "reason_code": code,
        "reason": reason,
        "original_topic": origin.topic,
        "original_partition": origin.partition,
        "original_offset": origin.offset,
        "original_key": origin.key[:KEPT_BYTES] if origin.key else origin.key,
        "original_value": value[:KEPT_BYTES],
        "original_size": len(value) if cut else None,
        "original_sha256": hashlib.sha256(value).hexdigest() if cut else None,
        "event_id": _text(decoded.get("event_id")),
        "agreement_id": None if operator else claimed,
        "claimed_agreement_id": claimed if operator else None,
        "received_at": received_at,
        "stage": stage,
    })


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None
