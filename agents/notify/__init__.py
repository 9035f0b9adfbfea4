"""Notifier: delivers escalations and directives over webhook, PagerDuty, Alertmanager and e-mail.

Pure, broker-free code; the Faust agent that consumes the escalation and directive topics builds a
``Notification`` (``templates.notification_from_facts``) and hands it to a ``Dispatcher``.
"""

from agents.notify.channels import (
    AlertmanagerChannel,
    AlertmanagerSettings,
    EmailChannel,
    EmailSettings,
    PagerDutyChannel,
    PagerDutySettings,
    WebhookChannel,
    WebhookSettings,
    verify_signature,
)
from agents.notify.dedupe import DedupeStore, InMemoryDedupeStore, SqliteDedupeStore
from agents.notify.dispatcher import Delivery, Dispatcher, DispatchResult
from agents.notify.model import Notification, Outcome, Recipient, dedupe_key, delivery_key
from agents.notify.retry import RetryPolicy
from agents.notify.templates import notification_from_facts, render

__all__ = [
    "AlertmanagerChannel", "AlertmanagerSettings", "DedupeStore", "Delivery", "DispatchResult",
    "Dispatcher", "EmailChannel", "EmailSettings", "InMemoryDedupeStore", "Notification",
    "Outcome", "PagerDutyChannel", "PagerDutySettings", "Recipient", "RetryPolicy",
    "SqliteDedupeStore", "WebhookChannel", "WebhookSettings", "dedupe_key", "delivery_key",
    "notification_from_facts", "render", "verify_signature",
]
