"""Working days and deadlines on the Chinese official calendar (Art. 7: communication timelines).

Deadline semantics (what a QA lead reads in a quality agreement):

* ``Nwd`` — "within N working days": by the **end (23:59:59 local time) of the N-th working day
  after the local day of the start**. The start day itself never counts, whatever the hour.
  An event at 10:00 on Friday 13 Feb 2026 with "3wd" is due by Wednesday 25 Feb 2026 23:59:59
  (Saturday 14 Feb is a make-up working day, 15–23 Feb are the Spring Festival holiday, so the
  three working days are 14, 24 and 25 Feb).
  ``0wd`` means "the same working day": the end of the start day if it is a working day, otherwise
  the end of the next working day.
* ``Nd`` — "within N calendar days": by the end (23:59:59 local) of the N-th day after the local
  day of the start (``0d`` = the end of the start day).
* ``Nh`` / ``Nm`` / ``Ns`` — elapsed wall-clock time; holidays and nights are not skipped.

All instants in and out are timezone-aware UTC; the local time zone is the agreement's
(default Asia/Shanghai).

Where each day's status comes from, in order:

1. PyPI ``chinese-calendar`` (the State Council's published arrangement, make-up working days
   included) for the years it knows (2004–2026 in release 1.11);
2. for a year it does not know, an operator-supplied schedule file (YAML, see
   :func:`load_schedule_file`), typed in from the State Council notice published each November;
3. failing that, the statutory holidays that PyPI ``holidays`` computes for China (lunar
   festivals included) plus weekends. Make-up working days cannot be known in advance, so the
   result is an estimate: a warning is logged once per year and the caller gets a note to carry
   on the obligation;
4. if even that fails, Monday–Friday, with a note saying so.

Nothing here raises for an unknown year.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Iterable
from zoneinfo import ZoneInfo

import yaml

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
END_OF_DAY = time(23, 59, 59)
_MAX_WORKING_DAYS = 3660  # a guard: no agreement sets a ten-year working-day deadline


class ScheduleFileError(ValueError):
    """The operator's schedule file cannot be read; the message says where and why."""


@dataclass(frozen=True)
class YearSchedule:
    """One year's official arrangement: days off on weekdays and make-up working days on weekends."""

    year: int
    holidays: frozenset[date] = frozenset()
    makeup_working_days: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.makeup_working_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5


_RANGE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s*(?:\.\.|/|to)\s*(\d{4}-\d{2}-\d{2})\s*$")


def _dates(value, where: str) -> set[date]:
    """Dates from a list of dates, ISO strings, or ranges written 'YYYY-MM-DD..YYYY-MM-DD'."""
    if value is None:
        return set()
    if not isinstance(value, list):
        raise ScheduleFileError(f"{where}: expected a list of dates")
    out: set[date] = set()
    for item in value:
        if isinstance(item, datetime):
            out.add(item.date())
        elif isinstance(item, date):
            out.add(item)
        elif isinstance(item, str) and (m := _RANGE.match(item)):
            first, last = date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2))
            if last < first:
                raise ScheduleFileError(f"{where}: range {item!r} ends before it starts")
            out.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        elif isinstance(item, str):
            try:
                out.add(date.fromisoformat(item.strip()))
            except ValueError:
                raise ScheduleFileError(f"{where}: {item!r} is not a date (write 2027-02-05)") from None
        else:
            raise ScheduleFileError(f"{where}: {item!r} is not a date (write 2027-02-05)")
    return out


def parse_schedule(data, source: str = "schedule") -> dict[int, YearSchedule]:
    """Parse the schedule mapping ``{year: {holidays: [...], makeup_working_days: [...]}}``.

    ``workdays`` and ``working_days`` are accepted for ``makeup_working_days``; list items may be
    single dates or ranges ``2027-02-05..2027-02-11``.
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ScheduleFileError(f"{source}: expected a mapping of year -> holidays / makeup_working_days")
    years: dict[int, YearSchedule] = {}
    for key, body in data.items():
        try:
            year = int(key)
        except (TypeError, ValueError):
            raise ScheduleFileError(f"{source}: {key!r} is not a year") from None
        if not isinstance(body, dict):
            raise ScheduleFileError(f"{source}: year {year}: expected holidays and makeup_working_days lists")
        unknown = set(body) - {"holidays", "makeup_working_days", "workdays", "working_days"}
        if unknown:
            raise ScheduleFileError(f"{source}: year {year}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        off = _dates(body.get("holidays"), f"{source}: year {year}: holidays")
        on: set[date] = set()
        for name in ("makeup_working_days", "workdays", "working_days"):
            on |= _dates(body.get(name), f"{source}: year {year}: {name}")
        stray = sorted(d for d in off | on if d.year != year)
        if stray:
            raise ScheduleFileError(f"{source}: year {year}: {stray[0].isoformat()} is not in {year}")
        both = sorted(off & on)
        if both:
            raise ScheduleFileError(f"{source}: year {year}: {both[0].isoformat()} is listed both as a holiday and as a working day")
        years[year] = YearSchedule(year, frozenset(off), frozenset(on))
    return years


def load_schedule_file(path: str | Path) -> dict[int, YearSchedule]:
    """Read an operator schedule file, e.g.::

        2027:
          holidays: [2027-01-01, 2027-02-05..2027-02-11]
          makeup_working_days: [2027-02-14, 2027-02-20]
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScheduleFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ScheduleFileError(f"{path}: not valid YAML: {exc}") from None
    return parse_schedule(data, str(path))


def _ensure_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("expected a timezone-aware datetime (UTC)")
    return moment.astimezone(timezone.utc)


@dataclass
class _YearSource:
    kind: str  # "official" | "schedule" | "statutory" | "weekends"
    schedule: YearSchedule | None = None
    note: str | None = None


@dataclass
class WorkingCalendar:
    """Working days in one time zone, on the Chinese official calendar.

    ``schedule`` is the operator's arrangement for years ``chinese-calendar`` does not know (a
    mapping from :func:`parse_schedule`), ``schedule_file`` a path to read it from. A schedule file
    that cannot be read is logged and ignored (the statutory fallback then applies): a calendar
    never stops the bus.
    """

    timezone: str = DEFAULT_TIMEZONE
    schedule: dict[int, YearSchedule] = field(default_factory=dict)
    schedule_file: str | Path | None = None
    _tz: ZoneInfo = field(init=False, repr=False)
    _years: dict[int, _YearSource] = field(init=False, repr=False, default_factory=dict)
    _days: dict[date, bool] = field(init=False, repr=False, default_factory=dict)
    _wd_cache: dict[tuple[date, int], tuple[datetime, str | None]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._tz = ZoneInfo(self.timezone)
        if self.schedule_file is not None:
            try:
                loaded = load_schedule_file(self.schedule_file)
            except ScheduleFileError as exc:
                log.error("working-day schedule file ignored: %s", exc)
            else:
                self.schedule = {**loaded, **self.schedule}

    # -- day status -------------------------------------------------------------------------
    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    def _source(self, year: int) -> _YearSource:
        src = self._years.get(year)
        if src is not None:
            return src
        src = self._resolve_year(year)
        self._years[year] = src
        if src.note:
            log.warning("%s", src.note)
        return src

    def _resolve_year(self, year: int) -> _YearSource:
        try:
            import chinese_calendar

            chinese_calendar.is_workday(date(year, 6, 1))
            return _YearSource("official")
        except NotImplementedError:
            pass
        except Exception as exc:  # a broken install must not stop deadlines
            log.error("chinese-calendar failed for %s: %s", year, exc)
        if year in self.schedule:
            return _YearSource("schedule", self.schedule[year])
        try:
            import holidays as holidays_lib

            statutory = holidays_lib.China(years=year)
            days = frozenset(d for d in statutory if d.year == year)
            note = (f"{year} working days estimated from statutory holidays; "
                    "official make-up days not yet known")
            return _YearSource("statutory", YearSchedule(year, days), note)
        except Exception as exc:
            log.error("holidays package failed for %s: %s", year, exc)
        return _YearSource("weekends", YearSchedule(year), (
            f"{year} working days estimated as Monday to Friday; no holiday data for {year}"))

    def is_working_day(self, day: date) -> bool:
        """True if ``day`` (a local calendar date) is a working day."""
        known = self._days.get(day)
        if known is not None:
            return known
        src = self._source(day.year)
        if src.kind == "official":
            import chinese_calendar

            try:
                result = bool(chinese_calendar.is_workday(day))
            except Exception:  # pragma: no cover - year was probed already
                result = day.weekday() < 5
        else:
            result = src.schedule.is_working_day(day)  # type: ignore[union-attr]
        self._days[day] = result
        return result

    def note_for_year(self, year: int) -> str | None:
        """The estimate note for ``year`` (None when the year's arrangement is official or supplied)."""
        return self._source(year).note

    def _notes(self, years: Iterable[int]) -> str | None:
        notes = [n for n in (self.note_for_year(y) for y in sorted(set(years))) if n]
        return "; ".join(notes) if notes else None

    # -- arithmetic -------------------------------------------------------------------------
    def local_date(self, moment_utc: datetime) -> date:
        return _ensure_utc(moment_utc).astimezone(self._tz).date()

    def end_of_local_day(self, day: date) -> datetime:
        """23:59:59 local on ``day``, as UTC."""
        return datetime.combine(day, END_OF_DAY, tzinfo=self._tz).astimezone(timezone.utc)

    def add_working_days(self, start_utc: datetime, n: int) -> tuple[datetime, str | None]:
        """End of the n-th working day after the local day of ``start_utc`` (see module doc).

        Returns ``(due_utc, note)``; ``note`` is set when any day counted lies in a year whose
        arrangement is estimated, and is meant to be carried on the obligation.
        """
        if n < 0:
            raise ValueError("working days must be zero or more")
        n = min(int(n), _MAX_WORKING_DAYS)
        start_day = self.local_date(start_utc)
        key = (start_day, n)
        cached = self._wd_cache.get(key)
        if cached is None:
            cached = self._wd_cache[key] = self._count_working_days(start_day, n)
        return cached

    def _count_working_days(self, day: date, n: int) -> tuple[datetime, str | None]:
        years = {day.year}
        if n == 0:
            while not self.is_working_day(day):
                day += timedelta(days=1)
                years.add(day.year)
        else:
            counted = 0
            while counted < n:
                day += timedelta(days=1)
                years.add(day.year)
                if self.is_working_day(day):
                    counted += 1
        return self.end_of_local_day(day), self._notes(years)

    def add_calendar_days(self, start_utc: datetime, n: int) -> datetime:
        """End of the n-th calendar day after the local day of ``start_utc``."""
        if n < 0:
            raise ValueError("days must be zero or more")
        return self.end_of_local_day(self.local_date(start_utc) + timedelta(days=int(n)))

    @staticmethod
    def add_hours(start_utc: datetime, hours: float) -> datetime:
        """Elapsed wall-clock hours (nights and holidays included)."""
        return _ensure_utc(start_utc) + timedelta(hours=hours)

    @staticmethod
    def add_seconds(start_utc: datetime, seconds: float) -> datetime:
        return _ensure_utc(start_utc) + timedelta(seconds=seconds)

    def add(self, start_utc: datetime, amount: int, unit: str) -> tuple[datetime, str | None]:
        """Add a duration given as amount and unit ('wd', 'd', 'h', 'm', 's')."""
        if unit == "wd":
            return self.add_working_days(start_utc, amount)
        if unit == "d":
            return self.add_calendar_days(start_utc, amount), None
        seconds = {"h": 3600, "m": 60, "s": 1}.get(unit)
        if seconds is None:
            raise ValueError(f"unknown duration unit {unit!r}")
        return self.add_seconds(start_utc, amount * seconds), None


_CALENDARS: dict[tuple[str, str | None], WorkingCalendar] = {}


def calendar_for(timezone_name: str = DEFAULT_TIMEZONE, schedule_file: str | Path | None = None) -> WorkingCalendar:
    """A shared calendar per (time zone, schedule file), so day lookups are cached once."""
    key = (timezone_name, str(schedule_file) if schedule_file else None)
    cal = _CALENDARS.get(key)
    if cal is None:
        cal = _CALENDARS[key] = WorkingCalendar(timezone_name, schedule_file=schedule_file)
    return cal
