"""Routing: which holder's inbox gets which copy of an accepted event (Arts. 8, 10). Pure.

Routing is by quality agreement, never by product or generic name: two holders whose products
share a generic name on one line of one manufacturer are two agreements and two inboxes, and
nothing of one is ever written to the other's inbox.

* Every event goes to the holder of the agreement it was published under (the agreement's holder,
  as the agreement set knows it), in that holder's inbox only.
* Fan-out categories also go to every other holder concerned, one copy per holder, each under
  that holder's own agreement and product: co-line changes to every holder with a product on the
  line, regulatory inspection outcomes and adverse credit records against the manufacturer to
  every holder with a product at the site.
* What each copy may carry is decided by `agents.core.visibility.shown_event`, the one function
  that decides what a holder sees (confidential fields of fan-out notices, other holders' names).
  A copy under another agreement is that holder's own record: its own event id, an opaque
  reference instead of the original's id (which lives in another holder's chain), no batch of
  the other agreement, and no name of the person who published the original.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

from agents.core.emitted import derived_id
from agents.core.visibility import Viewer, shown_event
from schemas import SchemaSet, default_schemas

# Art. 8: a change of co-line conditions goes to every holder with a product on that line.
# Art. 8 (same way for the site): regulatory inspection outcomes and adverse credit records go to
# every holder with a product at that site.
FANOUT: dict[str, tuple[str, frozenset[str]]] = {
    "coline_change": ("line", frozenset({"notified", "corrected"})),
    "regulatory_inspection": ("site", frozenset({
        "finding_reported", "report_received", "capa_submitted", "gmp_inspection_passed",
        "gmp_inspection_failed", "corrected"})),
    "adverse_credit": ("site", frozenset({"recorded", "corrected"})),
}


class Addressee(NamedTuple):
    """A holder an event goes to, under which of its agreements, with which of its products."""

    holder_id: str
    agreement_id: str
    agreement: object | None          # agents.core.agreements.Agreement, when known
    product: dict | None              # the envelope product for this holder's copy (None: keep)
    own: bool                         # the agreement the event was published under
    why: str                          # "own", "line" or "site"


@dataclass(frozen=True)
class Delivery:
    """One copy of an event for one holder's inbox topic."""

    holder_id: str
    agreement_id: str
    topic: str | None
    event: dict
    redacted_paths: tuple[str, ...]
    why: str


def _at(event: dict, at: datetime | None) -> datetime:
    moment = at or event.get("published_at") or event.get("occurred_at")
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


def fanout_scope(event: dict) -> str | None:
    """"line", "site" or None: how far beyond its own holder an event goes."""
    category, _, action = (event.get("event_type") or "").partition(".")
    scope = FANOUT.get(category)
    if scope is None or action not in scope[1]:
        return None
    if category == "adverse_credit":
        payload = event.get("payload") or {}
        subject_role = payload.get("subject_role")
        subject = payload.get("subject_party_id")
        # A record against a holder concerns that holder only; one against the manufacturer
        # (or not stated) concerns every holder at the site.
        if subject_role == "HOLDER" or (subject and subject != event.get("manufacturer_id")
                                         and subject_role != "MANUFACTURER"):
            return None
    if scope[0] == "line" and not event.get("line_id"):
        return None
    return scope[0]


def _product_dict(product) -> dict:
    return {"code": product.code, "generic_name": product.generic_name,
            "dosage_form": product.dosage_form, "sterile": bool(product.sterile)}


def addressees(event: dict, agreements, at: datetime | None = None) -> list[Addressee]:
    """Every holder the event goes to, own holder first, then the others sorted by holder id."""
    at = _at(event, at)
    agreement_id = event.get("agreement_id")
    own_agreement = None
    if agreements is not None and agreement_id:
        own_agreement = agreements.effective(agreement_id, at) or agreements.latest(agreement_id)
    own_holder = own_agreement.holder.id if own_agreement is not None else event.get("holder_id")
    scope = fanout_scope(event)
    out = [Addressee(own_holder, agreement_id, own_agreement, None, True, "own")]
    if scope is None or agreements is None:
        return out
    if scope == "line":
        placements = agreements.placements(at, site_id=event.get("site_id"), line_id=event.get("line_id"),
                                           manufacturer_id=event.get("manufacturer_id"))
    else:
        placements = agreements.placements(at, site_id=event.get("site_id"),
                                           manufacturer_id=event.get("manufacturer_id"))
    by_holder: dict[str, list] = {}
    for pl in placements:
        by_holder.setdefault(pl.agreement.holder.id, []).append(pl)
    for holder_id in sorted(by_holder):
        if holder_id == own_holder:
            continue
        # One copy per holder: its first agreement (by id) and that agreement's first product there.
        pl = sorted(by_holder[holder_id], key=lambda p: (p.agreement.agreement_id, p.product.code))[0]
        out.append(Addressee(holder_id, pl.agreement.agreement_id, pl.agreement, _product_dict(pl.product),
                             False, scope))
    return out


def route(event: dict, agreements, schemas: SchemaSet | None = None, catalogue=None,
          at: datetime | None = None) -> list[Delivery]:
    """The copies of an accepted event for holders' inboxes (Art. 10: each to its own inbox only)."""
    schemas = schemas or default_schemas()
    deliveries = []
    for addressee in addressees(event, agreements, at):
        if not addressee.holder_id or not addressee.agreement_id:
            continue
        shown = shown_event(event, Viewer.holder(addressee.holder_id), agreements, schemas)
        copy, removed = readdress(shown.body, addressee, event)
        # Art. 10: every outbound copy goes to the addressed holder's own inbox topic only.
        topic = catalogue.inbox(addressee.holder_id) if catalogue is not None else None
        deliveries.append(Delivery(addressee.holder_id, addressee.agreement_id, topic, copy,
                                   tuple(sorted(set(shown.removed) | set(removed))), addressee.why))
    return deliveries


def copy_reference(original_event_id: str | None) -> str:
    """What a copy says of its original: an opaque, derived id. Whoever holds the original (the
    manufacturer, an inspector) can recompute it; the holder of the copy learns nothing of
    another agreement's chain from it."""
    return derived_id("copy-of", original_event_id)


def readdress(copy: dict, addressee: Addressee, original: dict) -> tuple[dict, list[str]]:
    """Put a holder's copy under its own agreement (and, for another agreement, its own product and id)."""
    removed: list[str] = []
    copy["holder_id"] = addressee.holder_id
    copy["agreement_id"] = addressee.agreement_id
    if addressee.product is not None and copy.get("product") != addressee.product:
        copy["product"] = dict(addressee.product)
        removed.append("product")
    if not addressee.own:
        if copy.get("batch_no") is not None:
            copy["batch_no"] = None    # the batch belongs to the other agreement
            removed.append("batch_no")
        source = dict(copy.get("source") or {})
        if source.get("user"):
            source["user"] = None      # a person of the original publisher, not this holder's business
            copy["source"] = source
            removed.append("source.user")
    if addressee.agreement_id != original.get("agreement_id"):
        # A copy under another agreement is that holder's own record, kept in its own chain.
        copy["event_id"] = derived_id("copy", original.get("event_id"), addressee.agreement_id)
        copy["copy_of_event_id"] = copy_reference(original.get("event_id"))
    if copy != original and copy.get("signature") is not None:
        copy["signature"] = None
    return copy, removed
