"""E-mail channel: SMTP (STARTTLS when offered) via the standard library."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import smtplib
import ssl
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Literal

from agents.worker.notify.channels.base import header_safe
from agents.worker.notify.model import Notification, Outcome, Recipient, delivery_key


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
