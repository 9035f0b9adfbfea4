"""Working days and deadlines on the Chinese official calendar (agents/core/calendar.py)."""
import logging
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agents.core.calendar import ScheduleFileError, WorkingCalendar, load_schedule_file, parse_schedule

SH = ZoneInfo("Asia/Shanghai")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def local(*args) -> datetime:
    """A Shanghai wall-clock time, as UTC."""
    return datetime(*args, tzinfo=SH).astimezone(timezone.utc)


def end_of(y, m, d) -> datetime:
    return local(y, m, d, 23, 59, 59)


@pytest.fixture
def cal():
    return WorkingCalendar()


# -- the official 2026 arrangement, as chinese-calendar has it ---------------------------------
def test_spring_festival_2026_days_as_published(cal):
    # Spring Festival 2026: 15-23 Feb off, Saturdays 14 and 28 Feb are make-up working days.
    assert cal.is_working_day(date(2026, 2, 13))
    assert cal.is_working_day(date(2026, 2, 14))
    for day in range(15, 24):
        assert not cal.is_working_day(date(2026, 2, day)), day
    assert cal.is_working_day(date(2026, 2, 24))
    assert cal.is_working_day(date(2026, 2, 28))
    assert not cal.is_working_day(date(2026, 3, 1))


def test_three_working_days_across_spring_festival(cal):
    # Friday 13 Feb 10:00 + 3wd: Sat 14 (make-up), Tue 24, Wed 25 -> end of Wed 25 Feb.
    due, note = cal.add_working_days(local(2026, 2, 13, 10, 0), 3)
    assert due == end_of(2026, 2, 25)
    assert note is None


def test_make_up_saturday_counts_and_start_day_does_not(cal):
    # An event on the make-up Saturday itself: the next working day is after the holiday.
    assert cal.add_working_days(local(2026, 2, 14, 9, 0), 1)[0] == end_of(2026, 2, 24)
    # Thursday 12 Feb + 2wd = Fri 13, Sat 14 (make-up).
    assert cal.add_working_days(local(2026, 2, 12, 16, 0), 2)[0] == end_of(2026, 2, 14)
    # Friday 27 Feb + 1wd = Saturday 28 Feb (make-up); + 2wd = Monday 2 Mar.
    assert cal.add_working_days(local(2026, 2, 27, 8, 0), 1)[0] == end_of(2026, 2, 28)
    assert cal.add_working_days(local(2026, 2, 27, 8, 0), 2)[0] == end_of(2026, 3, 2)


def test_local_day_decides_not_utc_day(cal):
    # 01:00 Shanghai on Monday 2 Mar is still Sunday 1 Mar in UTC; the local day counts.
    start = local(2026, 3, 2, 1, 0)
    assert start.date() == date(2026, 3, 1)
    assert cal.add_working_days(start, 1)[0] == end_of(2026, 3, 3)


def test_national_day_2026(cal):
    # Mid-Autumn 25-27 Sep, National Day 1-7 Oct off; Saturday 10 Oct is a make-up working day.
    assert not cal.is_working_day(date(2026, 9, 25))
    assert not any(cal.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert cal.is_working_day(date(2026, 10, 10))
    start = local(2026, 9, 30, 10, 0)
    assert cal.add_working_days(start, 1)[0] == end_of(2026, 10, 8)
    assert cal.add_working_days(start, 3)[0] == end_of(2026, 10, 10)
    assert cal.add_working_days(start, 4)[0] == end_of(2026, 10, 12)
    assert cal.add_working_days(local(2026, 9, 24, 10, 0), 1)[0] == end_of(2026, 9, 28)


def test_zero_working_days_means_the_same_working_day(cal):
    assert cal.add_working_days(local(2026, 2, 13, 10, 0), 0)[0] == end_of(2026, 2, 13)
    # On a holiday, "the same working day" is the next one.
    assert cal.add_working_days(local(2026, 10, 3, 10, 0), 0)[0] == end_of(2026, 10, 8)


def test_hours_are_wall_clock_across_midnight_and_holidays(cal):
    # 23:30 + 2h = 01:30 the next local day.
    assert cal.add_hours(local(2026, 3, 4, 23, 30), 2) == local(2026, 3, 5, 1, 30)
    # 24h from the eve of the Spring Festival lands inside the holiday: hours do not skip it.
    assert cal.add_hours(local(2026, 2, 14, 18, 0), 24) == local(2026, 2, 15, 18, 0)
    assert cal.add(local(2026, 2, 14, 18, 0), 90, "m") == (local(2026, 2, 14, 19, 30), None)
    assert cal.add(local(2026, 2, 14, 18, 0), 10, "s")[0] == local(2026, 2, 14, 18, 0, 10)


def test_calendar_days_end_at_local_midnight(cal):
    assert cal.add_calendar_days(local(2026, 3, 1, 10, 0), 30) == end_of(2026, 3, 31)
    assert cal.add(local(2026, 12, 20, 10, 0), 30, "d") == (end_of(2027, 1, 19), None)


def test_naive_start_is_refused(cal):
    with pytest.raises(ValueError):
        cal.add_working_days(datetime(2026, 3, 2, 10, 0), 1)


# -- years chinese-calendar does not know -----------------------------------------------------
def test_december_deadline_into_2027_uses_schedule_file():
    cal = WorkingCalendar(schedule_file=FIXTURES / "schedule_2027.yaml")
    # Thu 31 Dec 2026 + 2wd: Fri 1 Jan and Mon 4 Jan are holidays in the file -> Tue 5, Wed 6.
    due, note = cal.add_working_days(local(2026, 12, 31, 10, 0), 2)
    assert due == end_of(2027, 1, 6)
    assert note is None
    assert cal.is_working_day(date(2027, 1, 9))          # a make-up Saturday from the file
    assert not cal.is_working_day(date(2027, 2, 8))


def test_december_deadline_into_2027_falls_back_to_statutory_holidays(caplog):
    cal = WorkingCalendar()
    with caplog.at_level(logging.WARNING, logger="agents.core.calendar"):
        due, note = cal.add_working_days(local(2026, 12, 31, 10, 0), 2)
    # New Year's Day (Fri 1 Jan 2027) is statutory; the weekend follows -> Mon 4, Tue 5.
    assert due == end_of(2027, 1, 5)
    assert note == "2027 working days estimated from statutory holidays; official make-up days not yet known"
    assert "2027 working days estimated" in caplog.text
    assert not cal.is_working_day(date(2027, 2, 8))      # Spring Festival 2027, computed
    assert cal.is_working_day(date(2027, 2, 15))


def test_estimated_years_warn_once(caplog):
    cal = WorkingCalendar()
    with caplog.at_level(logging.WARNING, logger="agents.core.calendar"):
        for _ in range(3):
            cal.add_working_days(local(2027, 3, 1, 10, 0), 5)
    assert caplog.text.count("2027 working days estimated") == 1


def test_far_years_never_crash():
    cal = WorkingCalendar()
    due, note = cal.add_working_days(local(2099, 12, 30, 10, 0), 3)
    assert due > local(2099, 12, 30, 10, 0)
    assert "2100" in note or "2099" in note
    due, note = cal.add_working_days(local(1990, 5, 2, 10, 0), 1)   # before chinese-calendar's range too
    assert note and "1990" in note


def test_unreadable_schedule_file_is_logged_and_ignored(tmp_path, caplog):
    bad = tmp_path / "bad.yaml"
    bad.write_text("2027:\n  holidays: [not-a-date]\n")
    with caplog.at_level(logging.ERROR, logger="agents.core.calendar"):
        cal = WorkingCalendar(schedule_file=bad)
    assert "not-a-date" in caplog.text
    _, note = cal.add_working_days(local(2026, 12, 31, 10, 0), 2)
    assert note and "statutory" in note
    cal = WorkingCalendar(schedule_file=tmp_path / "missing.yaml")
    assert cal.add_working_days(local(2026, 3, 2, 10, 0), 1)[1] is None


def test_schedule_parsing_accepts_ranges_and_names_mistakes():
    years = parse_schedule({2027: {"holidays": ["2027-10-01..2027-10-07"], "workdays": ["2027-10-09"]}})
    assert len(years[2027].holidays) == 7
    assert years[2027].makeup_working_days == {date(2027, 10, 9)}
    with pytest.raises(ScheduleFileError, match="not in 2027"):
        parse_schedule({2027: {"holidays": ["2028-01-01"]}})
    with pytest.raises(ScheduleFileError, match="both as a holiday and as a working day"):
        parse_schedule({2027: {"holidays": ["2027-01-02"], "makeup_working_days": ["2027-01-02"]}})
    with pytest.raises(ScheduleFileError, match="unknown key"):
        parse_schedule({2027: {"holydays": []}})
    assert 2027 in load_schedule_file(FIXTURES / "schedule_2027.yaml")
