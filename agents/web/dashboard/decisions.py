"""A holder's decisions as electronic signatures: what an item awaits, the draft the person reviews,
and the signed event that goes on the bus.

Approving or rejecting a change (Art. 9), approving a CAPA (Art. 5) and releasing a batch to market
(Art. 12) are the holder's decisions. In the habit of 21 CFR Part 11 (§11.50 signature manifestation,
§11.200 components) and EU GMP Annex 11 §14, each is signed by the person: they state the meaning
and a reason (required to reject), review a page that shows exactly what their signature covers,
and re-enter their password for this one act. The event then carries ``esignature`` (printed name,
user id, party, meaning, reason, time, ``authentication: "password"``, and their own key's id and
signature over `streams.signing.decision_bytes`); the dashboard signs the whole event as well.

A draft lives in memory for `ttl` (a restart drops it: the person starts over), belongs to one
session, and is used once. It remembers how many records the item had, so a draft of an item that
has changed since is refused rather than signed over what the person did not see.
"""
from __future__ import annotations

import copy
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from agents.web.dashboard import actions
from agents.web.dashboard.actions import ActionRefused
from agents.web.dashboard.items import BatchReadiness, Item
from agents.web.dashboard.personal_keys import UnlockedKey
from agents.web.dashboard.users import Role, User
from streams.canonical import truncate_to_millis
from streams.signing import DECISION_FIELDS, ESIGNATURE_COVERED, sign_decision

AUTHENTICATION = "password"
# What each decision may mean, in the order offered; the event each meaning publishes.
MEANINGS_OF = {
    "change": ("APPROVED", "REJECTED"),
    "capa": ("APPROVED", "REVIEWED"),
    "market_release": ("RELEASED",),
}
EVENT_TYPE_OF = {
    ("change", "APPROVED"): "change.approved",
    ("change", "REJECTED"): "change.rejected",
    ("capa", "APPROVED"): "deviation.capa_approved",
    ("capa", "REVIEWED"): "deviation.capa_approved",
    ("market_release", "RELEASED"): "batch_release.market_released",
}


def awaited_decision(item: Item, user: User, side: str | None, readiness: BatchReadiness | None) -> str | None:
    """The decision this user may sign on this item now: 'change', 'capa', 'market_release' or None."""
    if not user.can_act or side != "HOLDER" or user.side != "HOLDER":
        return None
    if item.awaiting_decision():
        return "change"
    if item.awaiting_capa_approval():
        return "capa"
    # Art. 12: marketing release is the holder's; here its head of quality signs it, once the QP has
    # released the batch from the factory.
    if (item.category == "batch_release" and readiness is not None and readiness.status in ("ready", "blocked")
            and user.role is Role.HOLDER_HEAD):
        return "market_release"
    return None


def reason_required(kind: str, meaning: str, readiness: BatchReadiness | None) -> str | None:
    """The i18n key of why a reason is needed here, or None when it is optional."""
    if meaning == "REJECTED":
        return "reason_required"
    if kind == "market_release" and readiness is not None and readiness.status == "blocked":
        # Art. 12: releasing over open deviations, OOS or missing records is flagged; say why.
        return "release_reason_required"
    return None


@dataclass(frozen=True)
class Draft:
    """A decision the person is reviewing, before they sign it."""
    draft_id: str
    session_id: str
    username: str
    agreement_id: str
    item_ref: str
    kind: str
    meaning: str
    reason: str | None
    event: dict                 # complete but for the time of signing and the signatures
    item_version: int           # how many records the item had when drafted
    created_at: datetime

    @property
    def event_type(self) -> str:
        return self.event["event_type"]


def draft_decision(item: Item, user: User, session_id: str, kind: str, meaning: str, reason: str | None,
                   now: datetime, agreements: Any = None, readiness: BatchReadiness | None = None) -> Draft:
    """The event this decision would publish, for the person to review (ActionRefused if it cannot be)."""
    if meaning not in MEANINGS_OF.get(kind, ()):
        raise ActionRefused("meaning_required", 400)
    reason = (reason or "").strip() or None
    needed = reason_required(kind, meaning, readiness)
    if needed and reason is None:
        raise ActionRefused(needed, 400)
    event_type = EVENT_TYPE_OF[(kind, meaning)]
    if event_type == "change.approved":
        event = actions.approve_change(item, user, reason, now, agreements)
    elif event_type == "change.rejected":
        event = actions.reject_change(item, user, reason or "", now, agreements)
    elif kind == "capa":
        event = actions.answer_event(item, event_type, user, "HOLDER", now, item.capa_proposal.event, agreements)
        event["payload"]["note"] = reason
    else:
        event = actions.answer_event(item, event_type, user, "HOLDER", now, item.opening_event or {}, agreements)
        event["payload"]["market_released_by"] = user.signature_name
        # What the holder knowingly released over, for the bus's release gate and the record.
        event["payload"]["related_item_refs"] = sorted(i.item_ref for i in readiness.open_issues) if readiness else []
        event["payload"]["note"] = reason
    event["esignature"] = {
        "signer_name": user.display_name, "signer_user_id": user.username, "signer_party_id": user.party_id,
        "meaning": meaning, "reason": reason, "signed_at": None, "authentication": AUTHENTICATION,
        "key_id": None, "value": None,
    }
    return Draft(secrets.token_urlsafe(18), session_id, user.username, item.agreement_id, item.item_ref, kind,
                 meaning, reason, event, len(item.entries), now)


def covered_fields(draft: Draft) -> dict:
    """What the person's signature covers (`streams.signing.decision_bytes`), for the review page;
    the time is filled in at the moment they sign."""
    block = draft.event["esignature"]
    covered = {name: draft.event.get(name) for name in DECISION_FIELDS}
    covered.update({name: block.get(name) for name in ESIGNATURE_COVERED})
    return covered


def signed_event(draft: Draft, key: UnlockedKey, now: datetime) -> dict:
    """The draft's event, dated now and signed with the person's own key."""
    moment = truncate_to_millis(now)  # what Avro keeps: the signature must cover what the bus will read
    event = copy.deepcopy(draft.event)
    event["occurred_at"] = event["published_at"] = moment
    event["esignature"]["signed_at"] = moment
    return sign_decision(event, key.private_key, key.key_id)


class DraftBook:
    """Drafts by id, for `ttl`, each bound to the session that made it; bounded in number."""

    def __init__(self, ttl: timedelta = timedelta(minutes=15), limit: int = 2000):
        self.ttl = ttl
        self.limit = limit
        self._drafts: OrderedDict[str, Draft] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, draft: Draft) -> None:
        with self._lock:
            self._drafts[draft.draft_id] = draft
            while len(self._drafts) > self.limit:
                self._drafts.popitem(last=False)

    def get(self, draft_id: str | None, session_id: str, username: str, now: datetime) -> Draft | None:
        """The draft if it is this session's and still fresh (it stays until `discard`: a mistyped
        password may be re-entered)."""
        with self._lock:
            draft = self._drafts.get(draft_id or "")
            if draft is None:
                return None
            if now - draft.created_at > self.ttl:
                del self._drafts[draft.draft_id]
                return None
            if draft.session_id != session_id or draft.username != username:
                return None
        return draft

    def discard(self, draft_id: str) -> None:
        with self._lock:
            self._drafts.pop(draft_id, None)
