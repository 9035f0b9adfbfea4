"""What the notifier delivers: a rendered notification, the people it goes to, and outcomes.

Nothing here knows about Kafka. The escalation agent turns an agreement's ladder step (role, the
people on the on-call rota at that moment, their channels) into ``Recipient`` objects and the facts
of the overdue obligation or directive into a ``Notification``; the dispatcher delivers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

ChannelName = Literal["webhook", "pagerduty", "alertmanager", "email"]
Language = Literal["zh", "en"]
Kind = Literal["escalation", "directive", "acknowledge", "resolve"]
Severity = Literal["critical", "major", "minor", "info"]

CHANNELS: tuple[str, ...] = ("webhook", "pagerduty", "alertmanager", "email")
LANGUAGES: tuple[str, ...] = ("zh", "en")
KINDS: tuple[str, ...] = ("escalation", "directive", "acknowledge", "resolve")
SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "info")
# Kinds that ask someone to act; acknowledging (or resolving) their incident stops their retries.
ACTIONABLE_KINDS: frozenset[str] = frozenset({"escalation", "directive"})


@dataclass(frozen=True)
class Recipient:
    """One person (or system) reached on one channel.

    ``address`` depends on the channel: a URL for ``webhook``; the Events API v2 routing
    (integration) key for ``pagerduty`` (the URL is channel configuration); the Alertmanager base
    URL for ``alertmanager`` (empty: the channel's configured URL); an e-mail address for ``email``.
    ``name`` is the stable identifier of the person on the rota (it is part of the dedupe and
    idempotency keys, and it appears in receipts; the address does not, since routing keys and
    webhook URLs can be secrets).
    """

    name: str
    channel: ChannelName
    address: str
    language: Language = "zh"

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}; expected one of {CHANNELS}")
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}; expected one of {LANGUAGES}")
        if not self.name:
            raise ValueError("a recipient needs a name (the rota's identifier for the person)")


@dataclass(frozen=True)
class Notification:
    """A rendered message about one step of one incident, addressed to a list of recipients.

    ``notification_key`` is stable for the step (``f"{obligation_id}:step{n}"``, or the directive's
    event id): a worker that restarts and dispatches it again pages nobody twice.
    ``incident_key`` is stable for the whole incident (the obligation id, the directive event id):
    PagerDuty's ``dedup_key`` and the key that acknowledge/resolve act on. It defaults to the
    notification key.
    """

    notification_key: str
    kind: Kind
    agreement_id: str
    category: str
    severity: Severity
    item_ref: str
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str
    recipients: tuple[Recipient, ...]
    page: bool = False
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    incident_key: str = ""
    step: int = 0
    facts: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; expected one of {KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}; expected one of {SEVERITIES}")
        if not self.notification_key:
            raise ValueError("a notification needs a notification_key")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if not self.incident_key:
            object.__setattr__(self, "incident_key", self.notification_key)

    def title(self, language: str) -> str:
        return self.title_zh if language == "zh" else self.title_en

    def body(self, language: str) -> str:
        return self.body_zh if language == "zh" else self.body_en


def delivery_key(notification: Notification, recipient: Recipient) -> str:
    """The idempotency key of one delivery: ``<notification_key>:<recipient name>``."""
    return f"{notification.notification_key}:{recipient.name}"


def dedupe_key(notification: Notification, recipient: Recipient) -> str:
    """What the dedupe store remembers: the delivery key on one channel (a person reached by
    PagerDuty and by e-mail at the same step gets both)."""
    return f"{recipient.channel}|{delivery_key(notification, recipient)}"


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to, as a channel sees it.

    ``retry``: a transient failure (connection refused, timeout, HTTP 429/5xx, SMTP 4xx).
    ``give_up``: a permanent one (HTTP 4xx other than 408/425/429, SMTP 5xx, bad configuration);
    retrying would not help. ``retry_after`` carries a server's Retry-After, in seconds.
    """

    status: Literal["delivered", "retry", "give_up"]
    detail: str = ""
    retry_after: float | None = None

    @classmethod
    def delivered(cls, detail: str = "") -> "Outcome":
        return cls("delivered", detail)

    @classmethod
    def retry(cls, detail: str, retry_after: float | None = None) -> "Outcome":
        return cls("retry", detail, retry_after)

    @classmethod
    def give_up(cls, detail: str) -> "Outcome":
        return cls("give_up", detail)
