"""Alertmanager channel: Prometheus Alertmanager API v2."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from agents.worker.notify.channels.base import _HttpChannel, _iso, _post
from agents.worker.notify.model import Notification, Outcome, Recipient


ALERTNAME = "QbusEscalation"


@dataclass(frozen=True)
class AlertmanagerSettings:
    url: str = ""  # used when recipient.address is empty
    dashboard_url: str = "http://127.0.0.1:8080"  # generatorURL points at the item there
    alert_ttl: timedelta = timedelta(days=3)  # endsAt for a firing alert we do not re-send
    timeout: float = 10.0


def alert_labels(notification: Notification, step: int | None = None) -> dict[str, str]:
    n = notification
    return {
        "alertname": ALERTNAME,
        "agreement": n.agreement_id,
        "category": n.category,
        "severity": n.severity,
        "item": n.item_ref,
        "step": str(n.step if step is None else step),
        "incident": n.incident_key,
    }


def alertmanager_alerts(
    notification: Notification, recipient: Recipient, settings: AlertmanagerSettings,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Alerts for ``POST /api/v2/alerts``.

    An escalation or directive is one firing alert per step (labels identify it); acknowledge and
    resolve end the alerts of every step up to ``notification.step`` (same labels, endsAt = now),
    so the resolving notification must carry the original agreement, category, severity and item.
    """
    n, lang = notification, recipient.language
    now = now or datetime.now(timezone.utc)
    generator = (
        f"{settings.dashboard_url.rstrip('/')}/items/{quote(n.item_ref, safe='')}"
        f"?agreement={quote(n.agreement_id, safe='')}"
    )
    annotations = {
        "summary": n.title(lang),
        "description": n.body(lang),
        "summary_zh": n.title_zh,
        "summary_en": n.title_en,
        "notification_key": n.notification_key,
        "page": "true" if n.page else "false",
    }
    if n.kind in ("escalation", "directive"):
        return [{
            "labels": alert_labels(n),
            "annotations": annotations,
            "startsAt": _iso(n.created_at),
            "endsAt": _iso(max(now, n.created_at) + settings.alert_ttl),
            "generatorURL": generator,
        }]
    steps = range(1, n.step + 1) if n.step > 0 else (0,)
    return [{
        "labels": alert_labels(n, step),
        "annotations": annotations,
        "startsAt": _iso(min(n.created_at, now)),
        "endsAt": _iso(now),
        "generatorURL": generator,
    } for step in steps]


class AlertmanagerChannel(_HttpChannel):
    """Prometheus Alertmanager API v2; ``recipient.address`` is the base URL (or settings.url)."""

    name = "alertmanager"

    def __init__(self, settings: AlertmanagerSettings | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        settings = settings or AlertmanagerSettings()
        super().__init__(settings.timeout, client)
        self.settings = settings

    async def deliver(self, notification: Notification, recipient: Recipient) -> Outcome:
        base = (recipient.address or self.settings.url).rstrip("/")
        if not base:
            return Outcome.give_up("no Alertmanager URL configured")
        alerts = alertmanager_alerts(notification, recipient, self.settings)
        return await _post(self.client, f"{base}/api/v2/alerts", json=alerts)
