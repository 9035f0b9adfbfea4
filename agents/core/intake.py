"""Intake checks: decode, validate and deduplicate what source systems publish; refuse nothing silently.

A pure class (`Intake`); the worker's intake agent is a thin loop around it: each record either
goes on to the accepted topic or to the dead-letter topic with its original bytes, where it came
from and a reason a person can act on. Count in = accepted + dead-lettered.
"""
from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from streams.codec import Codec, Decoded, DecodeError
from streams.validation import EventInvalid, validate_decoded

log = logging.getLogger(__name__)


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
    event: dict
    data: bytes


@dataclass(frozen=True)
class Rejected:
    dead_letter: dict

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


# A further check on a valid event (agreement known, sender in tenant, signature): raise Refusal.
EventCheck = Callable[[dict], None]


class DedupeWindow:
    """The most recent `capacity` event ids and where each was first accepted."""

    def __init__(self, capacity: int = 1_000_000):
        self.capacity = capacity
        self._seen: OrderedDict[str, tuple[str, int, int]] = OrderedDict()

    def first_seen(self, event_id: str) -> tuple[str, int, int] | None:
        return self._seen.get(event_id)

    def remember(self, event_id: str, origin: tuple[str, int, int]) -> None:
        self._seen[event_id] = origin
        self._seen.move_to_end(event_id)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)


LEDGER_ORIGIN = ("ledger", -1, -1)


class Intake:
    def __init__(self, codec: Codec, topic_category: Callable[[str], str | None],
                 max_event_bytes: int = 1_048_576, dedupe: DedupeWindow | None = None,
                 checks: list[EventCheck] | None = None,
                 recorded_identically: Callable[[dict], bool] = lambda event: False):
        """``recorded_identically``: whether the ledger holds exactly this event, so a copy of
        it delivered again after a restart is harmless rather than a duplicate publication."""
        self.recorded_identically = recorded_identically
        self.codec = codec
        self.topic_category = topic_category
        self.max_event_bytes = max_event_bytes
        self.dedupe = dedupe or DedupeWindow()
        self.checks = list(checks or [])

    def check(self, value: bytes | None, origin: Origin) -> Accepted | Rejected:
        decoded: dict = {}
        try:
            record = self._decode(value)
            decoded = record.value
            event = self._validate(record, origin)
        except Refusal as refusal:
            return self._reject(refusal.reason_code, str(refusal), value, origin, decoded, operator=refusal.operator)
        except EventInvalid as invalid:
            return self._reject(invalid.reason_code, f"event does not fit its schema: {invalid}",
                                value, origin, decoded)
        return Accepted(event, value)

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

    def _validate(self, record: Decoded, origin: Origin) -> dict:
        event = record.value
        expected = self.topic_category(origin.topic)
        category = str(event.get("event_type", "")).split(".", 1)[0]
        if expected and category != expected:
            raise Refusal("SCHEMA_VIOLATION", f"a '{event.get('event_type')}' event was published on "
                                              f"{origin.topic}, which carries '{expected}' events only")
        category = validate_decoded(event, self.codec.schemas)
        if record.record_name != category.name:
            raise Refusal("SCHEMA_VIOLATION", f"a '{event['event_type']}' event was written with the "
                                              f"{record.record_name} schema; use {category.name}")
        first = self.dedupe.first_seen(event["event_id"])
        if first == LEDGER_ORIGIN and self.recorded_identically(event):
            first = None  # accepted before a restart and re-delivered unchanged: idempotent, not a duplicate
        if first is not None and first != (origin.topic, origin.partition, origin.offset):
            topic, partition, offset = first
            raise Refusal("DUPLICATE", f"event_id {event['event_id']} was already accepted from "
                                       f"{topic}[{partition}]@{offset}; publish a correction with a new "
                                       "event_id and corrects_event_id instead of re-sending")
        for check in self.checks:
            check(event)
        return event

    def remember(self, accepted: Accepted, origin: Origin) -> None:
        """Call once the accepted event has been forwarded (so a crash before that re-delivers it)."""
        self.dedupe.remember(accepted.event["event_id"], (origin.topic, origin.partition, origin.offset))

    def conflict(self, accepted: Accepted, origin: Origin) -> Rejected:
        return self._reject("DUPLICATE", f"event_id {accepted.event['event_id']} is already in the ledger with "
                                         "different content; publish a correction with a new event_id",
                            accepted.data, origin, accepted.event)

    def seed(self, event_ids) -> int:
        """Remember ids accepted before a restart (from the ledger) so re-sends are recognised."""
        count = 0
        for count, event_id in enumerate(event_ids, 1):
            self.dedupe.remember(event_id, LEDGER_ORIGIN)
        return count

    def _reject(self, code: str, reason: str, value, origin: Origin, decoded: dict, operator: bool = False) -> Rejected:
        log.warning("dead-lettered %s: %s: %s", origin, code, reason)
        claimed = _text(decoded.get("agreement_id"))
        return Rejected({
            "dead_letter_id": str(uuid.uuid4()),
            "reason_code": code,
            "reason": reason,
            "original_topic": origin.topic,
            "original_partition": origin.partition,
            "original_offset": origin.offset,
            "original_key": origin.key,
            "original_value": value or b"",
            "event_id": _text(decoded.get("event_id")),
            "agreement_id": None if operator else claimed,
            "claimed_agreement_id": claimed if operator else None,
            "received_at": datetime.now(timezone.utc),
            "stage": "intake",
        })


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None
