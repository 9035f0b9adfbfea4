"""Webhook channel: signed JSON POST to the recipient's URL."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from agents.worker.notify.channels.base import (IDEMPOTENCY_HEADER, SIGNATURE_HEADER, _HttpChannel, _iso, _post,
                                         header_safe, sign)
from agents.worker.notify.model import Notification, Outcome, Recipient, delivery_key


@dataclass(frozen=True)
class WebhookSettings:
    secret: str | bytes = field(repr=False)
    timeout: float = 10.0


def webhook_body(notification: Notification, recipient: Recipient) -> dict[str, Any]:
    """The JSON a webhook subscriber receives (same bytes on every attempt of a delivery)."""
    n, lang = notification, recipient.language
    return {
        "idempotency_key": delivery_key(n, recipient),
        "notification_key": n.notification_key,
        "incident_key": n.incident_key,
        "kind": n.kind,
        "agreement_id": n.agreement_id,
        "category": n.category,
        "severity": n.severity,
        "item_ref": n.item_ref,
        "step": n.step,
        "page": n.page,
        "created_at": _iso(n.created_at),
        "recipient": {"name": recipient.name, "language": lang},
        "language": lang,
        "title": n.title(lang),
        "body": n.body(lang),
        "text": {
            "zh": {"title": n.title_zh, "body": n.body_zh},
            "en": {"title": n.title_en, "body": n.body_en},
        },
        "facts": _jsonable(n.facts),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value) if value.tzinfo else value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class WebhookChannel(_HttpChannel):
    """POST JSON to ``recipient.address``, signed with HMAC-SHA256, with an Idempotency-Key."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings, client: httpx.AsyncClient | None = None) -> None:
        super().__init__(settings.timeout, client)
        self.settings = settings

    def request(self, notification: Notification, recipient: Recipient) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            webhook_body(notification, recipient), ensure_ascii=False, sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(self.settings.secret, body),
            IDEMPOTENCY_HEADER: header_safe(delivery_key(notification, recipient)),
        }
        return body, headers

    async def deliver(self, notification: Notification, recipient: Recipient) -> Outcome:
        body, headers = self.request(notification, recipient)
        return await _post(self.client, recipient.address, content=body, headers=headers)
