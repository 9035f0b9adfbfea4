"""What a person does in the dashboard, as the event it publishes on the bus.

The dashboard never changes state itself: approving a change is publishing ``change.approved``
(validated, signed, sent to the category's intake topic with `streams.publisher.Publisher`), and the
page shows the result once the bus has recorded it in the ledger. Each event copies the envelope of
the item's latest event (agreement, parties, site, product, batch, line, item), answers the event it
responds to (``payload.responds_to_event_id``), and names the person: ``source = {system: DASHBOARD,
instance: qbus-dashboard, party_id: the user's party, party_role: HOLDER or MANUFACTURER, user}``.

Signing (Art. 14): the dashboard signs every event with its own Ed25519 key (`DashboardSigner`); the
person is named in ``source.user``, which the signature covers. Register the dashboard's public key
for the source instance ``qbus-dashboard`` in the bus's key registry so intake can verify it. A
holder's decision (approve, reject, release) also carries the person's own electronic signature
(``esignature``), made in `agents.web.dashboard.decisions` with the key only their password opens.
"""
from __future__ import annotations

import copy
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agents.core.visibility import shown_event, viewer_of
from agents.web.dashboard.items import Item
from agents.web.dashboard.users import User

log = logging.getLogger(__name__)

DASHBOARD_INSTANCE = "qbus-dashboard"
ENVELOPE_COPIED = ("agreement_id", "holder_id", "manufacturer_id", "site_id", "product", "batch_no", "line_id",
                   "item_ref", "classification")


class ActionRefused(ValueError):
    """The action does not fit the item's state or the user's role; the message says why (i18n key)."""

    def __init__(self, key: str, status: int = 409):
        super().__init__(key)
        self.key = key
        self.status = status


@dataclass(frozen=True)
class SentAction:
    """An event the dashboard published and the ledger has not recorded yet."""
    event_id: str
    event_type: str
    agreement_id: str
    item_ref: str
    user: str
    sent_at: datetime


def answer_event(item: Item, event_type: str, user: User, side: str, now: datetime, responds_to: Mapping,
                 agreements: Any = None) -> dict:
    """The answer's envelope and payload, built from what this user may see of the item (so a
    holder's answer never repeats a co-line notice's confidential fields, Art. 8)."""
    if item.latest_event is None:
        raise ActionRefused("not_awaiting")
    viewer = viewer_of(user.party_id, side)
    latest = shown_event(item.latest_event, viewer, agreements).body
    responds_to = shown_event(responds_to, viewer, agreements).body if responds_to else responds_to
    event = {name: copy.deepcopy(latest.get(name)) for name in ENVELOPE_COPIED}
    event.update(
        event_id=str(uuid.uuid4()),
        event_type=event_type,
        occurred_at=now,
        published_at=now,
        source={"system": "DASHBOARD", "instance": DASHBOARD_INSTANCE, "party_id": user.party_id,
                "party_role": side, "user": user.signature_name},
        significant_risk=False,
        corrects_event_id=None,
        confidential_fields=[],
        signature=None,
    )
    # The payload record of the category, as last stated, answering the event it responds to.
    payload = copy.deepcopy(dict(responds_to.get("payload") or latest.get("payload") or {}))
    payload["responds_to_event_id"] = responds_to.get("event_id")
    payload["note"] = None
    event["payload"] = payload
    return event


def approve_change(item: Item, user: User, conditions: str | None, now: datetime | None = None,
                   agreements: Any = None) -> dict:
    """Art. 9: the holder approves a change the manufacturer proposed."""
    _require_holder(user)
    if not item.awaiting_decision():
        raise ActionRefused("not_awaiting")
    event = answer_event(item, "change.approved", user, "HOLDER", now or _now(), item.opening_event or {}, agreements)
    event["payload"]["decision_reason"] = (conditions or "").strip() or None
    return event


def reject_change(item: Item, user: User, reason: str, now: datetime | None = None,
                  agreements: Any = None) -> dict:
    """Art. 9: the holder rejects a change, and must say why."""
    _require_holder(user)
    if not (reason or "").strip():
        raise ActionRefused("reason_required", 400)
    if not item.awaiting_decision():
        raise ActionRefused("not_awaiting")
    event = answer_event(item, "change.rejected", user, "HOLDER", now or _now(), item.opening_event or {}, agreements)
    event["payload"]["decision_reason"] = reason.strip()
    return event


def acknowledge(item: Item, user: User, side: str, note: str | None, now: datetime | None = None,
                agreements: Any = None) -> dict:
    """Art. 7: confirm receipt of an item the other party opened."""
    if not user.can_act:
        raise ActionRefused("forbidden_text", 403)
    if not item.awaiting_acknowledgement(side):
        raise ActionRefused("not_awaiting")
    event = answer_event(item, f"{item.category}.acknowledged", user, side, now or _now(),
                        item.latest_event or {}, agreements)
    event["payload"]["note"] = (note or "").strip() or None
    return event


def coline_feedback(item: Item, user: User, feedback: str, accepts: bool | None, now: datetime | None = None,
                    agreements: Any = None) -> dict:
    """Art. 8: the holder's feedback on a co-line change notice and its risk conclusion."""
    _require_holder(user)
    if not (feedback or "").strip():
        raise ActionRefused("feedback_required", 400)
    if not item.awaiting_feedback():
        raise ActionRefused("not_awaiting")
    event = answer_event(item, "coline_change.feedback_given", user, "HOLDER", now or _now(),
                        item.opening_event or {}, agreements)
    event["payload"]["feedback"] = feedback.strip()
    event["payload"]["holder_accepts"] = accepts
    return event


def _require_holder(user: User) -> None:
    if not user.can_act or user.side != "HOLDER":
        raise ActionRefused("forbidden_text", 403)


def _now() -> datetime:
    return datetime.now(UTC)


# --- signing ------------------------------------------------------------------------------------
class DashboardSigner:
    """Signs the dashboard's events with its Ed25519 key (created on first use, mode 0600)."""

    def __init__(self, key_path: str | Path):
        from streams.signing import key_fingerprint, load_or_create_private_key

        path = Path(key_path)
        self.private_key, created = load_or_create_private_key(path)
        if created:
            log.warning("created the dashboard's signing key %s; the bus trusts it through its public key file "
                        "(dashboard-keys.json in the worker's state folder)", path)
        self.key_id = key_fingerprint(self.private_key.public_key())
        self.path = path

    def public_key_b64(self) -> str:
        from streams.signing import public_key_b64
        return public_key_b64(self.private_key.public_key())

    def registry(self):
        """A `streams.signing.KeyRegistry` holding the dashboard's public key (for the bus's admission)."""
        from streams.signing import KeyRegistry

        registry = KeyRegistry()
        registry.register(DASHBOARD_INSTANCE, self.key_id, self.private_key.public_key())
        return registry

    def write_public_key(self, path: str | Path) -> Path:
        """Write the public key as a key registry file (``KeyRegistry.load`` reads it)."""
        path = Path(path)
        path.write_text(self.registry().to_json(), encoding="utf-8")
        return path

    def agreement_source(self, party_id: str) -> str:
        """The ``sources:`` entry an agreement needs for the bus to verify the dashboard's signature."""
        return (f"  - instance: {DASHBOARD_INSTANCE}\n    party: {party_id}\n    system: DASHBOARD\n"
                f"    key_id: \"{self.key_id}\"\n    public_key: \"{self.public_key_b64()}\"\n")

    def __call__(self, event: dict) -> dict:
        from streams.signing import sign_event
        return sign_event(event, self.private_key, self.key_id)


# --- the way out to the bus -----------------------------------------------------------------------
class BusWriter:
    """Publishes through a `Publisher` made on first use, so the dashboard starts (and shows the
    ledger) while the broker is still coming up; a failed connection is retried at the next action."""

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._publisher = None
        self._lock = threading.Lock()

    def publish(self, event: dict) -> str:
        with self._lock:
            if self._publisher is None:
                self._publisher = self._factory()
            publisher = self._publisher
        return publisher.publish(event)

    def close(self) -> None:
        with self._lock:
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None
