"""What the channels share: the ``Channel`` protocol, HMAC signing, HTTP classification and the
base class of the HTTP channels."""

from __future__ import annotations

import email.utils
import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from agents.worker.notify.model import Notification, Outcome, Recipient

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
