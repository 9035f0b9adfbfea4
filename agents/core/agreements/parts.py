"""The parts an agreement is made of: people, the on-call rota, contacts, the ladder, timelines,
parties, source systems and products."""
from __future__ import annotations

import base64
import binascii
import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agents.core.agreements.terms import CHANNELS, Duration, WEEKDAYS


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
    years_experience: float | None = Field(
        None, ge=0, description="Art. 17: years in drug production and quality management.")
    years_sterile_experience: float | None = Field(
        None, ge=0, description="Art. 17: of which in sterile production and quality management.")

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
        start, end = self.start, self.end
        if isinstance(start, time) and isinstance(end, time):
            return self
        if isinstance(start, time) or isinstance(end, time):
            raise ValueError("'from' and 'to' must both be times of day (08:00) or both be dates")
        if _as_start(start) > _as_end(end):
            raise ValueError("the shift ends before it starts")
        return self

    def covers(self, at_local: datetime) -> bool:
        """True if the shift covers the local moment ``at_local`` (naive or in the agreement's zone)."""
        naive = at_local.replace(tzinfo=None)
        start, end = self.start, self.end
        if isinstance(start, time) and isinstance(end, time):
            day = naive.date()
            t = naive.time()
            if start <= end:
                return self._on(day) and start <= t <= end
            # window across midnight, e.g. 18:00 to 08:00: the early part belongs to the day before
            if t >= start:
                return self._on(day)
            return t <= end and self._on(day - timedelta(days=1))
        if isinstance(start, time) or isinstance(end, time):
            return False   # a daily start with a dated end: refused when the agreement loads
        return _as_start(start) <= naive <= _as_end(end)

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
    qms_coordinator: list[Person] = Field(
        default_factory=list, description="Art. 6: the manufacturer's person coordinating with the holder's QMS.")
    on_call: list[OnCallShift] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key in ("head_of_quality", "head_of_production", "qp", "qms_coordinator"):
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


# A source instance is named once, in one spelling: lowercase letters, digits and hyphens, starting
# and ending with a letter or digit (like a host name). Events must name it exactly.
SOURCE_INSTANCE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
DASHBOARD_INSTANCE = "qbus-dashboard"   # the bus's own dashboard: a source of every agreement, for both parties


def _public_key(v: str | None) -> str | None:
    if v is None:
        return v
    try:
        raw = base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"decodes to {len(raw)} bytes; an Ed25519 public key has 32")
    return v


class SourceKey(_Model):
    """One signing key of a source, valid from a date (and until one, once it is rotated out).
    Events are checked against the key valid when the bus received them, so old events keep
    verifying after a rotation."""

    key_id: str = Field(min_length=1)
    public_key: str = Field(description="Base64 Ed25519 public key (32 bytes).")
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    _key = field_validator("public_key")(classmethod(lambda cls, v: _public_key(v)))

    def valid_at(self, moment: datetime, tz: tzinfo) -> bool:
        """Whether the key may sign at ``moment``; dates without an offset are in the agreement's zone."""
        return ((self.valid_from is None or _aware(self.valid_from, tz) <= moment)
                and (self.valid_until is None or moment < _aware(self.valid_until, tz)))


def _aware(moment: datetime, tz: tzinfo) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


class SourceSystem(_Model):
    """A registered publishing system (Art. 14: signed, traceable data), bound to one party."""

    instance: str = Field(min_length=1, description="The installation's name, e.g. 'lims-cmox-01'; events name it exactly.")
    party: str = Field(min_length=1, description="Id of the party operating the system.")
    system: str | None = None
    key_id: str | None = None
    public_key: str | None = Field(None, description="Base64 Ed25519 public key (32 bytes).")
    keys: list[SourceKey] = Field(default_factory=list, description="Signing keys with validity dates (rotation).")
    must_sign: bool = False
    principal: str | None = Field(None, description="The Kafka principal (SASL user) this system publishes as; "
                                                     "default: the instance name.")
    categories: list[str] | None = Field(None, description="Intake categories it publishes (Kafka ACLs); default: all.")

    _key = field_validator("public_key")(classmethod(lambda cls, v: _public_key(v)))

    @field_validator("instance")
    @classmethod
    def _instance(cls, v: str) -> str:
        if not SOURCE_INSTANCE.match(v):
            raise ValueError(f"{v!r} is not a source instance name: use lowercase letters, digits and hyphens, "
                             "e.g. 'lims-cmox-01'")
        return v

    def signing_keys(self) -> list[SourceKey]:
        """Every key of the source; the single ``key_id``/``public_key`` form is a key valid always."""
        keys = list(self.keys)
        if self.public_key:
            keys.append(SourceKey(key_id=self.key_id or _fingerprint(self.public_key), public_key=self.public_key))
        return keys

    @property
    def kafka_principal(self) -> str:
        return self.principal or self.instance


def _fingerprint(public_key: str) -> str:
    import hashlib

    return f"ed25519:{hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]}"


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
    comparative_analysis_ref: str | None = Field(
        None, description="Art. 10: the comparative analysis of this manufacturer's production conditions against the "
                          "holder's other manufacturers of the same drug, with its risk mitigation.")
    comparative_study_every: Literal["quarter", "half_year", "year"] | None = Field(
        None, description="Art. 10: how often the holder runs its comparative quality study (default: yearly).")

    @field_validator("lines", mode="before")
    @classmethod
    def _lines(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"line_id": x} if isinstance(x, str) else x for x in v]
        return v

    def line_ids(self) -> list[str]:
        return [line.line_id for line in self.lines]
