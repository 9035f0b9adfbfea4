"""Canonical bytes of an event: the exact bytes that are hashed into the ledger and signed.

Art. 14 asks that data be authentic and traceable. A signature or a hash is only worth something if
publisher and bus turn the same event into the same bytes, so both use this module (the publisher
SDK to sign, the bus to verify and to chain the ledger). The rules:

- JSON, keys sorted (by code point), no whitespace (``,`` and ``:`` separators), UTF-8 without
  ``\\u`` escapes for non-ASCII text (Chinese stays Chinese), no NaN or infinity;
- datetimes as ISO-8601 in UTC with millisecond precision and ``Z``
  (``2026-03-02T08:30:00.123Z``); finer digits are dropped, as Avro ``timestamp-millis`` drops them
  on the wire. A datetime without a time zone is refused: its instant is unknown;
- dates as ``YYYY-MM-DD``; bytes as standard base64; UUIDs and Decimals as their string form;
  enums as their value; tuples as lists. Sets are refused (they have no order); object keys are
  strings (a number as a key is written as JSON writes it, ``"1"``);
- floats as Python's shortest round-trip repr. A publisher in another language should send
  quantities as strings or integers if it must produce the same bytes itself;
- for signing (version 2), the top-level ``signature`` (it cannot sign itself) and ``receipt`` (the
  bus sets it after the publisher signed) are left out, and so is every field, at any depth, whose
  value is null or an empty list or map: a field a later schema adds (always with such a default)
  then changes no signature made before the publisher knew of it. Version 1 signatures (the whole
  event but ``signature``, nulls included) still verify: `signing_forms` yields both.

The output is idempotent: ``canonical_bytes(json.loads(canonical_bytes(x))) == canonical_bytes(x)``,
which lets an offline verifier re-hash records read back from JSON.
"""
from __future__ import annotations

import base64
import enum
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

SIGNATURE_FIELD = "signature"
RECEIPT_FIELD = "receipt"
_UNSIGNED_FIELDS = frozenset({SIGNATURE_FIELD, RECEIPT_FIELD})


def format_timestamp(moment: datetime) -> str:
    """A tz-aware datetime as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` in UTC (milliseconds, truncated)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone; canonical form needs an instant")
    u = moment if moment.tzinfo is timezone.utc else moment.astimezone(timezone.utc)
    return u.isoformat(timespec="milliseconds")[:-6] + "Z"   # "...T08:30:00.123+00:00" -> "...T08:30:00.123Z"


def parse_timestamp(text: str | datetime) -> datetime:
    """Inverse of `format_timestamp`; also accepts any ISO-8601 string with an offset."""
    if isinstance(text, datetime):
        moment = text
    else:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return truncate_to_millis(moment.astimezone(timezone.utc))


def truncate_to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class _PathError(Exception):
    """Carries the path of the value at fault up the recursion, built only when something fails."""

    def __init__(self, error: Exception, path: str = ""):
        self.error, self.path = error, path


def _value(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _PathError(TypeError(f"object keys must be strings, got {type(key).__name__} {key!r}"))
            try:
                out[key] = _value(item)
            except _PathError as failure:
                raise _PathError(failure.error, f".{key}{failure.path}") from None
        return out
    if kind is list or kind is tuple:
        out_list = []
        for index, item in enumerate(value):
            try:
                out_list.append(_value(item))
            except _PathError as failure:
                raise _PathError(failure.error, f"[{index}]{failure.path}") from None
        return out_list
    return _other(value)


def _other(value: Any) -> Any:
    if isinstance(value, bool) or isinstance(value, (str, int)):  # subclasses, e.g. str enums
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise _PathError(ValueError("NaN and infinity have no canonical JSON form"))
        return value
    if isinstance(value, enum.Enum):
        return _value(value.value)
    if isinstance(value, datetime):
        try:
            return format_timestamp(value)
        except ValueError as exc:
            raise _PathError(exc) from None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, Mapping):
        return _value(dict(value))
    if isinstance(value, list):
        return _value(list(value))
    raise _PathError(TypeError(f"{type(value).__name__} has no canonical JSON form"))


def to_canonical_value(value: Any) -> Any:
    """Turn a Python value into plain JSON types by the rules above; raise naming the path at fault."""
    try:
        return _value(value)
    except _PathError as failure:
        raise type(failure.error)(f"${failure.path}: {failure.error}") from None


def _default(value: Any) -> Any:
    """For `json.dumps`: the canonical form of what JSON has no type for (the rules above)."""
    if isinstance(value, (set, frozenset)):
        raise TypeError("a set has no order, so no canonical JSON form")
    try:
        return _other(value)
    except _PathError as failure:
        raise failure.error from None


def canonical_json(value: Any) -> str:
    """Deterministic JSON text of any JSON-able value (see the module docstring).

    The C encoder does the work, a hook giving datetimes, bytes and ids their form: the ledger
    hashes every record it keeps. What it refuses goes the long way round, so the error names
    the path of the value at fault."""
    try:
        return json.dumps(value, default=_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(to_canonical_value(value), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)


def canonical_bytes(value: Any) -> bytes:
    """Deterministic UTF-8 JSON bytes of any JSON-able value; for an event, all of it."""
    return canonical_json(value).encode("utf-8")


def _without_empties(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_empties(v) for k, v in value.items() if v is not None and v != [] and v != {}}
    if isinstance(value, (list, tuple)):
        return [_without_empties(v) for v in value]
    return value


def signing_bytes(event: Mapping[str, Any]) -> bytes:
    """The bytes a source system signs (version 2): the event without ``signature`` and ``receipt``,
    and without null or empty values at any depth."""
    return canonical_bytes(_without_empties({k: v for k, v in event.items() if k not in _UNSIGNED_FIELDS}))


def signing_forms(event: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The bytes a signature may cover: version 2 (`signing_bytes`), then version 1 (everything but
    ``signature`` and ``receipt``, nulls included), which signatures made before version 2 used."""
    legacy = canonical_bytes({k: v for k, v in event.items() if k not in _UNSIGNED_FIELDS})
    return signing_bytes(event), legacy
