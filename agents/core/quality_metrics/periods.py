"""Review periods and trend buckets, in the agreement's local time.

Art. 5 asks for a risk assessment every quarter and a product quality review every year; Art. 13
for audits at intervals the parties choose. A period is whole local days, first included, last
included (stored as a UTC instant range, end excluded): ``2026Q4``, ``2026``, ``2026-11`` or
``2026-10-01..2026-12-31``. Trends split a period into ISO weeks (Monday first) or calendar months.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

TREND_UNITS = ("week", "month")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAYS = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/|to)\s*(\d{4}-\d{2}-\d{2})$")


class PeriodError(ValueError):
    """A period that cannot be read; the message says how to write one."""


@dataclass(frozen=True)
class Period:
    label: str          # as a person writes it: 2026Q4, 2026, 2026-11, 2026-10-01..2026-12-31
    first_day: date     # local, included
    last_day: date      # local, included
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> datetime:
        """The first instant of the period, UTC."""
        return datetime.combine(self.first_day, time(0), self.zone).astimezone(timezone.utc)

    @property
    def end(self) -> datetime:
        """The first instant after the period, UTC (excluded)."""
        return datetime.combine(self.last_day + timedelta(days=1), time(0), self.zone).astimezone(timezone.utc)

    def contains(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def kind(self) -> str:
        """quarter, year, month or days: what the period is, for titles."""
        if _QUARTER.match(self.label):
            return "quarter"
        if _YEAR.match(self.label):
            return "year"
        return "month" if _MONTH.match(self.label) else "days"


def quarter(year: int, number: int, tz: str) -> Period:
    first = date(year, 3 * number - 2, 1)
    last = (date(year + 1, 1, 1) if number == 4 else date(year, 3 * number + 1, 1)) - timedelta(days=1)
    return Period(f"{year}Q{number}", first, last, tz)


def whole_year(year: int, tz: str) -> Period:
    return Period(str(year), date(year, 1, 1), date(year, 12, 31), tz)


def month(year: int, number: int, tz: str) -> Period:
    first = date(year, number, 1)
    last = (date(year + 1, 1, 1) if number == 12 else date(year, number + 1, 1)) - timedelta(days=1)
    return Period(f"{year}-{number:02d}", first, last, tz)


def days(first: date, last: date, tz: str) -> Period:
    if last < first:
        raise PeriodError(f"the period ends ({last}) before it starts ({first})")
    return Period(f"{first.isoformat()}..{last.isoformat()}", first, last, tz)


def parse_period(text: str, tz: str) -> Period:
    """``2026Q4`` (or ``2026-Q4``), ``2026``, ``2026-11`` or ``2026-10-01..2026-12-31``."""
    value = (text or "").strip()
    try:
        if m := _QUARTER.match(value):
            return quarter(int(m.group(1)), int(m.group(2)), tz)
        if m := _YEAR.match(value):
            return whole_year(int(m.group(1)), tz)
        if m := _MONTH.match(value):
            return month(int(m.group(1)), int(m.group(2)), tz)
        if m := _DAYS.match(value):
            return days(date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2)), tz)
    except ValueError as exc:
        raise PeriodError(f"{value!r}: {exc}") from None
    raise PeriodError(f"{value!r} is not a period; write a quarter (2026Q4), a year (2026), a month (2026-11) "
                      "or two days (2026-10-01..2026-12-31)")


def quarter_of(day: date, tz: str) -> Period:
    return quarter(day.year, (day.month - 1) // 3 + 1, tz)


@dataclass(frozen=True)
class Bucket:
    """One step of a trend: a week or a month, clipped to the period."""
    key: str            # 2026-W45 or 2026-11
    first_day: date
    last_day: date

    def holds(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


def default_unit(period: Period) -> str:
    """Weeks for a quarter or shorter, months for anything longer."""
    return "week" if period.days <= 92 else "month"


def trend_buckets(period: Period, unit: str) -> list[Bucket]:
    if unit not in TREND_UNITS:
        raise PeriodError(f"a trend is by {' or '.join(TREND_UNITS)}, not {unit!r}")
    out: list[Bucket] = []
    day = period.first_day
    while day <= period.last_day:
        if unit == "week":
            monday = day - timedelta(days=day.weekday())
            last = min(monday + timedelta(days=6), period.last_day)
            iso = monday.isocalendar()
            key = f"{iso.year}-W{iso.week:02d}"
        else:
            following = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
            last = min(following - timedelta(days=1), period.last_day)
            key = f"{day.year}-{day.month:02d}"
        out.append(Bucket(key, day, last))
        day = last + timedelta(days=1)
    return out


def bucket_of(buckets: list[Bucket], moment: datetime | None, zone: ZoneInfo) -> Bucket | None:
    if moment is None:
        return None
    day = moment.astimezone(zone).date()
    return next((b for b in buckets if b.holds(day)), None)
