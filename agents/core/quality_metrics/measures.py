"""How elapsed time is measured and summarised: working days, nearest-rank percentiles, buckets.

Working days are counted as the agreement's deadlines are (`agents.core.calendar`): the official
working days after the local day something started, up to and including the local day it ended.
Done on the day it started is 0; done on the next working day is 1. So an obligation with a
deadline of N working days was met on time exactly when this count is N or less.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from agents.core.calendar import WorkingCalendar

T = TypeVar("T")

# Open items by how long they have been open (calendar days since the item opened).
AGE_BUCKETS: tuple[tuple[str, int, float], ...] = (("0-7d", 0, 7), ("8-30d", 8, 30), ("31-90d", 31, 90),
                                                   ("over-90d", 91, math.inf))
# Overdue obligations by how far past their deadline (working days).
OVERDUE_BUCKETS: tuple[tuple[str, int, float], ...] = (("0-1wd", 0, 1), ("2-5wd", 2, 5), ("6-10wd", 6, 10),
                                                       ("over-10wd", 11, math.inf))
# The time-to-acknowledge distribution (working days).
RESPONSE_BUCKETS: tuple[tuple[str, int, float], ...] = (("0wd", 0, 0), ("1wd", 1, 1), ("2wd", 2, 2),
                                                        ("3-5wd", 3, 5), ("over-5wd", 6, math.inf))
_MAX_DAYS = 3660   # a guard against a garbled timestamp: no item is followed for ten years


def working_days_between(calendar: WorkingCalendar, start: datetime, end: datetime) -> int:
    """Official working days after the local day of `start` up to and including the local day of `end`."""
    first, last = calendar.local_date(start), calendar.local_date(end)
    count, day, steps = 0, first, 0
    while day < last and steps < _MAX_DAYS:
        day += timedelta(days=1)
        steps += 1
        if calendar.is_working_day(day):
            count += 1
    return count


def bucket_for(value: float, buckets: Sequence[tuple[str, int, float]]) -> str:
    for name, low, high in buckets:
        if low <= value <= high:
            return name
    return buckets[-1][0]


def nearest_rank(values: Sequence[T], share: float) -> T | None:
    """The value at rank ceil(share * n) of the sorted values (n >= 1): always an observed value, so
    a median or 90th percentile points to one item. None when there is nothing to rank."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
