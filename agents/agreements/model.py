"""The quality agreement as code: one YAML file per agreement version (Arts. 6, 7, 15, 17).

An agreement names the holder and the entrusted manufacturer, the products (generic name, dosage
form, sterile flag, site, lines), the people by role, the on-call rota, the escalation ladder and
the communication list: for every Art. 7 category and classification the deadlines to notify,
acknowledge, decide and close. Versions are separate files with the same ``agreement_id``; a new
version applies to obligations opened from its ``effective_from`` on (Art. 15: revisions are
versioned, the old terms stay on record).

Durations are written ``<whole number><unit>``: ``h`` hours, ``m`` minutes, ``s`` seconds (all
wall-clock), ``wd`` working days on the Chinese official calendar, ``d`` calendar days; see
``agents/calendar.py`` for what "within 3 working days" means exactly.
"""
from __future__ import annotations

import base64
import binascii
import difflib
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core import core_schema

from agents.calendar import DEFAULT_TIMEZONE, WorkingCalendar, calendar_for

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
BUILTIN_ROLES: tuple[str, ...] = ("communication", "head_of_quality", "head_of_production", "qp")
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
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration; write a whole number and a unit, "
                             "e.g. 24h, 3wd (working days), 5d (calendar days), 30m or 10s")
        return cls(int(m.group(1)), m.group(2))

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


# -- parts ------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Person(_Model):
    """A named person the bus can reach."""

    name: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    language: Literal["zh", "en"] = "zh"
    party: Literal["HOLDER", "MANUFACTURER"] | None = Field(
        None, description="Which party the person works for; filled in from holder:/manufacturer: keys.")
    title: str | None = None
    years_experience: float | None = Field(None, ge=0, description="Art. 17: years in drug production and quality management.")
    years_sterile_experience: float | None = Field(None, ge=0, description="Art. 17: of which in sterile production and quality management.")

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v


def _people(value: Any, party: str | None = None) -> list:
    """Accept one person, a list, or ``{holder: ..., manufacturer: ...}``; return a flat list."""
    if value is None:
        return []
    if isinstance(value, list):
        out: list = []
        for item in value:
            out.extend(_people(item, party))
        return out
    if isinstance(value, dict) and value and set(value) <= {"holder", "manufacturer"}:
        return _people(value.get("holder"), "HOLDER") + _people(value.get("manufacturer"), "MANUFACTURER")
    if isinstance(value, dict) and party and "party" not in value:
        return [{**value, "party": party}]
    return [value]


def _parse_clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080 (minutes).
        return time(value // 60 % 24, value % 60)
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        h, m = map(int, value.strip().split(":"))
        if h == 24 and m == 0:
            return time.max
        return time(h, m)
    raise ValueError(f"{value!r} is not a time of day; write e.g. '08:00'")


class OnCallShift(_Model):
    """Who is on call for a role, either daily between two times (optionally on some weekdays) or
    over a date range (e.g. holiday cover)."""

    person: Person
    role: str = "on_call"
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] | None = None
    start: time | date | datetime = Field(alias="from")
    end: time | date | datetime = Field(alias="to")

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("from", "to", "start", "end"):
            if key in data:
                v = data[key]
                if isinstance(v, (datetime, date)) and not isinstance(v, time):
                    continue
                if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
                    data[key] = date.fromisoformat(v.strip())
                    continue
                if isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].+", v.strip()):
                    data[key] = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
                    continue
                data[key] = _parse_clock(v)
        if isinstance(data.get("weekdays"), list):
            data["weekdays"] = [str(d).strip().lower()[:3] for d in data["weekdays"]]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "OnCallShift":
        daily = isinstance(self.start, time) and isinstance(self.end, time)
        dated = not isinstance(self.start, time) and not isinstance(self.end, time)
        if not (daily or dated):
            raise ValueError("'from' and 'to' must both be times of day (08:00) or both be dates")
        if dated and _as_start(self.start) > _as_end(self.end):
            raise ValueError("the shift ends before it starts")
        return self

    def covers(self, at_local: datetime) -> bool:
        """True if the shift covers the local moment ``at_local`` (naive or in the agreement's zone)."""
        naive = at_local.replace(tzinfo=None)
        if isinstance(self.start, time):
            day = naive.date()
            t = naive.time()
            if self.start <= self.end:
                return self._on(day) and self.start <= t <= self.end
            # window across midnight, e.g. 18:00 to 08:00: the early part belongs to the day before
            if t >= self.start:
                return self._on(day)
            return t <= self.end and self._on(day - timedelta(days=1))
        return _as_start(self.start) <= naive <= _as_end(self.end)

    def _on(self, day: date) -> bool:
        return not self.weekdays or WEEKDAYS[day.weekday()] in self.weekdays


def _as_start(v: date | datetime) -> datetime:
    if isinstance(v, datetime):
        return v.replace(tzinfo=None)
    return datetime.combine(v, time.min)


def _as_end(v: date | datetime) -> datetime:
    if isinstance(v, datetime):
        return v.replace(tzinfo=None)
    return datetime.combine(v, time.max)


class Contacts(_Model):
    """People by role (Art. 7: communication personnel; Art. 6: the coordinating person; Art. 12: QP)."""

    communication: dict[str, list[Person]] = Field(default_factory=dict)
    head_of_quality: list[Person] = Field(default_factory=list)
    head_of_production: list[Person] = Field(default_factory=list)
    qp: list[Person] = Field(default_factory=list)
    on_call: list[OnCallShift] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("head_of_quality", "head_of_production", "qp"):
            if key in data:
                data[key] = _people(data[key], "MANUFACTURER")
        comm = data.get("communication")
        if isinstance(comm, dict):
            data["communication"] = {k: _people(v) for k, v in comm.items()}
        return data


class LadderStep(_Model):
    """One rung of the escalation ladder: ``after`` the deadline, tell ``role`` through ``channel``."""

    after: Duration
    role: str = Field(min_length=1)
    channel: CHANNELS
    page: bool = False


class Timelines(_Model):
    """Deadlines for one category and classification. Unset = no timed obligation."""

    notify: Duration | None = Field(None, description="From occurred_at: the publisher tells the other party.")
    acknowledge: Duration | None = Field(None, description="From published_at: the other party acknowledges.")
    decide: Duration | None = Field(None, description="From published_at: the holder decides (change approval, Art. 9).")
    close: Duration | None = Field(None, description="From occurred_at: the item is closed.")
    source: str | None = Field(None, description="Where the numbers come from, for the reader.")

    @model_validator(mode="before")
    @classmethod
    def _none_words(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: (None if isinstance(v, str) and v.strip().lower() in ("none", "n/a", "-") else v)
                    for k, v in data.items()}
        return data

    def merged_with(self, fallback: "Timelines | None") -> "Timelines":
        if fallback is None:
            return self
        return Timelines(**{k: getattr(self, k) if getattr(self, k) is not None else getattr(fallback, k)
                            for k in ("notify", "acknowledge", "decide", "close", "source")})


class Experience(_Model):
    """Production experience of a party with a dosage form (Art. 17)."""

    dosage_form: str
    sterile: bool = True
    commercial_scale_years: float = Field(0, ge=0, description="Years of commercial-scale production of this dosage form.")
    rd_or_manufacturing_years: float = Field(0, ge=0, description="Years of R&D or manufacturing of this dosage form.")


class Party(_Model):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    name_local: str | None = None
    province: str | None = Field(None, description="Province of the party (Art. 19: same-province licensing).")
    experience: list[Experience] = Field(default_factory=list)

    def commercial_sterile_years(self, dosage_form: str) -> float:
        """Art. 17: years of commercial-scale sterile production of this dosage form."""
        form = dosage_form.strip().lower()
        return max((e.commercial_scale_years for e in self.experience
                    if e.sterile and e.dosage_form.strip().lower() == form), default=0.0)


class SourceSystem(_Model):
    """A registered publishing system (Art. 14: signed, traceable data)."""

    instance: str = Field(min_length=1)
    party: str = Field(min_length=1, description="Id of the party operating the system.")
    system: str | None = None
    key_id: str | None = None
    public_key: str | None = Field(None, description="Base64 Ed25519 public key (32 bytes).")
    must_sign: bool = False

    @field_validator("public_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            raw = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not base64") from None
        if len(raw) != 32:
            raise ValueError(f"decodes to {len(raw)} bytes; an Ed25519 public key has 32")
        return v


class ProductLine(_Model):
    line_id: str = Field(min_length=1)
    last_production_at: datetime | None = Field(None, description="Arts. 17/18: last commercial batch on this line.")


class Product(_Model):
    code: str = Field(min_length=1)
    generic_name: str = Field(min_length=1)
    dosage_form: str = Field(min_length=1)
    sterile: bool = False
    site_id: str = Field(min_length=1)
    lines: list[ProductLine] = Field(default_factory=list)

    @field_validator("lines", mode="before")
    @classmethod
    def _lines(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"line_id": x} if isinstance(x, str) else x for x in v]
        return v

    def line_ids(self) -> list[str]:
        return [line.line_id for line in self.lines]


# -- the agreement ----------------------------------------------------------------------------
class Agreement(_Model):
    """One version of a quality agreement between a holder and an entrusted manufacturer."""

    agreement_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    effective_from: datetime = Field(description="From this instant the version applies to new obligations (naive = agreement time zone).")
    timezone: str = DEFAULT_TIMEZONE
    title: str | None = None
    holder: Party
    manufacturer: Party
    sources: list[SourceSystem] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)
    contacts: Contacts = Field(default_factory=Contacts)
    escalation_ladder: list[LadderStep] = Field(default_factory=list)
    communication_list: dict[str, dict[str, Timelines]] = Field(default_factory=dict)
    _timelines_cache: dict = PrivateAttr(default_factory=dict)

    @field_validator("effective_from", mode="before")
    @classmethod
    def _midnight(cls, v: Any) -> Any:
        if isinstance(v, date) and not isinstance(v, datetime):
            return datetime.combine(v, time.min)
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone; write e.g. Asia/Shanghai") from None
        return v

    @field_validator("communication_list", mode="before")
    @classmethod
    def _lower_keys(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({str(c).lower(): t for c, t in e.items()} if isinstance(e, dict) else e)
                    for k, e in v.items()}
        return v

    @model_validator(mode="after")
    def _utc(self) -> "Agreement":
        if self.effective_from.tzinfo is None:
            local = self.effective_from.replace(tzinfo=ZoneInfo(self.timezone))
            object.__setattr__(self, "effective_from", local.astimezone(timezone.utc))
        else:
            object.__setattr__(self, "effective_from", self.effective_from.astimezone(timezone.utc))
        return self

    # -- loading --
    @classmethod
    def load(cls, path: str | Path) -> "Agreement":
        """Load and check one agreement file; raise :class:`AgreementRefused` on any error."""
        from agents.agreements.lint import lint_file

        result = lint_file(path)
        if result.agreement is None or result.errors:
            raise AgreementRefused(str(path), result.problems)
        return result.agreement

    @classmethod
    def from_yaml(cls, text: str, source: str = "<agreement>") -> "Agreement":
        from agents.agreements.lint import lint_text

        result = lint_text(text, source)
        if result.agreement is None or result.errors:
            raise AgreementRefused(source, result.problems)
        return result.agreement

    # -- lookups --
    @property
    def key(self) -> tuple[str, int]:
        return (self.agreement_id, self.version)

    def calendar(self, schedule_file: str | Path | None = None) -> WorkingCalendar:
        return calendar_for(self.timezone, schedule_file)

    def party_id(self, role: str) -> str | None:
        role = (role or "").upper()
        if role == "HOLDER":
            return self.holder.id
        if role == "MANUFACTURER":
            return self.manufacturer.id
        return None

    def role_of_party(self, party_id: str | None) -> str | None:
        if party_id == self.holder.id:
            return "HOLDER"
        if party_id == self.manufacturer.id:
            return "MANUFACTURER"
        return None

    def product(self, code: str) -> Product | None:
        return next((p for p in self.products if p.code == code), None)

    def source(self, instance: str) -> SourceSystem | None:
        return next((s for s in self.sources if s.instance == instance), None)

    def timelines(self, category: str, classification: str | None = None) -> Timelines | None:
        """Deadlines for a category and classification (Art. 7).

        The classification's own entry wins, fields it leaves out come from ``default``. With no
        classification (or UNKNOWN) the ``default`` entry applies, and without one the strictest
        listed classification: until an item is classified it is treated as the most serious.
        A classification the list does not name falls back to ``default``, then to the nearest
        stricter classification, then to any.
        """
        key = (category, classification)
        if key not in self._timelines_cache:
            self._timelines_cache[key] = self._resolve_timelines(category, classification)
        return self._timelines_cache[key]

    def _resolve_timelines(self, category: str, classification: str | None) -> Timelines | None:
        entries = self.communication_list.get(category)
        if not entries:
            return None
        default = entries.get("default")
        cls_ = (classification or "").strip().lower()
        if cls_ in entries and cls_ != "default":
            return entries[cls_].merged_with(default)
        if default is not None:
            return default
        if cls_ in CLASSIFICATIONS:
            stricter = list(reversed(CLASSIFICATIONS[: CLASSIFICATIONS.index(cls_)]))
            order = stricter + list(CLASSIFICATIONS)
        else:
            order = list(CLASSIFICATIONS)
        for key in order:
            if key in entries:
                return entries[key]
        return next(iter(entries.values()))

    def known_roles(self) -> set[str]:
        """Roles an escalation step may name, optionally prefixed ``holder.`` / ``manufacturer.``."""
        base = set(BUILTIN_ROLES) | {s.role for s in self.contacts.on_call}
        return base | {f"{p}.{r}" for p in ("holder", "manufacturer") for r in base}

    def people_for_role(self, role: str, *, category: str | None = None, party: str | None = None,
                        at: datetime | None = None) -> list[Person]:
        """Who a ladder step reaches. ``holder.``/``manufacturer.`` prefixes pick a party, otherwise
        the responsible ``party``'s people are preferred, falling back to everyone with the role.
        On-call roles are resolved from the rota at ``at`` (UTC; default: now)."""
        prefix, _, bare = role.rpartition(".")
        want = prefix.upper() if prefix else (party or "").upper() or None
        if bare == "communication":
            pool = list(self.contacts.communication.get(category or "", []))
        elif bare in ("head_of_quality", "head_of_production", "qp"):
            pool = list(getattr(self.contacts, bare))
        else:
            moment = (at or datetime.now(timezone.utc)).astimezone(ZoneInfo(self.timezone))
            pool = [s.person for s in self.contacts.on_call if s.role == bare and s.covers(moment)]
        if want in PARTY_ROLES:
            mine = [p for p in pool if p.party in (want, None)]
            if mine or prefix:
                return mine
        return pool

    # -- checks --
    def problems(self) -> list[Problem]:
        """Everything wrong or doubtful about this agreement beyond its shape, in plain words."""
        out: list[Problem] = []
        add = out.append

        # Art. 7: every category of the minimum list, with timelines and a communication person.
        listed = self.communication_list
        known = set(ART7_CATEGORIES) | set(OTHER_CATEGORIES)
        for cat in ART7_CATEGORIES:
            title = CATEGORY_TITLES[cat]
            if cat not in listed:
                add(Problem(f"the communication list leaves out the category '{cat}' ({title}); "
                            "Art. 7 requires at least deviation, change, oos_oot, qualification_validation, "
                            "retention_stability, pharmacovigilance, regulatory_inspection and adverse_credit",
                            ("communication_list",), article="Art. 7"))
            elif not listed[cat] or not any(t.notify or t.acknowledge or t.decide or t.close
                                            for t in listed[cat].values()):
                add(Problem(f"the category '{cat}' ({title}) has no deadline; give at least 'notify'",
                            ("communication_list", cat), article="Art. 7"))
            people = self.contacts.communication.get(cat, [])
            if not people:
                add(Problem(f"no communication person is named for the category '{cat}' ({title})",
                            ("contacts", "communication"), article="Art. 7"))
            else:
                sides = {p.party for p in people}
                for side in PARTY_ROLES:
                    if side not in sides and None not in sides:
                        add(Problem(f"'{cat}' names no communication person for the {side.lower()}",
                                    ("contacts", "communication", cat), "warning", "Art. 7"))
        for cat, entries in listed.items():
            if cat not in known:
                hint = difflib.get_close_matches(cat, sorted(known), n=1)
                add(Problem(f"'{cat}' is not a category qbus knows"
                            + (f"; did you mean '{hint[0]}'?" if hint else "; events of it will still be tracked"),
                            ("communication_list", cat), "warning"))
            for key, t in entries.items():
                if key not in TIMELINE_KEYS:
                    hint = difflib.get_close_matches(key, TIMELINE_KEYS, n=1)
                    add(Problem(f"'{key}' is not a classification; use critical, major, minor or default"
                                + (f" (did you mean '{hint[0]}'?)" if hint else ""),
                                ("communication_list", cat, key)))
                if t.decide is not None and cat != "change":
                    add(Problem(f"a 'decide' deadline is only tracked for changes (holder approval, Art. 9); "
                                f"the one for '{cat}' is not turned into an obligation",
                                ("communication_list", cat, key, "decide"), "warning"))
        for cat in self.contacts.communication:
            if cat not in known:
                hint = difflib.get_close_matches(cat, sorted(known), n=1)
                add(Problem(f"'{cat}' is not a category qbus knows"
                            + (f"; did you mean '{hint[0]}'?" if hint else ""),
                            ("contacts", "communication", cat), "warning"))

        # Art. 12: factory release needs the QP's sign-off; Art. 6: a coordinating person.
        if not self.contacts.qp:
            add(Problem("no qualified person (qp) is named; factory release needs the QP's sign-off",
                        ("contacts", "qp"), article="Art. 12"))
        roles_used = {s.role.rpartition(".")[2] for s in self.escalation_ladder}
        if not self.contacts.head_of_quality:
            add(Problem("no head of quality is named", ("contacts", "head_of_quality"),
                        "error" if "head_of_quality" in roles_used else "warning", "Art. 6"))

        # Escalation ladder.
        roles = self.known_roles()
        if not self.escalation_ladder:
            add(Problem("there is no escalation ladder: missed deadlines will be recorded but nobody "
                        "will be told", ("escalation_ladder",), "warning"))
        previous: Duration | None = None
        for i, step in enumerate(self.escalation_ladder):
            if step.role not in roles:
                hint = difflib.get_close_matches(step.role, sorted(roles), n=1)
                add(Problem(f"step {i + 1} names the role '{step.role}', which nobody holds; use "
                            "communication, head_of_quality, head_of_production, qp or a role from "
                            "the on-call rota" + (f" (did you mean '{hint[0]}'?)" if hint else ""),
                            ("escalation_ladder", i, "role")))
            if previous is not None and step.after.is_wall_clock and previous.is_wall_clock \
                    and step.after.seconds() < previous.seconds():
                add(Problem(f"step {i + 1} fires earlier ({step.after}) than step {i} ({previous}); "
                            "steps fire in the order written", ("escalation_ladder", i, "after"), "warning"))
            previous = step.after

        # Parties and products.
        if self.holder.id == self.manufacturer.id:
            add(Problem("the holder and the manufacturer have the same id", ("manufacturer", "id")))
        if not self.products:
            add(Problem("no product is named; an agreement covers at least one entrusted product", ("products",)))
        seen: set[str] = set()
        for i, product in enumerate(self.products):
            if product.code in seen:
                add(Problem(f"product code '{product.code}' appears twice", ("products", i, "code")))
            seen.add(product.code)
            if not product.lines:
                add(Problem(f"product '{product.code}' names no production line; co-line notices "
                            "(Art. 8) cannot reach its holder", ("products", i, "lines"), "warning", "Art. 8"))
            if product.sterile:
                years = max(self.holder.commercial_sterile_years(product.dosage_form),
                            self.manufacturer.commercial_sterile_years(product.dosage_form))
                if years < 3:
                    add(Problem(f"product '{product.code}' is sterile but neither party records three years of "
                                f"commercial-scale sterile {product.dosage_form} production (has {years:g}); "
                                "one of the exceptions of Art. 17 must apply", ("products", i), "warning", "Art. 17"))

        # Art. 14: registered sources.
        parties = {self.holder.id, self.manufacturer.id}
        instances: set[str] = set()
        for i, src in enumerate(self.sources):
            if src.instance in instances:
                add(Problem(f"source '{src.instance}' is registered twice", ("sources", i, "instance")))
            instances.add(src.instance)
            if src.party not in parties:
                add(Problem(f"source '{src.instance}' belongs to '{src.party}', which is neither the holder "
                            f"('{self.holder.id}') nor the manufacturer ('{self.manufacturer.id}')",
                            ("sources", i, "party")))
            if src.must_sign and not src.public_key:
                add(Problem(f"source '{src.instance}' must sign but has no public_key to check signatures with",
                            ("sources", i, "public_key"), article="Art. 14"))
        return out


# -- a directory of agreements ----------------------------------------------------------------
class Placement(NamedTuple):
    """A product of an agreement, on one line (or on no named line)."""

    agreement: Agreement
    product: Product
    line_id: str | None


class AgreementSet:
    """All versions of all agreements, e.g. every YAML file of a directory."""

    def __init__(self, agreements: Iterable[Agreement] = (), schedule_file: str | Path | None = None):
        self.schedule_file = schedule_file
        self._versions: dict[str, list[Agreement]] = {}
        for a in agreements:
            self.add(a)

    @classmethod
    def load_dir(cls, directory: str | Path, schedule_file: str | Path | None = None,
                 strict: bool = True) -> "AgreementSet":
        """Load every ``*.yaml``/``*.yml`` under ``directory``. With ``strict`` any refused file
        refuses the whole set (listing every file's problems); otherwise refused files are skipped."""
        import logging

        refused: list[AgreementRefused] = []
        found: list[Agreement] = []
        files = sorted(p for p in Path(directory).rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        for path in files:
            try:
                found.append(Agreement.load(path))
            except AgreementRefused as exc:
                refused.append(exc)
                logging.getLogger(__name__).error("agreement refused: %s", exc)
        if refused and strict:
            raise AgreementRefused(str(directory), [p for r in refused for p in r.problems
                                                    if p.severity == "error"])
        return cls(found, schedule_file)

    def add(self, agreement: Agreement) -> None:
        versions = self._versions.setdefault(agreement.agreement_id, [])
        if any(v.version == agreement.version for v in versions):
            raise AgreementRefused(agreement.agreement_id, [Problem(
                f"version {agreement.version} of '{agreement.agreement_id}' is defined twice", ("version",))])
        versions.append(agreement)
        versions.sort(key=lambda a: a.version)

    def __len__(self) -> int:
        return len(self._versions)

    def ids(self) -> list[str]:
        return sorted(self._versions)

    def versions(self, agreement_id: str) -> list[Agreement]:
        return list(self._versions.get(agreement_id, ()))

    def version(self, agreement_id: str, version: int) -> Agreement | None:
        return next((a for a in self._versions.get(agreement_id, ()) if a.version == version), None)

    def latest(self, agreement_id: str) -> Agreement | None:
        versions = self._versions.get(agreement_id)
        return versions[-1] if versions else None

    def effective(self, agreement_id: str, at: datetime) -> Agreement | None:
        """The highest version whose ``effective_from`` is at or before ``at`` (Art. 15)."""
        best = None
        for a in self._versions.get(agreement_id, ()):
            if a.effective_from <= at and (best is None or a.version > best.version):
                best = a
        return best

    def current(self, at: datetime) -> list[Agreement]:
        """Every agreement as in force at ``at``."""
        out = [self.effective(aid, at) for aid in self.ids()]
        return [a for a in out if a is not None]

    def calendar(self, agreement: Agreement) -> WorkingCalendar:
        return agreement.calendar(self.schedule_file)

    # Lookups for routing (Arts. 8, 10, 13): always by agreement, never by generic name alone.
    def placements(self, at: datetime, *, site_id: str | None = None, line_id: str | None = None,
                   product_code: str | None = None, holder_id: str | None = None,
                   manufacturer_id: str | None = None) -> list[Placement]:
        out: list[Placement] = []
        for a in self.current(at):
            if holder_id and a.holder.id != holder_id:
                continue
            if manufacturer_id and a.manufacturer.id != manufacturer_id:
                continue
            for p in a.products:
                if site_id and p.site_id != site_id:
                    continue
                if product_code and p.code != product_code:
                    continue
                lines = p.line_ids() or [None]
                for lid in lines:
                    if line_id and lid != line_id:
                        continue
                    out.append(Placement(a, p, lid))
        return out

    def holders_on_line(self, site_id: str, line_id: str, at: datetime) -> list[Placement]:
        """Art. 8: every holder with a product on this line of this site (one entry per product)."""
        return self.placements(at, site_id=site_id, line_id=line_id)

    def holders_at_site(self, site_id: str, at: datetime) -> dict[str, list[Agreement]]:
        """Art. 13: the holders with any product at a site, each with its agreements."""
        out: dict[str, list[Agreement]] = {}
        for pl in self.placements(at, site_id=site_id):
            bucket = out.setdefault(pl.agreement.holder.id, [])
            if pl.agreement not in bucket:
                bucket.append(pl.agreement)
        return out

    def find_product(self, product_code: str, at: datetime, *, site_id: str | None = None,
                     holder_id: str | None = None) -> list[tuple[Agreement, Product]]:
        """Which product of which agreement a code names (a holder's code is unique to it)."""
        out: list[tuple[Agreement, Product]] = []
        for pl in self.placements(at, product_code=product_code, site_id=site_id, holder_id=holder_id):
            if (pl.agreement, pl.product) not in out:
                out.append((pl.agreement, pl.product))
        return out
