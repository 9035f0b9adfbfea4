"""What every rule sees for one event: the state, the event, the agreements, the clock."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from agents.core.agreements import Agreement, AgreementSet, Duration
from agents.core.calendar import DEFAULT_TIMEZONE, WorkingCalendar, calendar_for
from agents.core.obligations.model import Kind, ObligationSpec, as_utc as instant
from agents.core.rules.outcome import Outcome
from agents.core.rules.state import RuleState
from schemas import SchemaSet


def as_utc(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    if isinstance(value, str):
        return as_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    raise TypeError(f"not a timestamp: {value!r}")


def as_date(value) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


@dataclass
class Context:
    state: RuleState
    event: dict
    agreements: AgreementSet | None
    agreement: Agreement | None
    now: datetime
    schemas: SchemaSet
    outcome: Outcome

    # -- the event --
    @property
    def event_type(self) -> str:
        return self.event.get("event_type") or ""

    @property
    def category(self) -> str:
        return self.event_type.split(".", 1)[0]

    @property
    def action(self) -> str:
        return self.event_type.partition(".")[2]

    @property
    def payload(self) -> dict:
        return self.event.get("payload") or {}

    @property
    def role(self) -> str | None:
        """The publishing party's role: HOLDER, MANUFACTURER, REGULATOR or BUS."""
        return ((self.event.get("source") or {}).get("party_role") or "").upper() or None

    @property
    def event_id(self) -> str:
        return self.event.get("event_id") or ""

    @property
    def agreement_id(self) -> str:
        return self.event.get("agreement_id") or ""

    @property
    def item_ref(self) -> str:
        return self.event.get("item_ref") or ""

    @property
    def product_code(self) -> str | None:
        return (self.event.get("product") or {}).get("code")

    @property
    def classification(self) -> str | None:
        c = self.event.get("classification")
        return None if c in (None, "UNKNOWN") else c

    @property
    def occurred(self) -> datetime:
        return as_utc(self.event.get("occurred_at")) or self.published

    @property
    def published(self) -> datetime:
        return as_utc(self.event.get("published_at")) or self.now

    @property
    def received(self) -> datetime:
        """When the bus received the event (its receipt), else when the publisher says it published it."""
        return instant((self.event.get("receipt") or {}).get("received_at")) or self.published

    @property
    def sterile(self) -> bool:
        """Sterile per the agreement's product record, else per the event's product."""
        if self.agreement is not None and self.product_code:
            product = self.agreement.product(self.product_code)
            if product is not None:
                return bool(product.sterile)
        return bool((self.event.get("product") or {}).get("sterile"))

    @property
    def dosage_form(self) -> str:
        if self.agreement is not None and self.product_code:
            product = self.agreement.product(self.product_code)
            if product is not None:
                return product.dosage_form
        return (self.event.get("product") or {}).get("dosage_form") or ""

    # -- time --
    @property
    def calendar(self) -> WorkingCalendar:
        if self.agreement is None:
            return calendar_for(DEFAULT_TIMEZONE)
        if self.agreements is not None:
            return self.agreements.calendar(self.agreement)
        return self.agreement.calendar()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.agreement.timezone if self.agreement is not None else DEFAULT_TIMEZONE)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz)

    def end_of_day(self, day: date) -> datetime:
        """23:59:59 local time of ``day``, in UTC."""
        return datetime.combine(day, time(23, 59, 59), self.tz).astimezone(timezone.utc)

    def start_of_day(self, day: date) -> datetime:
        return datetime.combine(day, time.min, self.tz).astimezone(timezone.utc)

    # -- obligations --
    def spec(self, kind: Kind, category: str, role: str, due: datetime, *, deadline: str, starts_from: str,
             start: datetime, rule: str, description: str, satisfied_by: tuple[str, ...],
             satisfier_role: str | None = None, item_ref: str | None = None, agreement: Agreement | None = None,
             discriminator: str = "", calendar_note: str | None = None) -> ObligationSpec:
        return ObligationSpec(kind=kind, category=category, responsible_party_role=role, due_at=due,
                              deadline=deadline, starts_from=starts_from, start_at=start, rule=rule,
                              satisfied_by=satisfied_by, satisfier_role=satisfier_role,
                              calendar_note=calendar_note, description=description, item_ref=item_ref,
                              agreement=agreement, discriminator=discriminator,
                              classification=self.classification)

    def spec_after(self, duration: str | Duration, kind: Kind, category: str, role: str, *, starts_from: str,
                   start: datetime, **kw) -> ObligationSpec:
        """An obligation due ``duration`` after ``start`` on the agreement's working calendar."""
        duration = Duration.parse(duration)
        due, note = duration.after(start, self.calendar)
        return self.spec(kind, category, role, due, deadline=str(duration), starts_from=starts_from,
                         start=start, calendar_note=note, **kw)


def add_years(day: date, years: int) -> date:
    """The same calendar date ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, clamped to the month's last day."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, d))
        except ValueError:
            continue
    raise ValueError(day)
