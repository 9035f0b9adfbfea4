"""What a party may see of a record: the one place that decides it (Arts. 8, 10).

Every way out of the bus asks here — the holders' inbox copies (`agents.core.routing`), the
dashboard and its API, the inspection package — so a holder sees the same thing everywhere:

* a fan-out notice (a co-line change, a site-wide inspection outcome, an adverse credit record
  against the manufacturer: `agents.core.routing.fanout_scope`) goes without its
  business-confidential fields: those the category's schema marks ``"confidential": true`` and
  those the publisher lists in ``confidential_fields``;
* nothing a holder sees names another holder: any string in the payload or the source that is
  another holder's id, name, local name, agreement id or product code is removed;
* a copy that was changed loses the publisher's signature (it would no longer verify; the signed
  original stays in the ledger);
* a dead letter goes to a holder without the refused message's raw bytes (they may carry a
  fan-out notice's confidential fields).

The manufacturer of the agreement, and an inspector or operator with full access, see records as
stored. "Removed" means set to the field's empty value in the schema, so a copy still encodes.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.core.redaction import confidential_paths, other_holder_identifiers, remove_paths, scrub_identifiers
from schemas import SchemaSet, default_schemas

HOLDER, MANUFACTURER, FULL = "HOLDER", "MANUFACTURER", "FULL"
DEAD_LETTER_WITHHELD = ("original_value", "original_key")


@dataclass(frozen=True)
class Viewer:
    """Who looks: a holder or a manufacturer (by party id), or full access (inspector, operator)."""
    party_id: str | None
    role: str

    @classmethod
    def holder(cls, party_id: str) -> "Viewer":
        return cls(party_id, HOLDER)

    @classmethod
    def manufacturer(cls, party_id: str) -> "Viewer":
        return cls(party_id, MANUFACTURER)

    @classmethod
    def full(cls) -> "Viewer":
        return cls(None, FULL)

    @property
    def sees_everything(self) -> bool:
        return self.role in (MANUFACTURER, FULL)


@dataclass(frozen=True)
class Shown:
    """A record as one viewer may see it, and the dotted paths that were removed for them."""
    body: dict
    removed: tuple[str, ...]

    @property
    def redacted(self) -> bool:
        return bool(self.removed)


_identifier_cache: dict[tuple[int, int, str], frozenset[str]] = {}


def _foreign_identifiers(agreements: Any, holder_id: str) -> frozenset[str]:
    """Other holders' identifiers, computed once per agreement set revision (routing asks per event)."""
    key = (id(agreements), getattr(agreements, "revision", 0), holder_id)
    found = _identifier_cache.get(key)
    if found is None:
        if len(_identifier_cache) > 256:
            _identifier_cache.clear()
        found = _identifier_cache[key] = frozenset(other_holder_identifiers(agreements, holder_id))
    return found


def shown_event(event: Mapping[str, Any], viewer: Viewer, agreements: Any = None,
                schemas: SchemaSet | None = None) -> Shown:
    """`event` as `viewer` may see it (see the module docstring)."""
    if viewer.sees_everything:
        return Shown(dict(event), ())
    from agents.core.routing import fanout_scope

    schemas = schemas or default_schemas()
    out = plain_copy(event)
    removed: list[str] = []
    if fanout_scope(out) is not None:
        # Art. 8: confidential business information may be omitted from the notification.
        removed += remove_paths(out, confidential_paths(out, schemas), schemas)
    if agreements is not None and viewer.party_id:
        # Art. 10: each holder sees only its own data; no other holder is named.
        removed += scrub_identifiers(out, _foreign_identifiers(agreements, viewer.party_id), schemas)
    if removed and out.get("signature") is not None:
        out["signature"] = None
    return Shown(out, tuple(sorted(set(removed))))


def plain_copy(value: Any) -> Any:
    """A copy of an event's dicts and lists (its leaves, strings, numbers and instants, are shared:
    they never change). Much cheaper than `copy.deepcopy`, which every routed event would pay."""
    if isinstance(value, dict):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_copy(v) for v in value]
    return value


def shown_dead_letter(letter: Mapping[str, Any], viewer: Viewer) -> Shown:
    """A dead letter as `viewer` may see it: a holder gets its reason and origin, not its raw bytes."""
    if viewer.sees_everything:
        return Shown(dict(letter), ())
    out = dict(letter)
    out.update(dict.fromkeys(DEAD_LETTER_WITHHELD))
    return Shown(out, DEAD_LETTER_WITHHELD)


def shown_record(kind: str, body: Mapping[str, Any], viewer: Viewer, agreements: Any = None,
                 schemas: SchemaSet | None = None) -> Shown:
    """A ledger record's body (an event or a dead letter) as `viewer` may see it."""
    if kind == "dead_letter":
        return shown_dead_letter(body, viewer)
    return shown_event(body, viewer, agreements, schemas)


def viewer_of(party_id: str | None, role: str | None) -> Viewer:
    """The viewer for a party acting in a role of an agreement (None role: no full access, a holder's view)."""
    if role == MANUFACTURER and party_id:
        return Viewer.manufacturer(party_id)
    if role == FULL:
        return Viewer.full()
    return Viewer.holder(party_id or "")
