"""One class per delivery channel, each with ``async deliver(notification, recipient) -> Outcome``.

A channel makes exactly one attempt and says whether it worked, may work later (``retry``) or never
will (``give_up``); retries, dedupe and receipts are the dispatcher's job. Channels never raise for
a failed delivery. Settings are small frozen dataclasses; the agent builds them from the app's
settings (secrets included) and passes them in.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx

from agents.notify.model import Notification, Outcome, Recipient, delivery_key

SIGNATURE_HEADER = "X-Qbus-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
USER_AGENT = "qbus-notifier/0.1"


class Channel(Protocol):
    name: str

    async def deliver(self, notification: Notification, recipient: Recipient) -> Outcome: ...

    async def aclose(self) -> None: ...


# --------------------------------------------------------------------------- HTTP helpers

def sign(secret: bytes | str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the value of ``X-Qbus-Signature``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes | str, body: bytes, header: str) -> bool:
    """For receivers (and tests): constant-time check of ``X-Qbus-Signature``."""
    return hmac.compare_digest(sign(secret, body), header or "")


def header_safe(value: str) -> str:
    """HTTP header values are Latin-1; keep ASCII keys readable, percent-encode the rest."""
    return quote(value, safe=":@-._~!$&'()*+,;=/")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def classify_http(response: httpx.Response) -> Outcome:
    """2xx delivered; 408, 425, 429 and 5xx retry; any other status gives up."""
    code = response.status_code
    text = response.text[:200].strip()
    detail = f"HTTP {code}" + (f": {text}" if text else "")
    if 200 <= code < 300:
        return Outcome.delivered(detail)
    if code in (408, 425, 429) or code >= 500:
        return Outcome.retry(detail, _retry_after(response))
    return Outcome.give_up(detail)


async def _post(client: httpx.AsyncClient, url: str, **kwargs: Any) -> Outcome:
    try:
        response = await client.post(url, **kwargs)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return Outcome.give_up(f"bad URL: {exc}")
    except httpx.TransportError as exc:
        return Outcome.retry(f"{type(exc).__name__}: {exc}")
    return classify_http(response)


class _HttpChannel:
    name = ""

    def __init__(self, timeout: float, client: httpx.AsyncClient | None) -> None:
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout, headers={"User-Agent": USER_AGENT}
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- webhook

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


# --------------------------------------------------------------------------- PagerDuty

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


# --------------------------------------------------------------------------- Alertmanager

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


# --------------------------------------------------------------------------- e-mail

@dataclass(frozen=True)
class EmailSettings:
    host: str
    from_addr: str
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # auto: STARTTLS when the server offers it; required: refuse to send in clear; off: never.
    starttls: Literal["auto", "required", "off"] = "auto"
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    timeout: float = 15.0
    message_id_domain: str = "qbus.local"


def message_id(key: str, domain: str = "qbus.local") -> str:
    """A Message-ID derived from the delivery key: the same delivery always has the same id."""
    return f"<qbus.{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def email_message(
    notification: Notification, recipient: Recipient, settings: EmailSettings
) -> EmailMessage:
    n, lang = notification, recipient.language
    key = delivery_key(n, recipient)
    msg = EmailMessage()
    msg["From"] = settings.from_addr
    msg["To"] = Address(display_name=recipient.name, addr_spec=recipient.address)
    msg["Subject"] = n.title(lang)
    msg["Date"] = email.utils.format_datetime(n.created_at)
    msg["Message-ID"] = message_id(key, settings.message_id_domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Qbus-Notification-Key"] = header_safe(n.notification_key)
    msg["X-Qbus-Idempotency-Key"] = header_safe(key)
    msg["X-Qbus-Severity"] = n.severity
    if n.page or n.severity == "critical":
        msg["Importance"] = "high"
        msg["X-Priority"] = "1"
    msg.set_content(n.body(lang), charset="utf-8")
    msg["Content-Language"] = "zh-CN" if lang == "zh" else "en"  # set_content drops Content-*
    return msg


class _NoTls(Exception):
    pass


class EmailChannel:
    """SMTP via the standard library's smtplib, run in a worker thread (no extra dependency).

    STARTTLS is used whenever the server offers it (``starttls="auto"``); with ``"required"`` a
    server that does not offer it gets nothing. 4xx replies and connection errors are retried,
    5xx replies and certificate failures give up.
    """

    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    async def deliver(self, notification: Notification, recipient: Recipient) -> Outcome:
        msg = email_message(notification, recipient, self.settings)
        return await asyncio.to_thread(self._send, msg, recipient.address)

    async def aclose(self) -> None:
        return None

    def _send(self, msg: EmailMessage, to_addr: str) -> Outcome:
        s = self.settings
        where = f"{s.host}:{s.port}"
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                smtp.ehlo()
                tls = False
                if s.starttls != "off" and smtp.has_extn("starttls"):
                    smtp.starttls(context=s.ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                    tls = True
                elif s.starttls == "required":
                    raise _NoTls()
                if s.username:
                    smtp.login(s.username, s.password or "")
                smtp.send_message(msg, from_addr=s.from_addr, to_addrs=[to_addr])
        except _NoTls:
            return Outcome.give_up(f"{where} does not offer STARTTLS and TLS is required")
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (550, b""))
            detail = f"recipient refused by {where}: {code} {_text(text)}"
            return Outcome.retry(detail) if 400 <= code < 500 else Outcome.give_up(detail)
        except smtplib.SMTPResponseException as exc:  # sender refused, data error, auth, helo
            detail = f"{where} replied {exc.smtp_code} {_text(exc.smtp_error)}"
            return Outcome.retry(detail) if 400 <= exc.smtp_code < 500 else Outcome.give_up(detail)
        except smtplib.SMTPNotSupportedError as exc:
            return Outcome.give_up(f"{where}: {exc}")
        except ssl.SSLCertVerificationError as exc:
            return Outcome.give_up(f"{where}: TLS certificate not trusted: {exc.verify_message}")
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timeout, disconnected
            return Outcome.retry(f"{where}: {type(exc).__name__}: {exc}")
        return Outcome.delivered(
            f"accepted by {where} ({'STARTTLS' if tls else 'no TLS'}), Message-ID {msg['Message-ID']}"
        )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
