"""PagerDuty channel: Events API v2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from agents.worker.notify.channels.base import _HttpChannel, _iso, _post
from agents.worker.notify.model import Notification, Outcome, Recipient


PAGERDUTY_SEVERITY = {"critical": "critical", "major": "error", "minor": "warning", "info": "info"}
PAGERDUTY_ACTION = {
    "escalation": "trigger",
    "directive": "trigger",
    "acknowledge": "acknowledge",
    "resolve": "resolve",
}


@dataclass(frozen=True)
class PagerDutySettings:
    url: str = "https://events.pagerduty.com/v2/enqueue"
    source: str = "qbus"
    timeout: float = 10.0


def pagerduty_event(
    notification: Notification, recipient: Recipient, source: str = "qbus"
) -> dict[str, Any]:
    """An Events API v2 event. ``dedup_key`` is the incident key: every step of one overdue
    obligation (and its acknowledge/resolve) lands on the same PagerDuty incident."""
    n, lang = notification, recipient.language
    action = PAGERDUTY_ACTION[n.kind]
    event: dict[str, Any] = {
        "routing_key": recipient.address,
        "event_action": action,
        "dedup_key": n.incident_key,
    }
    if action == "trigger":
        event["payload"] = {
            "summary": n.title(lang)[:1024],
            "source": source,
            "severity": PAGERDUTY_SEVERITY[n.severity],
            "timestamp": _iso(n.created_at),
            "component": n.item_ref,
            "group": n.agreement_id,
            "class": n.category,
            "custom_details": {
                "notification_key": n.notification_key,
                "kind": n.kind,
                "step": n.step,
                "recipient": recipient.name,
                "title_zh": n.title_zh,
                "title_en": n.title_en,
                "details": n.body(lang),
            },
        }
    return event


class PagerDutyChannel(_HttpChannel):
    """Events API v2 to a configurable URL; ``recipient.address`` is the routing key."""

    name = "pagerduty"

    def __init__(self, settings: PagerDutySettings | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        settings = settings or PagerDutySettings()
        super().__init__(settings.timeout, client)
        self.settings = settings

    async def deliver(self, notification: Notification, recipient: Recipient) -> Outcome:
        if not recipient.address:
            return Outcome.give_up("no PagerDuty routing key for this recipient")
        event = pagerduty_event(notification, recipient, self.settings.source)
        return await _post(self.client, self.settings.url, json=event)
