"""Who gets what for an escalation or a directive (`NotifierService`): broker-free.

It resolves a ladder step's role to the people on the agreement's contacts and on-call rota at
that moment, renders the message in each person's language, and hands it to the `Dispatcher`
(retries, dedupe, receipts). The notify stage (`agents.worker.notify.stage`) feeds it records and
records the receipts as `delivery.*` events.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from agents.core.emitted import bus_event, context_of, derived_id
from agents.worker.notify.channels import (AlertmanagerChannel, AlertmanagerSettings, EmailChannel, EmailSettings,
                                    PagerDutyChannel, PagerDutySettings, WebhookChannel, WebhookSettings)
from agents.worker.notify.dispatcher import Dispatcher
from agents.worker.notify.model import Recipient
from agents.worker.notify.templates import notification_from_facts

log = logging.getLogger(__name__)

SEVERITY = {"CRITICAL": "critical", "MAJOR": "major", "MINOR": "minor"}
RECEIPT_ACTION = {"delivered": "delivered", "failed": "attempted", "gave_up": "failed"}
RECEIPT_OUTCOME = {"delivered": "DELIVERED", "failed": "RETRYING", "gave_up": "FAILED"}


def channels_from_settings(settings) -> dict:
    channels = {"pagerduty": PagerDutyChannel(PagerDutySettings(url=settings.pagerduty_url)),
                "webhook": WebhookChannel(WebhookSettings(secret=settings.notify_webhook_secret.get_secret_value())),
                "alertmanager": AlertmanagerChannel(AlertmanagerSettings(url=settings.alertmanager_url or "",
                                                                         dashboard_url=settings.dashboard_url))}
    if settings.smtp_host:
        channels["email"] = EmailChannel(EmailSettings(
            host=settings.smtp_host, port=settings.smtp_port, from_addr=settings.smtp_from,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls))
    return channels


class NotifierService:
    def __init__(self, agreements, dispatcher: Dispatcher, settings):
        self.agreements = agreements
        self.dispatcher = dispatcher
        self.settings = settings

    # -- who ---------------------------------------------------------------------------------
    def address(self, person, channel: str) -> str:
        if channel == "email":
            return person.email or ""
        if channel == "webhook":
            return self.settings.notify_webhook_url or ""
        if channel == "pagerduty":
            key = self.settings.pagerduty_routing_key
            return key.get_secret_value() if key else ""
        return ""  # alertmanager: the channel's configured URL

    def recipients(self, agreement, role: str, channel: str, *, category: str | None,
                   party: str | None, at: datetime) -> list[Recipient]:
        people = agreement.people_for_role(role, category=category, party=party, at=at)
        return [Recipient(name=p.name, channel=channel, address=self.address(p, channel), language=p.language)
                for p in people]

    def _agreement(self, event: dict):
        return self.agreements.effective(event["agreement_id"], event["occurred_at"]) \
            or self.agreements.latest(event["agreement_id"])

    # -- what --------------------------------------------------------------------------------
    def for_escalation(self, event: dict):
        p, agreement = event["payload"], self._agreement(event)
        if agreement is None:
            log.warning("escalation %s: agreement %s unknown; nobody to notify", event["event_id"], event["agreement_id"])
            return None
        now = datetime.now(timezone.utc)
        recipients = self.recipients(agreement, p["role"], p["channel"].lower(), category=p.get("category"),
                                     party=None, at=now)
        facts = {**self._facts(event), "category": p.get("category") or "", "step": p["step"],
                 "due_at": p["due_at"], "overdue_for": now - p["due_at"], "reason": p["reason"],
                 "party": p.get("responsible_party_id") or "?", "action": (p.get("kind") or "ACKNOWLEDGE").lower()}
        return notification_from_facts(
            "obligation_overdue", facts, notification_key=f"{p['obligation_id']}:step{p['step']}",
            kind="escalation", recipients=recipients, page=bool(p["page"]), incident_key=p["obligation_id"])

    def for_directive(self, event: dict):
        p, agreement = event["payload"], self._agreement(event)
        if agreement is None or p["directive"] != "SUSPEND_PRODUCTION":
            return None
        now = datetime.now(timezone.utc)
        # Art. 5: a significant risk pages on-call at once, through the ladder's paging step, and
        # tells both heads of quality by e-mail.
        paging = next((s for s in agreement.escalation_ladder if s.page), None)
        recipients = []
        if paging is not None:
            recipients += self.recipients(agreement, paging.role, paging.channel, category=None, party=None, at=now)
        recipients += self.recipients(agreement, "head_of_quality", "email", category=None, party=None, at=now)
        facts = {**self._facts(event), "category": "production", "issued_at": event["occurred_at"],
                 "reason": p["reason"], "line": p.get("line_id") or event.get("line_id")}
        return notification_from_facts(
            "production_suspended", facts, notification_key=p["directive_id"], kind="directive",
            recipients=_unique(recipients), page=True, incident_key=p["directive_id"])

    @staticmethod
    def _facts(event: dict) -> dict:
        return {"agreement_id": event["agreement_id"], "item_ref": event["item_ref"],
                "severity": SEVERITY.get(event.get("classification") or "", "critical"),
                "product": f"{event['product']['code']} {event['product']['generic_name']}",
                "batch_no": event.get("batch_no"), "site": event.get("site_id"),
                "manufacturer": event.get("manufacturer_id")}

    def next_step(self, escalation: dict, result) -> dict | None:
        """The next ladder step, raised now because this one reached nobody (None at the top)."""
        p, agreement = escalation["payload"], self._agreement(escalation)
        if agreement is None or p["step"] >= len(agreement.escalation_ladder):
            return None
        step = agreement.escalation_ladder[p["step"]]  # steps are 1-based, the list 0-based
        why = "; ".join(f"{d.recipient.name}: {d.detail}" for d in result.deliveries) or "no recipient"
        payload = dict(p, step=p["step"] + 1, role=step.role, channel=step.channel.upper(), page=step.page,
                       reason=f"step {p['step']} reached nobody ({why})", recipients=[], recipient=None)
        # Same id the engine gives this step, so the engine's own firing later is a no-op.
        return bus_event("escalation.raised", payload, context_of(escalation),
                         event_id=derived_id("escalation", p["obligation_id"], p["step"] + 1),
                         occurred_at=datetime.now(timezone.utc))

    # -- receipts ----------------------------------------------------------------------------
    @staticmethod
    def receipt_event(receipt: dict, about: dict) -> dict:
        outcome = receipt["outcome"]
        payload = {"notification_key": receipt["notification_key"], "channel": receipt["channel"].upper(),
                   "recipient": receipt["recipient"], "attempt": receipt["attempt"], "outcome": RECEIPT_OUTCOME[outcome],
                   "detail": receipt.get("detail") or "", "about_event_id": about["event_id"]}
        return bus_event(f"delivery.{RECEIPT_ACTION[outcome]}", payload, context_of(about),
                         event_id=derived_id("delivery", receipt["notification_key"], receipt["recipient"],
                                             receipt["attempt"], outcome),
                         occurred_at=datetime.now(timezone.utc))


def _unique(recipients: list[Recipient]) -> list[Recipient]:
    seen, out = set(), []
    for r in recipients:
        if (r.name, r.channel) not in seen:
            seen.add((r.name, r.channel))
            out.append(r)
    return out
