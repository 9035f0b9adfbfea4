"""Compliance rules: one pure module per article family, and :func:`evaluate`, which runs them all.

``evaluate(state, event, agreements, now)`` applies one accepted event to the :class:`RuleState`
and returns an :class:`Outcome` (findings, directives, pages, inbox notices, obligation specs, or a
refusal). It is deterministic and idempotent by ``event_id``: the same event a second time changes
nothing and returns an empty outcome marked ``duplicate``. Rebuilding after a restart is replaying
the accepted events, oldest first, and discarding the outcomes (:meth:`ComplianceRules.replay`).

Order matters and is fixed: every rule may refuse first (a refusal means no state changes and the
event is dead-lettered with reason ``RULE_REFUSED``); then the rules apply in :data:`RULES` order
(change control before retention, which reads the change's approval; risk before eligibility,
which may add a suspension of its own); then routing makes the inbox copies (Art. 10).

:class:`ComplianceRules` holds a state, the agreements and a small cache of recent outcomes, so
the compliance agent and the obligation engine (through :meth:`ComplianceRules.opener`) see the
same outcome for one event, whichever asks first.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Callable, Iterable

from agents.core import routing
from agents.core.rules import (access, capacity, change_control, coline, comparability, eligibility, evaluation, licence,
                               periodic, rectification, release, remote_audit, retention, risk)
from agents.core.rules.context import Context, as_utc
from agents.core.rules.outcome import Emission, Notice, Outcome, Page, Refusal, bus_event
from agents.core.rules.state import RuleState
from schemas import SchemaSet, default_schemas

log = logging.getLogger(__name__)

# The rules, in the order they apply. Each module has apply(ctx) and may have refuse(ctx).
RULES = (
    change_control, risk, coline, retention, release, eligibility, licence, periodic,
    evaluation,      # Art. 3
    access,          # Art. 6
    capacity,        # Art. 8
    comparability,   # Art. 10
    rectification,   # Art. 13
    remote_audit,    # Art. 14
)

__all__ = [
    "RULES", "ComplianceRules", "Emission", "Notice", "Outcome", "Page", "Refusal", "RuleState",
    "bus_event", "evaluate", "refusal_of", "urgent",
]


def _from_bus(event: dict) -> bool:
    source = event.get("source") or {}
    return source.get("party_role") == "BUS" or source.get("system") == "QBUS"


def _agreement_for(agreements, agreement_id: str | None, at: datetime):
    if agreements is None or not agreement_id:
        return None
    return agreements.effective(agreement_id, at) or agreements.latest(agreement_id)


def evaluate(state: RuleState, event: dict, agreements, now: datetime | None = None,
             schemas: SchemaSet | None = None) -> Outcome:
    """Apply one accepted event to ``state``; return what the rules decided."""
    event_id = str(event.get("event_id") or "")
    if event_id in state.seen:
        return Outcome(duplicate=True)
    now = now or datetime.now(timezone.utc)
    schemas = schemas or default_schemas()
    outcome = Outcome()
    if _from_bus(event) or event.get("copy_of_event_id"):
        # The bus's own records and its copies for holders are not rule input (they are outcomes of it).
        state.seen.add(event_id)
        return outcome
    published = as_utc(event.get("published_at")) or now
    ctx = Context(state, event, agreements, _agreement_for(agreements, event.get("agreement_id"), published),
                  now, schemas, outcome)
    for rule in RULES:
        refuse = getattr(rule, "refuse", None)
        refusal = refuse(ctx) if refuse is not None else None
        if refusal is not None:
            return Outcome(refusal=refusal)
    for rule in RULES:
        rule.apply(ctx)
    for delivery in routing.route(event, agreements, schemas, at=published):
        outcome.notices.append(Notice(delivery.holder_id, delivery.agreement_id, delivery.event,
                                      bool(delivery.redacted_paths)))
    state.seen.add(event_id)
    return outcome


def refusal_of(event: dict, agreements, now: datetime, schemas: SchemaSet | None = None) -> Refusal | None:
    """Whether a rule refuses the event outright. Refusals need no state (e.g. Art. 8: a co-line
    notice without a risk conclusion), so intake asks before the event is accepted."""
    if _from_bus(event):
        return None
    published = as_utc(event.get("published_at")) or now
    ctx = Context(RuleState(), event, agreements, _agreement_for(agreements, event.get("agreement_id"), published),
                  now, schemas or default_schemas(), Outcome())
    for rule in RULES:
        refuse = getattr(rule, "refuse", None)
        refusal = refuse(ctx) if refuse is not None else None
        if refusal is not None:
            return refusal
    return None


def urgent(event: dict, agreements, schemas: SchemaSet | None = None) -> bool:
    """Whether the event may be a significant risk (Art. 5): then it must not wait behind a backlog."""
    now = as_utc(event.get("published_at")) or datetime.now(timezone.utc)
    ctx = Context(RuleState(), event, agreements, _agreement_for(agreements, event.get("agreement_id"), now),
                  now, schemas or default_schemas(), Outcome())
    return risk.significant_risk(ctx) is not None


class ComplianceRules:
    """A rule state with its agreements, for one worker. Not thread-safe."""

    def __init__(self, agreements, schemas: SchemaSet | None = None,
                 clock: Callable[[], datetime] | None = None, cache_size: int = 10_000):
        self.agreements = agreements
        self.schemas = schemas or default_schemas()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.state = RuleState()
        self.cache_size = cache_size
        self._recent: OrderedDict[str, Outcome] = OrderedDict()

    def evaluate(self, event: dict, now: datetime | None = None) -> Outcome:
        """The outcome of an event; asking again for a recent event returns the same outcome
        (same emitted ids), so a redelivered event re-emits what a crash may have lost."""
        event_id = event.get("event_id") or ""
        if event_id in self._recent:
            return self._recent[event_id]
        outcome = evaluate(self.state, event, self.agreements, now or self.clock(), self.schemas)
        if not outcome.duplicate:
            self._remember(event_id, outcome)
        return outcome

    def _remember(self, event_id: str, outcome: Outcome) -> None:
        self._recent[event_id] = outcome
        while len(self._recent) > self.cache_size:
            self._recent.popitem(last=False)

    def rebuild(self, events: Iterable[dict]) -> int:
        """Forget everything and replay the accepted events (a worker that gains the rules)."""
        self.state = RuleState()
        self._recent.clear()
        return self.replay(events)

    def replay(self, events: Iterable[dict], now: datetime | None = None) -> int:
        """Rebuild the state from accepted events, oldest first, and publish nothing: the caller
        discards the outcomes. The most recent ones stay in the cache, so an event redelivered
        after a restart gets the outcome (and ids) it had. Returns how many events changed the
        state (duplicates and refusals do not)."""
        applied = 0
        for event in events:
            outcome = evaluate(self.state, event, self.agreements, now or self.clock(), self.schemas)
            if not outcome.duplicate:
                self._remember(event.get("event_id") or "", outcome)
            applied += not (outcome.duplicate or outcome.refusal)
        return applied

    def opener(self, event: dict, agreement, calendar) -> list:
        """An opener for ``ObligationEngine``'s registry: the obligation specs the rules produce for
        ``event`` (evaluating it if the compliance agent has not yet)."""
        return list(self.evaluate(event).obligations)

    def bus_events(self, event: dict, outcome: Outcome, now: datetime | None = None) -> list[dict]:
        return outcome.bus_events(event, now or self.clock())
