"""Loader for the committed Avro schemas, the single source of truth for every event.

Layout:
  envelope.avsc          the common envelope (qbus.Envelope)
  payloads/<cat>.avsc    one payload record per category that systems publish
  bus/<cat>.avsc         payload records the bus itself emits (obligation, escalation, ...)
  dead_letter.avsc       the dead-letter record (not enveloped: it may wrap undecodable bytes)

An event schema is composed, never written by hand: the envelope's fields plus a `payload`
field of the category's record, named `qbus.events.<Category>Event`. Custom attributes on a
payload record: `category`, `article`, `actions` (allowed actions of `<category>.<action>`);
on a field: `"confidential": true` marks business-confidential data that redaction removes.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import fastavro

SCHEMA_DIR = Path(__file__).parent

# Art. 7: the minimum communication list.
ART7_CATEGORIES = (
    "deviation", "change", "oos_oot", "qualification_validation", "retention_stability",
    "pharmacovigilance", "regulatory_inspection", "adverse_credit",
)


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from exc


def _camel(category: str) -> str:
    return "".join(part.capitalize() for part in category.split("_"))


def _pin_namespace(schema, namespace: str):
    """Give the envelope's named types (Source, Product, Classification, ...) their own namespace,
    so they keep the names `qbus.Source` etc. inside a composed `qbus.events.*` record and payload
    files can refer to them by those names."""
    if isinstance(schema, list):
        return [_pin_namespace(s, namespace) for s in schema]
    if isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "namespace" not in schema:
            schema["namespace"] = namespace
        for key in ("fields", "type", "items", "values"):
            if key in schema and not isinstance(schema[key], str):
                schema[key] = _pin_namespace(schema[key], namespace)
    return schema


@dataclass(frozen=True)
class CategorySchema:
    category: str
    payload: dict            # the payload record as committed
    event: dict              # the composed event schema (JSON form)
    emitted_by_bus: bool

    @property
    def name(self) -> str:
        return f"qbus.events.{_camel(self.category)}Event"

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(self.payload.get("actions", ()))

    @property
    def article(self) -> str:
        return self.payload.get("article", "")

    @cached_property
    def parsed(self) -> dict:
        return fastavro.parse_schema(copy.deepcopy(self.event))

    @cached_property
    def canonical(self) -> str:
        """Stable text of the schema, as registered in the schema registry."""
        return json.dumps(self.event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @cached_property
    def confidential_paths(self) -> frozenset[str]:
        """Dotted paths (e.g. 'payload.customer_name') of fields marked confidential."""
        found: set[str] = set()

        def walk(schema, prefix: str) -> None:
            if isinstance(schema, list):
                for branch in schema:
                    walk(branch, prefix)
            elif isinstance(schema, dict) and schema.get("type") == "record":
                for f in schema["fields"]:
                    path = f"{prefix}.{f['name']}" if prefix else f["name"]
                    if f.get("confidential"):
                        found.add(path)
                    walk(f["type"], path)
            elif isinstance(schema, dict) and schema.get("type") == "array":
                walk(schema["items"], prefix)

        walk(self.event, "")
        return frozenset(found)


class SchemaSet:
    """All schemas of one checkout (or of a directory given explicitly, e.g. an older commit)."""

    def __init__(self, root: Path = SCHEMA_DIR):
        self.root = Path(root)
        self.envelope = _load_json(self.root / "envelope.avsc")
        self.categories: dict[str, CategorySchema] = {}
        for folder, by_bus in (("payloads", False), ("bus", True)):
            for path in sorted((self.root / folder).glob("*.avsc")):
                payload = _load_json(path)
                category = payload.get("category") or path.stem
                if category != path.stem:
                    raise ValueError(f"{path}: category '{category}' does not match the file name")
                self.categories[category] = CategorySchema(
                    category, payload, self._compose(category, payload), by_bus)
        self.dead_letter = _load_json(self.root / "dead_letter.avsc") \
            if (self.root / "dead_letter.avsc").exists() else None
        self.by_name = {c.name: c for c in self.categories.values()}

    def _compose(self, category: str, payload: dict) -> dict:
        fields = _pin_namespace(copy.deepcopy(self.envelope["fields"]), self.envelope["namespace"])
        # The envelope's 'payload' slot: the category's own record, inline.
        fields.insert(len(fields) - 1, {
            "name": "payload", "type": copy.deepcopy(payload),
            "doc": payload.get("doc", f"The {category} record."),
        })
        return {
            "type": "record", "name": f"{_camel(category)}Event", "namespace": "qbus.events",
            "doc": f"A '{category}' event: the common envelope plus the {category} payload. "
                   + payload.get("doc", ""),
            "fields": fields,
        }

    @property
    def intake_categories(self) -> list[str]:
        return [c for c, s in self.categories.items() if not s.emitted_by_bus]

    @property
    def bus_categories(self) -> list[str]:
        return [c for c, s in self.categories.items() if s.emitted_by_bus]

    def for_event_type(self, event_type: str) -> CategorySchema | None:
        category = event_type.split(".", 1)[0] if isinstance(event_type, str) else ""
        return self.categories.get(category)

    def examples(self) -> dict[str, Path]:
        return {p.stem: p for p in sorted((self.root / "examples").glob("*.json"))}

    @cached_property
    def dead_letter_parsed(self) -> dict:
        return fastavro.parse_schema(copy.deepcopy(self.dead_letter))


@lru_cache(maxsize=1)
def default_schemas() -> SchemaSet:
    return SchemaSet()
