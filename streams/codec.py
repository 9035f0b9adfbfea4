"""Confluent wire format: magic byte 0, 4-byte big-endian schema id, Avro binary (fastavro)."""
from __future__ import annotations

import io
import json
import struct
import uuid
from dataclasses import dataclass

import fastavro

from schemas import SchemaSet, default_schemas
from streams.registry import RegistryError, SchemaRegistry

MAGIC = 0
HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """The bytes are not a qbus record this codec can read; the message says why."""


@dataclass(frozen=True)
class Decoded:
    record_name: str
    value: dict
    schema_id: int


class Codec:
    def __init__(self, registry: SchemaRegistry, schemas: SchemaSet | None = None):
        self.registry = registry
        self.schemas = schemas or default_schemas()
        self._writer_ids: dict[str, int] = {}
        self._parsed_by_id: dict[int, tuple[str, dict]] = {}

    def _schema_id(self, name: str, canonical: str) -> int:
        if name not in self._writer_ids:
            self._writer_ids[name] = self.registry.register(name, canonical)
        return self._writer_ids[name]

    def _encode(self, name: str, canonical: str, parsed: dict, value: dict) -> bytes:
        out = io.BytesIO()
        out.write(HEADER.pack(MAGIC, self._schema_id(name, canonical)))
        fastavro.schemaless_writer(out, parsed, value)
        return out.getvalue()

    def encode_event(self, event: dict) -> bytes:
        """Encode a validated event (see streams.validation.validate_event)."""
        category = self.schemas.for_event_type(event["event_type"])
        if category is None:
            raise ValueError(f"unknown event type {event['event_type']!r}")
        return self._encode(category.name, category.canonical, category.parsed, event)

    def encode_dead_letter(self, record: dict) -> bytes:
        schema = self.schemas.dead_letter
        name = f"{schema['namespace']}.{schema['name']}"
        canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return self._encode(name, canonical, self.schemas.dead_letter_parsed, record)

    def _reader(self, schema_id: int) -> tuple[str, dict, dict]:
        if schema_id not in self._parsed_by_id:
            try:
                writer = json.loads(self.registry.schema_by_id(schema_id))
            except RegistryError as exc:
                raise DecodeError(str(exc)) from exc
            name = f"{writer.get('namespace')}.{writer.get('name')}"
            self._parsed_by_id[schema_id] = (name, fastavro.parse_schema(writer))
        name, writer = self._parsed_by_id[schema_id]
        # Read with today's schema when we know the record, so older writers resolve to it.
        local = self.schemas.by_name.get(name)
        if local is not None:
            reader = local.parsed
        elif name == f"{self.schemas.dead_letter['namespace']}.{self.schemas.dead_letter['name']}":
            reader = self.schemas.dead_letter_parsed
        else:
            reader = writer
        return name, writer, reader

    def decode(self, data: bytes) -> Decoded:
        if not isinstance(data, (bytes, bytearray)) or len(data) < HEADER.size:
            raise DecodeError("too short to be a qbus record (expected magic byte and a 4-byte schema id)")
        magic, schema_id = HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(f"first byte is {data[0]:#04x}, not the Confluent magic byte 0x00: "
                              "the publisher did not use the qbus/Confluent Avro wire format")
        name, writer, reader = self._reader(schema_id)
        try:
            value = fastavro.schemaless_reader(io.BytesIO(data[HEADER.size:]), writer, reader)
        except Exception as exc:  # fastavro raises many kinds on garbage
            raise DecodeError(f"Avro body does not match schema id {schema_id} ({name}): "
                              f"{type(exc).__name__}: {exc}") from exc
        return Decoded(name, _plain(value), schema_id)


def _plain(value):
    """fastavro turns uuid-typed strings into UUID objects; qbus keeps ids as text everywhere."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
