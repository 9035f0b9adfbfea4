"""The escalation ladder an obligation climbs: the agreement version it was opened under, when
each step fires, and what a fired step says (Arts. 7 and 15)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from agents.core.agreements import Agreement, AgreementSet, LadderStep
from agents.core.calendar import WorkingCalendar
from agents.core.obligations.model import Escalation, Obligation, from_us, human_span, to_us

_US = 1_000_000


class Ladder(NamedTuple):
    agreement: Agreement | None
    steps: tuple[LadderStep, ...]
    offsets_us: tuple[int | None, ...]   # microseconds after the deadline, for wall-clock steps
    calendar: WorkingCalendar
    tz: Any

    def fire_us(self, due_us: int, token: int) -> int:
        """When timer ``token`` of an obligation due at ``due_us`` fires: -1 the deadline itself,
        k >= 0 ladder step k."""
        if token < 0:
            return due_us
        offset = self.offsets_us[token]
        if offset is not None:
            return due_us + offset
        return to_us(self.steps[token].after.after(from_us(due_us), self.calendar)[0])

    def escalation(self, ob: Obligation, index: int, at: datetime) -> Escalation:
        step = self.steps[index]
        recipients: tuple[dict, ...] = ()
        if self.agreement is not None:
            people = self.agreement.people_for_role(step.role, category=ob.category,
                                                    party=ob.responsible_party_role, at=at)
            recipients = tuple({"name": p.name, "email": p.email, "phone": p.phone, "language": p.language,
                                "party": p.party} for p in people)
        total = len(self.steps)
        local_due = ob.due_at.astimezone(self.tz)
        reason = (f"{ob.description}: due {local_due.strftime('%Y-%m-%d %H:%M ')}{local_due.tzname()}, overdue by "
                  f"{human_span(at - ob.due_at)}; step {index + 1} of {total}: {step.role} by {step.channel}"
                  + (" (page)" if step.page else ""))
        if not recipients:
            reason += f"; nobody holds the role '{step.role}' at this time"
        return Escalation(index + 1, total, step.role, step.channel, step.page, reason, recipients)


class Ladders:
    """Ladders by (agreement, version), built once each (Art. 15: open obligations keep the
    terms they were opened under)."""

    def __init__(self, agreements: AgreementSet):
        self.agreements = agreements
        self._cache: dict[tuple[str, int], Ladder] = {}

    def of(self, agreement_id: str, version: int) -> Ladder:
        key = (agreement_id, version)
        ladder = self._cache.get(key)
        if ladder is None:
            agreement = self.agreements.version(agreement_id, version) or self.agreements.latest(agreement_id)
            steps = tuple(agreement.escalation_ladder) if agreement else ()
            ladder = Ladder(
                agreement, steps,
                tuple(st.after.seconds() * _US if st.after.is_wall_clock else None for st in steps),
                self.agreements.calendar(agreement) if agreement else WorkingCalendar(),
                ZoneInfo(agreement.timezone) if agreement else timezone.utc)
            if agreement is not None:     # an agreement loaded later is picked up then
                self._cache[key] = ladder
        return ladder
