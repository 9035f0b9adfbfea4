"""What a compliance rule returns for one event, and the envelope of what the bus emits.

A rule never publishes anything itself. :func:`agents.core.rules.evaluate` collects, for one accepted
event, an :class:`Outcome`: findings and directives (payloads of ``schemas/bus/finding.avsc`` and
``schemas/bus/directive.avsc``), pages ("wake on-call QA now"), inbox notices (redacted copies for
holders), obligation specs for the obligation engine, or a refusal (the event goes to the
dead-letter topic instead). The Faust agent (``agents/worker/compliance.py``) turns these into records.

Ids of everything the bus emits are derived from the triggering event's id and the rule id
(uuid5), so replaying the same event yields the same ids and consumers can drop repeats.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from agents.core.emitted import bus_event as envelope, context_of, derived_id  # noqa: F401 (re-exported)
from agents.core.obligations.model import ObligationSpec

# Every id the rules derive (bus events, directives) is uuid5 from agents.core.emitted.derived_id.
BUS_SOURCE = {"system": "QBUS", "instance": "qbus-rules", "party_id": "qbus", "party_role": "BUS", "user": None}

VIOLATION = "finding.violation_recorded"
BREACH = "finding.breach_recorded"
WARNING = "finding.warning_raised"
DIRECTIVE_ISSUED = "directive.issued"
DIRECTIVE_LIFTED = "directive.lifted"


@dataclass(frozen=True)
class Emission:
    """A record the bus emits about the triggering event: a finding or a directive.

    ``event_type`` is e.g. ``finding.violation_recorded``; ``payload`` matches the schema of that
    category in ``schemas/bus/``; ``rule_id`` (with ``discriminator`` when one rule emits several
    records of one type for one event) makes the emitted event's id. ``context`` addresses the
    record to another item than the triggering event's (e.g. a lifted directive keeps the
    agreement and item of the directive it lifts)."""

    event_type: str
    payload: dict
    rule_id: str
    discriminator: str = ""
    context: dict | None = None   # envelope fields to use instead of the triggering event's


    @property
    def action(self) -> str:
        return self.event_type.split(".", 1)[1]


@dataclass(frozen=True)
class Page:
    """A request to page on-call QA now. ``via_directive`` is true when a directive emitted in the
    same outcome already carries the page (the notifier pages on directives)."""

    rule_id: str
    article: str
    reason: str
    severity: str = "CRITICAL"
    via_directive: bool = False


@dataclass(frozen=True)
class Notice:
    """A copy of the event for one holder's inbox (Art. 10: only that holder's inbox)."""

    holder_id: str
    agreement_id: str
    event: dict
    redacted: bool = False

    def topic(self, catalogue) -> str:
        return catalogue.inbox(self.holder_id)


@dataclass(frozen=True)
class Refusal:
    """The event must be dead-lettered instead of acted on, with a reason a person can act on."""

    reason_code: str
    reason: str
    rule_id: str
    article: str


@dataclass
class Outcome:
    """Everything the rules decided about one event. Empty when nothing applies."""

    findings: list[Emission] = field(default_factory=list)
    directives: list[Emission] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    obligations: list[ObligationSpec] = field(default_factory=list)
    refusal: Refusal | None = None
    duplicate: bool = False   # the event was evaluated before; nothing changed

    # -- adding, used by the rules --
    def finding(self, action: str, rule_id: str, article: str, severity: str, message: str,
                event: dict, discriminator: str = "", obligation_id: str | None = None) -> None:
        self.findings.append(Emission(f"finding.{action}", {
            "rule_id": rule_id,
            "article": article,
            "severity": severity,
            "message": message,
            "triggered_by_event_id": event.get("event_id"),
            "obligation_id": obligation_id,
        }, rule_id, discriminator))

    def violation(self, rule_id: str, article: str, severity: str, message: str, event: dict, **kw) -> None:
        self.finding("violation_recorded", rule_id, article, severity, message, event, **kw)

    def warning(self, rule_id: str, article: str, severity: str, message: str, event: dict, **kw) -> None:
        self.finding("warning_raised", rule_id, article, severity, message, event, **kw)

    def page(self, rule_id: str, article: str, reason: str, via_directive: bool = False) -> None:
        self.pages.append(Page(rule_id, article, reason, via_directive=via_directive))

    # -- reading --
    @property
    def empty(self) -> bool:
        return not (self.findings or self.directives or self.pages or self.notices or self.obligations
                    or self.refusal)

    @property
    def emissions(self) -> list[Emission]:
        return [*self.findings, *self.directives]

    def bus_events(self, about_event: dict, now: datetime | None = None) -> list[dict]:
        """Findings and directives as full envelope events, ready for ``Bus.emit``."""
        return [bus_event(e.event_type, e.payload, about_event, now=now, rule_id=e.rule_id,
                          discriminator=e.discriminator, context=e.context) for e in self.emissions]



def bus_event(event_type: str, payload: dict, about_event: dict, *, now: datetime | None = None,
              rule_id: str | None = None, discriminator: str = "", context: dict | None = None) -> dict:
    """A full envelope event the rules emit about ``about_event`` (built by agents.core.emitted).

    The id is uuid5(triggering event id, rule id, event type, discriminator): a replay of the
    triggering event yields the same id. ``context`` replaces the addressing fields taken from
    ``about_event``."""
    rule_id = rule_id or payload.get("rule_id") or payload.get("directive_id") or payload.get("rule") or ""
    suspend = event_type == DIRECTIVE_ISSUED and payload.get("directive") == "SUSPEND_PRODUCTION"
    event = envelope(event_type, dict(payload), {**context_of(about_event), **(context or {})},
                     event_id=derived_id(about_event.get("event_id", ""), rule_id, event_type, discriminator),
                     occurred_at=about_event.get("occurred_at"), now=now, significant_risk=suspend)
    event["source"] = dict(BUS_SOURCE)
    return event


def page_escalation_payload(page: Page, about_event: dict, agreement: Any | None,
                            now: datetime | None = None) -> dict:
    """A ``escalation.raised`` payload for a page no directive carries (e.g. Art. 9: a change
    implemented before approval). Role and channel come from the agreement's first paging step of
    its escalation ladder; the obligation id is derived from the event and the rule, since an
    immediate page answers no overdue obligation."""
    now = now or datetime.now(timezone.utc)
    role, channel, step, of_steps, names = "on_call", "PAGERDUTY", 1, 1, []
    if agreement is not None:
        ladder = list(agreement.escalation_ladder or ())
        of_steps = max(len(ladder), 1)
        paging = next(((i, s) for i, s in enumerate(ladder) if s.page), None)
        if paging is not None:
            step, role, channel = paging[0] + 1, paging[1].role, paging[1].channel.upper()
        names = [p.name for p in agreement.people_for_role(role, party="MANUFACTURER", at=now)]
    category = (about_event.get("event_type") or "").split(".", 1)[0] or None
    return {
        "obligation_id": derived_id(about_event.get("event_id", ""), page.rule_id, "page"),
        "step": step,
        "role": role,
        "recipient": ", ".join(names) or None,
        "channel": channel,
        "page": True,
        "reason": f"{page.article}: {page.reason}",
        "due_at": about_event.get("occurred_at") or now,
        "of_steps": of_steps,
        "recipients": names,
        "category": category,
        "description": f"Act now on {category} {about_event.get('item_ref')}: {page.reason} ({page.article})",
        "responsible_party_id": about_event.get("manufacturer_id"),
    }
