"""One class per delivery channel, each with ``async deliver(notification, recipient) -> Outcome``.

A channel makes exactly one attempt and says whether it worked, may work later (``retry``) or never
will (``give_up``); retries, dedupe and receipts are the dispatcher's job. Channels never raise for
a failed delivery. Settings are small frozen dataclasses; the agent builds them from the app's
settings (secrets included) and passes them in.

One module per channel (``webhook``, ``pagerduty``, ``alertmanager``, ``email``) plus ``base`` for
what they share; every name is re-exported here, so ``from agents.worker.notify.channels import X`` keeps
working.
"""

# The private helpers (``_post``, ``_iso``, ...) are re-exported too, as the single module had them.
from agents.worker.notify.channels.alertmanager import (ALERTNAME, AlertmanagerChannel, AlertmanagerSettings,
                                                 alert_labels, alertmanager_alerts)
from agents.worker.notify.channels.base import (IDEMPOTENCY_HEADER, SIGNATURE_HEADER, USER_AGENT, Channel,  # noqa: F401
                                         _HttpChannel, _iso, _post, _retry_after, classify_http,
                                         header_safe, sign, verify_signature)
from agents.worker.notify.channels.email import (EmailChannel, EmailSettings, _NoTls, _text, email_message,  # noqa: F401
                                          message_id)
from agents.worker.notify.channels.pagerduty import (PAGERDUTY_ACTION, PAGERDUTY_SEVERITY, PagerDutyChannel,
                                              PagerDutySettings, pagerduty_event)
from agents.worker.notify.channels.webhook import WebhookChannel, WebhookSettings, _jsonable, webhook_body  # noqa: F401

__all__ = [
    "ALERTNAME", "AlertmanagerChannel", "AlertmanagerSettings", "Channel", "EmailChannel",
    "EmailSettings", "IDEMPOTENCY_HEADER", "PAGERDUTY_ACTION", "PAGERDUTY_SEVERITY",
    "PagerDutyChannel", "PagerDutySettings", "SIGNATURE_HEADER", "USER_AGENT", "WebhookChannel",
    "WebhookSettings", "alert_labels", "alertmanager_alerts", "classify_http", "email_message",
    "header_safe", "message_id", "pagerduty_event", "sign", "verify_signature", "webhook_body",
]
