"""The vocabulary of an agreement: its categories and roles, how a problem is reported, durations."""
from __future__ import annotations

import functools

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic_core import core_schema

from agents.core.calendar import WorkingCalendar


# Art. 7: the minimum content of the communication list, in the announcement's order.
ART7_CATEGORIES: tuple[str, ...] = (
    "deviation",
    "change",
    "oos_oot",
    "qualification_validation",
    "retention_stability",
    "pharmacovigilance",
    "regulatory_inspection",
    "adverse_credit",
)
CATEGORY_TITLES: dict[str, str] = {
    "deviation": "deviations",
    "change": "changes",
    "oos_oot": "out-of-specification / out-of-trend results",
    "qualification_validation": "qualification and validation activities",
    "retention_stability": "retention samples and stability studies",
    "pharmacovigilance": "pharmacovigilance activities",
    "regulatory_inspection": "regulatory inspection outcomes",
    "adverse_credit": "adverse credit records",
}
# Categories from other articles that an agreement may also list (DESIGN.md, "Events").
OTHER_CATEGORIES: tuple[str, ...] = (
    "batch_release", "coline_change", "technical_transfer_issue", "holder_audit",
    "periodic_review", "production", "agreement", "licence",
)
CLASSIFICATIONS: tuple[str, ...] = ("critical", "major", "minor")  # strictest first
TIMELINE_KEYS: tuple[str, ...] = CLASSIFICATIONS + ("default",)
PARTY_ROLES: tuple[str, ...] = ("HOLDER", "MANUFACTURER")
BUILTIN_ROLES: tuple[str, ...] = ("communication", "head_of_quality", "head_of_production", "qp", "qms_coordinator")
CHANNELS = Literal["webhook", "pagerduty", "alertmanager", "email"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


# -- problems ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing wrong with an agreement, in plain words. ``path`` points into the YAML."""

    message: str
    path: tuple = ()
    severity: Literal["error", "warning"] = "error"
    article: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out

    def __str__(self) -> str:
        where = f"{self.where}: " if self.path else ""
        cite = f" ({self.article})" if self.article else ""
        return f"{self.severity}: {where}{self.message}{cite}"


class AgreementRefused(ValueError):
    """The agreement cannot be used; ``problems`` says why, each in plain words."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{source}: " + "; ".join(str(p) for p in errors or problems))


# -- durations --------------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+)\s*(wd|h|m|s|d)\s*$")
_UNIT_WORDS = {"wd": "working day", "d": "calendar day", "h": "hour", "m": "minute", "s": "second"}


@dataclass(frozen=True, slots=True)
class Duration:
    """A deadline or delay: ``24h``, ``3wd``, ``30m``, ``10s``, ``5d``."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, value: Any) -> "Duration":
        if isinstance(value, Duration):
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValueError(f"{value!r} is not a duration; write a whole number and a unit, "
                             "e.g. 24h, 3wd (working days), 5d (calendar days), 30m or 10s")
        if isinstance(value, int):
            raise ValueError(f"{value} has no unit; write e.g. {value}h, {value}wd or {value}d")
        return _parse_duration(value)

    @property
    def is_wall_clock(self) -> bool:
        return self.unit in ("h", "m", "s")

    def seconds(self) -> int:
        """Length in seconds for wall-clock units (only those have a fixed length)."""
        return self.amount * {"h": 3600, "m": 60, "s": 1}[self.unit]

    def after(self, start_utc: datetime, calendar: WorkingCalendar) -> tuple[datetime, str | None]:
        """The instant this long after ``start_utc``, and a calendar note if it is an estimate."""
        return calendar.add(start_utc, self.amount, self.unit)

    def describe(self) -> str:
        word = _UNIT_WORDS[self.unit]
        return f"{self.amount} {word}{'' if self.amount == 1 else 's'}"

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler):
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(str))


@functools.lru_cache(maxsize=1024)
def _parse_duration(value: str) -> Duration:
    """A duration's text parsed once (every obligation record names its deadline's)."""
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"{value!r} is not a duration; write a whole number and a unit, "
                         "e.g. 24h, 3wd (working days), 5d (calendar days), 30m or 10s")
    return Duration(int(m.group(1)), m.group(2))
