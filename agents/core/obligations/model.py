"""Obligation records: what is owed (`Obligation`), how it changed (`Change`), what an opener asks
for (`ObligationSpec`). Immutable values, no state; the engine (`engine.py`) keeps them."""
from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, NamedTuple

from agents.core.agreements import Agreement, Duration

OBLIGATION_NAMESPACE = uuid.UUID("6f1c2a44-9a7e-5d2b-8c3e-7b0f4e2d9a61")
_NAMESPACE_BYTES = OBLIGATION_NAMESPACE.bytes


class Kind(str, Enum):
    NOTIFY = "NOTIFY"
    ACKNOWLEDGE = "ACKNOWLEDGE"
    APPROVE = "APPROVE"
    CLOSE = "CLOSE"
    SUBMIT = "SUBMIT"
    PERFORM = "PERFORM"


class State(str, Enum):
    OPEN = "OPEN"            # not yet due
    BREACHED = "BREACHED"    # due and not done; no ladder step fired yet
    ESCALATED = "ESCALATED"  # due, not done, at least one ladder step fired
    SATISFIED = "SATISFIED"  # done (``late`` says whether after its deadline)
    CANCELLED = "CANCELLED"  # no longer owed (e.g. replaced by a correction)


TERMINAL = frozenset({State.SATISFIED, State.CANCELLED})
_ROLE_WORDS = {"HOLDER": "the holder", "MANUFACTURER": "the manufacturer"}
ITEM_WORDS = {
    "deviation": "deviation",
    "change": "change",
    "oos_oot": "OOS/OOT result",
    "qualification_validation": "qualification/validation activity",
    "retention_stability": "retention/stability item",
    "pharmacovigilance": "pharmacovigilance request",
    "regulatory_inspection": "regulatory inspection",
    "adverse_credit": "adverse credit record",
}


# -- time helpers -----------------------------------------------------------------------------
def as_utc(value: Any) -> datetime | None:
    """A tz-aware UTC datetime from a datetime, an ISO-8601 string or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
    else:
        raise TypeError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def required_utc(value: Any, what: str) -> datetime:
    """:func:`as_utc` for a timestamp that must be there."""
    moment = as_utc(value)
    if moment is None:
        raise ValueError(f"{what} is missing")
    return moment


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Epoch microseconds, exactly (a float timestamp would round)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _ONE_US


def span_us(span: timedelta) -> int:
    return span // _ONE_US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


# -- records ----------------------------------------------------------------------------------
class Obligation(NamedTuple):
    """One obligation, as it stands. An immutable record (a named tuple: cheap to create and to
    hold a million of); every change makes a new one with ``_replace``."""

    obligation_id: str
    agreement_id: str
    agreement_version: int
    item_ref: str
    category: str
    kind: Kind
    responsible_party_role: str
    responsible_party_id: str | None
    due_at: datetime
    deadline: str                 # the agreed duration, e.g. "3wd"
    starts_from: str              # which instant it counts from, e.g. "occurred_at"
    start_at: datetime
    opened_by_event_id: str
    opened_at: datetime
    rule: str                     # the article, e.g. "Art. 7"
    satisfied_by: tuple[str, ...] = ()
    satisfier_role: str | None = None
    classification: str | None = None
    calendar_note: str | None = None
    custom_description: str | None = None
    state: State = State.OPEN
    ladder_step: int = 0          # how many ladder steps have fired
    satisfied_by_event_id: str | None = None
    late: bool = False

    @property
    def is_open(self) -> bool:
        return self.state not in TERMINAL

    @property
    def description(self) -> str:
        if self.custom_description:
            return self.custom_description
        who = _ROLE_WORDS.get(self.responsible_party_role, self.responsible_party_role.lower()).capitalize()
        what = f"{ITEM_WORDS.get(self.category, self.category.replace('_', ' '))} {self.item_ref}"
        cls_ = f" ({self.classification})" if self.classification else ""
        other = "the manufacturer" if self.responsible_party_role == "HOLDER" else "the holder"
        verb = {
            Kind.NOTIFY: f"notify {other} of",
            Kind.ACKNOWLEDGE: "acknowledge",
            Kind.APPROVE: "approve or reject",
            Kind.CLOSE: "close",
            Kind.SUBMIT: "submit",
            Kind.PERFORM: "perform",
        }[self.kind]
        return f"{who} must {verb} {what}{cls_}"

    @property
    def basis(self) -> str:
        try:
            span = Duration.parse(self.deadline).describe()
        except ValueError:
            span = self.deadline
        return (f"{span} from {self.starts_from} {_iso(self.start_at)} "
                f"({self.agreement_id} v{self.agreement_version}, {self.rule})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "obligation_id": self.obligation_id,
            "agreement_id": self.agreement_id,
            "agreement_version": self.agreement_version,
            "item_ref": self.item_ref,
            "category": self.category,
            "classification": self.classification,
            "kind": self.kind.value,
            "state": self.state.value,
            "responsible_party_role": self.responsible_party_role,
            "responsible_party_id": self.responsible_party_id,
            "description": self.description,
            "due_at": self.due_at,
            "deadline": self.deadline,
            "starts_from": self.starts_from,
            "start_at": self.start_at,
            "basis": self.basis,
            "calendar_note": self.calendar_note,
            "opened_by_event_id": self.opened_by_event_id,
            "opened_at": self.opened_at,
            "satisfied_by": list(self.satisfied_by),
            "satisfier_role": self.satisfier_role,
            "satisfied_by_event_id": self.satisfied_by_event_id,
            "ladder_step": self.ladder_step,
            "late": self.late,
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Obligation":
        """Rebuild from :meth:`to_dict` output (datetimes as datetime, ISO text or epoch ms)."""
        ob = cls._from_fields(d)
        text = d.get("description")
        if text and not ob.custom_description and text != ob.description:
            ob = ob._replace(custom_description=text)   # a rule's own wording
        return ob

    @classmethod
    def _from_fields(cls, d: dict[str, Any]) -> "Obligation":
        return cls(
            obligation_id=d["obligation_id"],
            agreement_id=sys.intern(d["agreement_id"]),
            agreement_version=int(d.get("agreement_version") or 1),
            item_ref=d["item_ref"],
            category=sys.intern(d["category"]),
            kind=Kind(d["kind"]),
            responsible_party_role=sys.intern(d["responsible_party_role"]),
            responsible_party_id=d.get("responsible_party_id"),
            due_at=required_utc(d["due_at"], "due_at"),
            deadline=sys.intern(d.get("deadline") or ""),
            starts_from=sys.intern(d.get("starts_from") or ""),
            start_at=as_utc(d.get("start_at")) or required_utc(d["due_at"], "due_at"),
            opened_by_event_id=d.get("opened_by_event_id") or "",
            opened_at=as_utc(d.get("opened_at")) or required_utc(d["due_at"], "due_at"),
            rule=sys.intern(d.get("rule") or ""),
            satisfied_by=tuple(d.get("satisfied_by") or ()),
            satisfier_role=d.get("satisfier_role"),
            classification=d.get("classification"),
            calendar_note=d.get("calendar_note"),
            custom_description=d.get("custom_description"),
            state=State(d.get("state") or "OPEN"),
            ladder_step=int(d.get("ladder_step") or 0),
            satisfied_by_event_id=d.get("satisfied_by_event_id"),
            late=bool(d.get("late")),
        )


@dataclass(frozen=True, slots=True)
class Escalation:
    """One ladder step that fired."""

    step: int                     # 1-based position on the ladder
    of_steps: int
    role: str
    channel: str
    page: bool
    reason: str
    recipients: tuple[dict, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """A state change of an obligation; the agent layer publishes it as an enveloped event.

    ``action`` is opened | satisfied | breached | escalated | cancelled; ``at`` is when it happened
    (for timer changes, the instant the timer was due). ``context``: the envelope fields the events
    about this obligation copy (`agents.core.emitted.context_of` of the event that opened it), when
    the engine knows them; not part of the change's identity."""

    action: str
    obligation: Obligation
    at: datetime
    reason: str | None = None
    breach: str | None = None     # "late_notification" | "overdue"
    escalation: Escalation | None = None
    context: dict | None = field(default=None, compare=False, repr=False)

    @property
    def event_type(self) -> str:
        return "escalation.raised" if self.action == "escalated" else f"obligation.{self.action}"

    @property
    def key(self) -> str:
        """Partition / compaction key: one obligation's changes stay in order."""
        return self.obligation.obligation_id

    def to_payload(self) -> dict[str, Any]:
        d = self.obligation.to_dict()
        d.update(action=self.action, at=self.at, reason=self.reason, breach=self.breach,
                 step=None, of_steps=None, role=None, channel=None, page=None, recipients=[])
        if self.escalation is not None:
            e = self.escalation
            d.update(step=e.step, of_steps=e.of_steps, role=e.role, channel=e.channel, page=e.page,
                     reason=e.reason, recipients=list(e.recipients))
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_payload(), default=lambda v: _iso(v) if isinstance(v, datetime) else str(v),
                          ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "Change":
        """Rebuild a change from its payload, or from an enveloped event carrying it."""
        if "payload" in payload and "obligation_id" not in payload:
            payload = payload["payload"]
        esc = None
        if payload.get("action") == "escalated" and payload.get("step") is not None:
            esc = Escalation(int(payload["step"]), int(payload.get("of_steps") or 0), payload.get("role") or "",
                             payload.get("channel") or "", bool(payload.get("page")), payload.get("reason") or "",
                             tuple(payload.get("recipients") or ()))
        return cls(payload.get("action") or "opened", Obligation.from_dict(payload),
                   as_utc(payload.get("at")) or required_utc(payload["due_at"], "due_at"), payload.get("reason"),
                   payload.get("breach"), esc)


# -- openers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObligationSpec:
    """What an opener asks the engine to open. The engine assigns the id and the state."""

    kind: Kind
    category: str
    responsible_party_role: str
    due_at: datetime
    deadline: str
    starts_from: str
    start_at: datetime
    rule: str
    satisfied_by: tuple[str, ...] = ()
    satisfier_role: str | None = None
    calendar_note: str | None = None
    satisfied_by_opening_event: bool = False  # the opening event is itself the performance (NOTIFY)
    description: str | None = None
    item_ref: str | None = None               # default: the event's item_ref
    agreement: Agreement | None = None        # default: the event's agreement (co-line notices differ)
    discriminator: str = ""                   # tells apart specs of one kind from one event
    classification: str | None = None


def human_span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "0s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    text = "".join(parts)
    return text or f"{secs}s"
