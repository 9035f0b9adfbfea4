"""Redaction mechanics: blanking dotted paths by the schema, and scrubbing another holder's names
(Arts. 8, 10). Pure. *Which* of these a viewer gets is decided in `agents.core.visibility`.

Two things can be taken out of a copy addressed to holder H:

* business-confidential fields (Art. 8: "where business confidential information is involved, it
  may be omitted from the notification"): the fields marked ``"confidential": true`` in the
  category's schema plus the dotted paths the publisher listed in the event's
  ``confidential_fields``. They are removed from every copy that goes out as a fan-out notice
  (co-line changes, site-wide inspection outcomes and adverse credit records), including the copy
  for the holder whose agreement the event was published under;
* every other holder's identifiers (Art. 10): the copy's ``holder_id`` and ``agreement_id`` are H's
  own, its ``product`` is H's product, and any string anywhere in the copy that names another
  holder (its id, name, local name, agreement id or product code) is removed. This applies to
  every copy, the holder's own events included.

"Removed" means set to the field's empty value in the schema (null where the field is optional,
else its default, else an empty string or list), so the copy still encodes with the category's
Avro schema. A copy that was changed loses the publisher's signature (it would no longer verify);
the signed original stays in the ledger.
"""
from __future__ import annotations

import copy
import logging
import re
from datetime import datetime
from typing import Any, Iterable

from schemas import SchemaSet, default_schemas

log = logging.getLogger(__name__)

def confidential_paths(event: dict, schemas: SchemaSet | None = None) -> set[str]:
    """Dotted paths to remove from a fan-out copy: schema marks plus the event's own list."""
    schemas = schemas or default_schemas()
    category = schemas.for_event_type(event.get("event_type", ""))
    paths = set(category.confidential_paths) if category is not None else set()
    for path in event.get("confidential_fields") or ():
        path = str(path).strip()
        if not path:
            continue
        if not path.startswith("payload."):
            log.warning("event %s: confidential_fields names %r, which is not a payload field; only "
                        "payload fields can be withheld (the envelope routes the copy)", event.get("event_id"), path)
            continue
        paths.add(path)
    return paths


# -- schema-aware blanking --------------------------------------------------------------------
def _named_types(schema, out: dict[str, dict]) -> dict[str, dict]:
    if isinstance(schema, list):
        for s in schema:
            _named_types(s, out)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            out[schema["name"]] = schema
            if schema.get("namespace"):
                out[f"{schema['namespace']}.{schema['name']}"] = schema
        for key in ("fields", "type", "items", "values"):
            if key in schema and not isinstance(schema[key], str):
                _named_types(schema[key], out)
    return out


class _Blanker:
    def __init__(self, event_schema: dict | None):
        self.schema = event_schema
        self.named = _named_types(event_schema, {}) if event_schema else {}
        self._fields: dict[int, dict[str, dict]] = {}

    def resolve(self, schema):
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), str) and schema["type"] in self.named:
            return self.named[schema["type"]]
        return schema

    def empty(self, field_schema: dict | None, type_schema) -> Any:
        """The value a removed field gets: null if optional, else its default, else empty."""
        type_schema = self.resolve(type_schema)
        if isinstance(type_schema, list):
            if "null" in type_schema:
                return None
            type_schema = self.resolve(type_schema[0])
        if field_schema is not None and "default" in field_schema:
            return copy.deepcopy(field_schema["default"])
        kind = type_schema.get("type") if isinstance(type_schema, dict) else type_schema
        if kind == "enum":
            symbols = type_schema.get("symbols", [])
            return "UNKNOWN" if "UNKNOWN" in symbols else (symbols[0] if symbols else None)
        if kind == "record":
            return {f["name"]: self.empty(f, f["type"]) for f in type_schema.get("fields", [])}
        return {"string": "", "array": [], "map": {}, "boolean": False, "int": 0, "long": 0,
                "float": 0.0, "double": 0.0, "bytes": b""}.get(kind)

    def record_of(self, type_schema) -> dict | None:
        type_schema = self.resolve(type_schema)
        if isinstance(type_schema, list):
            for branch in type_schema:
                found = self.record_of(branch)
                if found is not None:
                    return found
            return None
        if isinstance(type_schema, dict):
            if type_schema.get("type") == "record":
                return type_schema
            if type_schema.get("type") == "array":
                return self.record_of(type_schema["items"])
        return None

    def field(self, record: dict | None, name: str) -> dict | None:
        if record is None:
            return None
        fields = self._fields.get(id(record))
        if fields is None:   # each record schema's fields by name, indexed once
            fields = self._fields[id(record)] = {f["name"]: f for f in record.get("fields", ())}
        return fields.get(name)

    def blank_path(self, value: Any, record: dict | None, parts: list[str]) -> bool:
        """Blank the field at ``parts`` under ``value`` (a dict, or a list of dicts). True if a value
        was removed (a field already empty is left as it is and not counted)."""
        if isinstance(value, list):
            hit = False
            for element in value:
                hit = self.blank_path(element, record, parts) or hit
            return hit
        if not isinstance(value, dict) or not parts or parts[0] not in value:
            return False
        name, rest = parts[0], parts[1:]
        f = self.field(record, name)
        if not rest:
            empty = self.empty(f, f["type"] if f else "null") if f else None
            if value[name] == empty:
                return False
            value[name] = empty
            return True
        return self.blank_path(value[name], self.record_of(f["type"]) if f else None, rest)

    def blank_string(self, container: dict, key: str, record: dict | None) -> None:
        f = self.field(record, key)
        container[key] = self.empty(f, f["type"]) if f else None


_blankers: dict[int, _Blanker] = {}


def _blanker_of(event: dict, schemas: SchemaSet) -> _Blanker:
    """The category's blanker, made once per schema (it indexes the schema's named types)."""
    category = schemas.for_event_type(event.get("event_type", ""))
    schema = category.event if category else None
    key = id(schema)
    blanker = _blankers.get(key)
    if blanker is None or blanker.schema is not schema:
        blanker = _blankers[key] = _Blanker(schema)
    return blanker


def remove_paths(event: dict, paths: Iterable[str], schemas: SchemaSet | None = None) -> list[str]:
    """Blank each dotted path in ``event`` in place; return the paths whose values were removed."""
    schemas = schemas or default_schemas()
    blanker = _blanker_of(event, schemas)
    removed = []
    for path in sorted(set(paths)):
        if blanker.blank_path(event, blanker.schema, path.split(".")):
            removed.append(path)
    return removed


# -- other holders' identifiers ---------------------------------------------------------------
def other_holder_identifiers(agreements, holder_id: str, at: datetime | None = None) -> set[str]:
    """Strings that name a holder other than ``holder_id``: ids, names, agreement ids and product
    codes from every agreement (every version) of the set."""
    out: set[str] = set()
    for agreement_id in agreements.ids():
        for a in agreements.versions(agreement_id):
            if a.holder.id == holder_id:
                continue
            out.update(x for x in (a.holder.id, a.holder.name, a.holder.name_local, a.agreement_id) if x)
            out.update(p.code for p in a.products)
    # Never treat the addressee's own names as foreign (two holders could share a display name).
    own: set[str] = {holder_id}
    for agreement_id in agreements.ids():
        for a in agreements.versions(agreement_id):
            if a.holder.id == holder_id:
                own.update(x for x in (a.holder.name, a.holder.name_local, a.agreement_id) if x)
                own.update(p.code for p in a.products)
    return {x for x in out - own if x.strip()}


_finders: dict[frozenset[str], Any] = {}


def _finder(needles: frozenset[str]):
    """One case-insensitive search for any of the needles (made once per set of identifiers)."""
    found = _finders.get(needles)
    if found is None:
        if len(_finders) > 256:
            _finders.clear()
        pattern = "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
        found = _finders[needles] = re.compile(pattern, re.IGNORECASE).search
    return found


def _names_any(text: str, needles) -> bool:
    return needles(text) is not None


def scrub_identifiers(event: dict, identifiers: Iterable[str], schemas: SchemaSet | None = None) -> list[str]:
    """Remove, in place, every string in the payload and the source that names one of
    ``identifiers`` (case-insensitive substring). Strings in lists are dropped from the list;
    other fields are blanked. Returns the dotted paths removed."""
    wanted = frozenset(i for i in identifiers if i and i.strip())
    if not wanted:
        return []
    needles = _finder(wanted)
    schemas = schemas or default_schemas()
    blanker = _blanker_of(event, schemas)
    removed: list[str] = []

    def walk(value: Any, record: dict | None, path: str) -> None:
        if isinstance(value, dict):
            for key in list(value):
                child = value[key]
                f = blanker.field(record, key)
                child_path = f"{path}.{key}" if path else key
                if isinstance(child, str):
                    if _names_any(child, needles):
                        blanker.blank_string(value, key, record)
                        removed.append(child_path)
                elif isinstance(child, list):
                    kept = [x for x in child if not (isinstance(x, str) and _names_any(x, needles))]
                    if len(kept) != len(child):
                        value[key] = kept
                        removed.append(child_path)
                    sub = blanker.record_of(f["type"]) if f else None
                    for element in kept:
                        walk(element, sub, child_path)
                elif isinstance(child, dict):
                    walk(child, blanker.record_of(f["type"]) if f else None, child_path)

    root = blanker.schema
    for top in ("payload", "source"):
        if isinstance(event.get(top), dict):
            f = blanker.field(root, top)
            walk(event[top], blanker.record_of(f["type"]) if f else None, top)
    for top in ("batch_no", "line_id"):
        if isinstance(event.get(top), str) and _names_any(event[top], needles):
            event[top] = None
            removed.append(top)
    return removed
