"""Turn a JSON/YAML-shaped event into an Avro-ready one, or say exactly what is wrong.

Publishers write events by hand or from MES/LIMS code: timestamps as ISO strings, enums in any
case, optional fields left out. This module accepts those forms and names every problem by its
field path ("payload.classification: 'majr' is not one of MINOR, MAJOR, CRITICAL"), which Avro's
own errors do not.
"""
from __future__ import annotations

import base64
import difflib
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone

from schemas import CategorySchema, SchemaSet

EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class EventInvalid(ValueError):
    """The event does not fit its schema. `problems` lists every field at fault."""

    def __init__(self, problems: list[Problem], reason_code: str = "SCHEMA_VIOLATION"):
        self.problems = problems
        self.reason_code = reason_code
        super().__init__("; ".join(str(p) for p in problems))


def _type_name(schema) -> str:
    if isinstance(schema, dict):
        return schema.get("logicalType") or schema.get("name") or schema.get("type")
    if isinstance(schema, list):
        return " or ".join(_type_name(s) for s in schema)
    return str(schema)


def _parse_timestamp(value) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        moment = datetime.fromisoformat(text)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    else:
        raise ValueError("expected an ISO-8601 timestamp such as 2026-11-20T08:30:00Z")
    if moment.tzinfo is None:
        raise ValueError("timestamp has no time zone; add 'Z' for UTC or an offset such as +08:00")
    # The wire keeps milliseconds; keep the same here so a value equals its own round trip.
    moment = moment.astimezone(timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class _Normalizer:
    def __init__(self):
        self.named: dict[str, dict] = {}
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def resolve(self, schema, namespace: str | None):
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return self.named.get(schema) or self.named.get(f"{namespace}.{schema}") or schema
        return schema

    def register(self, schema: dict, namespace: str | None) -> str | None:
        name = schema.get("name")
        if name:
            ns = schema.get("namespace", namespace)
            full = name if "." in name or not ns else f"{ns}.{name}"
            self.named[full] = schema
            self.named.setdefault(name, schema)
            return ns
        return namespace

    def value(self, schema, value, path: str, namespace: str | None = None):
        schema = self.resolve(schema, namespace)
        if isinstance(schema, list):
            return self.union(schema, value, path, namespace)
        if isinstance(schema, str):
            schema = {"type": schema}
        kind = schema["type"]
        if kind in ("record", "enum", "fixed"):
            namespace = self.register(schema, namespace)
        try:
            handler = getattr(self, f"t_{kind}")
        except AttributeError:  # a named type used as {"type": "qbus.Source"}
            return self.value(kind, value, path, namespace)
        return handler(schema, value, path, namespace)

    def union(self, branches, value, path, namespace):
        if value is None:
            if "null" in branches:
                return None
            self.fail(path, "is required")
            return None
        candidates = [b for b in branches if b != "null"]
        if len(candidates) == 1:
            return self.value(candidates[0], value, path, namespace)
        for branch in candidates:  # first branch that takes the value without a problem
            trial = _Normalizer()
            trial.named = self.named
            result = trial.value(branch, value, path, namespace)
            if not trial.problems:
                return result
        self.fail(path, f"does not fit any of {_type_name(candidates)}")
        return None

    def t_null(self, schema, value, path, ns):
        if value is not None:
            self.fail(path, "must be empty (null)")
        return None

    def t_record(self, schema, value, path, ns):
        if not isinstance(value, dict):
            self.fail(path, f"must be an object with fields {', '.join(f['name'] for f in schema['fields'])}")
            return None
        out = {}
        known = {f["name"] for f in schema["fields"]}
        for f in schema["fields"]:
            field_path = f"{path}.{f['name']}" if path else f["name"]
            if f["name"] in value:
                out[f["name"]] = self.value(f["type"], value[f["name"]], field_path, ns)
            elif "default" in f:
                out[f["name"]] = f["default"] if not isinstance(f["default"], (list, dict)) else type(f["default"])(f["default"])
            else:
                self.fail(field_path, f"is missing ({f.get('doc', _type_name(f['type']))})".rstrip())
        for extra in sorted(set(value) - known):
            hint = difflib.get_close_matches(extra, known, n=1)
            self.fail(f"{path}.{extra}" if path else extra,
                      "is not a field of this record" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
        return out

    def t_enum(self, schema, value, path, ns):
        symbols = schema["symbols"]
        if isinstance(value, str):
            for symbol in symbols:
                if symbol.lower() == value.strip().lower():
                    return symbol
        self.fail(path, f"{value!r} is not one of {', '.join(s for s in symbols if s != 'UNKNOWN')}")
        return None

    def t_array(self, schema, value, path, ns):
        if not isinstance(value, (list, tuple)):
            self.fail(path, "must be a list")
            return []
        return [self.value(schema["items"], v, f"{path}[{i}]", ns) for i, v in enumerate(value)]

    def t_map(self, schema, value, path, ns):
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
            return {}
        return {k: self.value(schema["values"], v, f"{path}.{k}", ns) for k, v in value.items()}

    def t_string(self, schema, value, path, ns):
        if not isinstance(value, str):
            self.fail(path, f"must be text, not {type(value).__name__}")
            return None
        if schema.get("logicalType") == "uuid":
            try:
                uuid.UUID(value)
            except ValueError:
                self.fail(path, f"{value!r} is not a UUID")
        return value

    def t_boolean(self, schema, value, path, ns):
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
        return value

    def t_int(self, schema, value, path, ns):
        if schema.get("logicalType") == "date":
            if isinstance(value, datetime):
                return value.date()
            if isinstance(value, date):
                return value
            try:
                return date.fromisoformat(str(value))
            except ValueError:
                self.fail(path, f"{value!r} is not a date such as 2026-11-20")
                return None
        return self._integer(value, path, 2**31)

    def t_long(self, schema, value, path, ns):
        if schema.get("logicalType") in ("timestamp-millis", "timestamp-micros"):
            try:
                return _parse_timestamp(value)
            except ValueError as exc:
                self.fail(path, f"{value!r}: {exc}")
                return None
        return self._integer(value, path, 2**63)

    def _integer(self, value, path, bound):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be a whole number, not {value!r}")
        elif not -bound <= value < bound:
            self.fail(path, f"{value} is out of range")
        return value

    def t_float(self, schema, value, path, ns):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(path, f"must be a number, not {value!r}")
            return None
        return float(value)

    t_double = t_float

    def t_bytes(self, schema, value, path, ns):
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except ValueError:
                pass
        self.fail(path, "must be bytes (base64 text in JSON)")
        return None


_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _named_types(schema, namespace: str | None, found: dict) -> dict:
    """Every named type a schema defines, so a by-name reference resolves whatever the values."""
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, namespace, found)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and schema.get("name"):
            ns = schema.get("namespace", namespace)
            name = schema["name"]
            full = name if "." in name or not ns else f"{ns}.{name}"
            found[full] = schema
            found.setdefault(name, schema)
            namespace = ns
        for field in schema.get("fields", ()):
            _named_types(field["type"], namespace, found)
        for key in ("items", "values"):
            if key in schema:
                _named_types(schema[key], namespace, found)
        if isinstance(schema.get("type"), (dict, list)):
            _named_types(schema["type"], namespace, found)
    return found


def normalize(schema: dict, value) -> dict:
    """Avro-ready copy of `value` for `schema`, or EventInvalid naming every problem."""
    normalizer = _Normalizer()
    normalizer.named = _named_types(schema, None, {})
    result = normalizer.value(schema, value, "")
    if normalizer.problems:
        raise EventInvalid(normalizer.problems)
    return result


def category_of(event: dict, schemas: SchemaSet) -> CategorySchema:
    event_type = event.get("event_type") if isinstance(event, dict) else None
    if not isinstance(event, dict):
        raise EventInvalid([Problem("", "an event must be an object (a JSON/YAML mapping)")])
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        raise EventInvalid([Problem("event_type", f"{event_type!r} must look like '<category>.<action>', "
                                                  "e.g. 'deviation.reported'")], "UNKNOWN_EVENT_TYPE")
    category = schemas.for_event_type(event_type)
    if category is None:
        known = ", ".join(sorted(schemas.categories))
        raise EventInvalid([Problem("event_type", f"unknown category '{event_type.split('.')[0]}'; "
                                                  f"known categories: {known}")], "UNKNOWN_EVENT_TYPE")
    return category


def check_envelope(category: CategorySchema, event: dict) -> None:
    """Rules a schema cannot express: the action exists, identifiers are not blank, ids are UUIDs."""
    action = event["event_type"].split(".", 1)[1]
    if category.actions and action not in category.actions:
        raise EventInvalid([Problem("event_type", f"'{action}' is not an action of {category.category}; "
                                                  f"allowed: {', '.join(category.actions)}")],
                           "UNKNOWN_EVENT_TYPE")
    problems = [Problem(name, "must not be empty") for name in
                ("agreement_id", "holder_id", "manufacturer_id", "site_id", "item_ref")
                if not str(event.get(name) or "").strip()]
    try:
        uuid.UUID(str(event.get("event_id")))
    except ValueError:
        problems.append(Problem("event_id", f"{event.get('event_id')!r} is not a UUID"))
    if problems:
        raise EventInvalid(problems)


def validate_event(event: dict, schemas: SchemaSet) -> tuple[CategorySchema, dict]:
    """Check a JSON/YAML-shaped event against its category's schema and the envelope's rules."""
    category = category_of(event, schemas)
    value = normalize(category.event, event)
    check_envelope(category, value)
    return category, value


def validate_decoded(event: dict, schemas: SchemaSet) -> CategorySchema:
    """Check an event decoded from Avro: its types are guaranteed, only the envelope rules remain."""
    category = category_of(event, schemas)
    check_envelope(category, event)
    return category
