"""Notifier: delivers escalations and directives over webhook, PagerDuty, Alertmanager and e-mail.

Pure, broker-free code; the Faust agent that consumes the escalation and directive topics builds a
``Notification`` (``templates.notification_from_facts``) and hands it to a ``Dispatcher``.
"""

from agents.worker.notify.channels import (
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
from agents.worker.notify.dedupe import DedupeStore, InMemoryDedupeStore, LedgerDedupeStore
from agents.worker.notify.dispatcher import Delivery, Dispatcher, DispatchResult
from agents.worker.notify.model import Notification, Outcome, Recipient, dedupe_key, delivery_key
from agents.worker.notify.retry import RetryPolicy
from agents.worker.notify.templates import notification_from_facts, render

__all__ = [
    "AlertmanagerChannel", "AlertmanagerSettings", "DedupeStore", "Delivery", "DispatchResult",
    "Dispatcher", "EmailChannel", "EmailSettings", "InMemoryDedupeStore", "Notification",
    "Outcome", "PagerDutyChannel", "PagerDutySettings", "Recipient", "RetryPolicy",
    "LedgerDedupeStore", "WebhookChannel", "WebhookSettings", "dedupe_key", "delivery_key",
    "notification_from_facts", "render", "verify_signature",
]
