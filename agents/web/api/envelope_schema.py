"""The event envelope as JSON Schema (for the OpenAPI document), derived from ``schemas/envelope.avsc``.

The payload is left an object here: each category's record is in the Schema Registry (subject
``qc.intake.<category>-value``) and in ``schemas/payloads/``; the gateway validates it in full.
"""
from __future__ import annotations

from schemas import SchemaSet

# The publisher SDK and the gateway fill these in when they are left out.
FILLED_IN = {"event_id", "published_at"}
_PRIMITIVES = {"string": "string", "boolean": "boolean", "int": "integer", "long": "integer",
               "float": "number", "double": "number", "bytes": "string", "null": "null"}


def _convert(schema, named: dict) -> dict:
    if isinstance(schema, list):
        return {"anyOf": [_convert(branch, named) for branch in schema]}
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return {"type": _PRIMITIVES[schema]}
        return _convert(named[schema.rsplit(".", 1)[-1]], named)
    logical = schema.get("logicalType")
    if logical in ("timestamp-millis", "timestamp-micros"):
        return {"type": "string", "format": "date-time", "description": "ISO-8601 with a time zone, e.g. 2026-11-20T08:30:00Z"}
    if logical == "date":
        return {"type": "string", "format": "date"}
    if logical == "uuid":
        return {"type": "string", "format": "uuid"}
    kind = schema["type"]
    if isinstance(kind, (dict, list)):
        return _convert(kind, named)
    if kind in ("record", "enum", "fixed"):
        named[schema["name"]] = schema
    if kind == "record":
        return _record(schema, named)
    if kind == "enum":
        return {"type": "string", "enum": [s for s in schema["symbols"] if s != "UNKNOWN"],
                "description": schema.get("doc", "") + " (any letter case)"}
    if kind == "array":
        return {"type": "array", "items": _convert(schema["items"], named)}
    if kind == "map":
        return {"type": "object", "additionalProperties": _convert(schema["values"], named)}
    return _convert(kind, named)


def _record(schema: dict, named: dict, skip_required: frozenset = frozenset()) -> dict:
    properties = {}
    for field in schema["fields"]:
        converted = _convert(field["type"], named)
        if field.get("doc"):
            converted = {**converted, "description": field["doc"]}
        properties[field["name"]] = converted
    required = [f["name"] for f in schema["fields"] if "default" not in f and f["name"] not in skip_required]
    out = {"type": "object", "properties": properties, "required": required}
    if schema.get("doc"):
        out["description"] = schema["doc"]
    return out


def envelope_json_schema(schemas: SchemaSet) -> dict:
    """The envelope fields with ``payload`` (an object) before ``signature``, as the composed schemas have it."""
    envelope = schemas.envelope
    fields = list(envelope["fields"])
    fields.insert(len(fields) - 1, {"name": "payload", "type": {"type": "map", "values": "string"},
                                    "doc": "The category's own record (schemas/payloads/<category>.avsc; in the "
                                           "registry under qc.intake.<category>-value)."})
    out = _record({**envelope, "fields": fields}, {}, frozenset(FILLED_IN))
    out["properties"]["payload"] = {"type": "object", "description": fields[-2]["doc"]}
    return out
