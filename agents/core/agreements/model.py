"""The quality agreement as code: one YAML file per agreement version (Arts. 3, 6, 7, 8, 13-15, 17).

An agreement names the holder and the entrusted manufacturer, the products (generic name, dosage
form, sterile flag, site, lines), the people by role, the on-call rota, the escalation ladder and
the communication list: for every Art. 7 category and classification the deadlines to notify,
acknowledge, decide and close. Its provisions (``provisions.py``) record the evaluation before
signing, the holder's right of access, what each site declares and the rectification deadlines.
Versions are separate files with the same ``agreement_id``; a new version applies to obligations
opened from its ``effective_from`` on (Art. 15: revisions are versioned, the old terms stay on record).

Durations are written ``<whole number><unit>``: ``h`` hours, ``m`` minutes, ``s`` seconds (all
wall-clock), ``wd`` working days on the Chinese official calendar, ``d`` calendar days; see
``agents/core/calendar.py`` for what "within 3 working days" means exactly.
"""
from __future__ import annotations

import difflib
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator

from agents.core.calendar import DEFAULT_TIMEZONE, WorkingCalendar, calendar_for
from agents.core.agreements.parts import (DASHBOARD_INSTANCE, Contacts, LadderStep, Party, Person, Product, SourceSystem,
                                         Timelines, _Model)
from agents.core.agreements.provisions import (Evaluation, HolderAccess, RectificationTerms, SiteDeclaration,
                                               provision_problems)
from agents.core.agreements.terms import (ART7_CATEGORIES, BUILTIN_ROLES, CATEGORY_TITLES, CLASSIFICATIONS,
                                    OTHER_CATEGORIES, PARTY_ROLES, TIMELINE_KEYS, Duration,
                                    Problem)


# -- the agreement ----------------------------------------------------------------------------
class Agreement(_Model):
    """One version of a quality agreement between a holder and an entrusted manufacturer."""

    agreement_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    effective_from: datetime = Field(
        description="From this instant the version applies to new obligations (naive = agreement time zone).")
    timezone: str = DEFAULT_TIMEZONE
    title: str | None = None
    holder: Party
    manufacturer: Party
    sources: list[SourceSystem] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)
    contacts: Contacts = Field(default_factory=Contacts)
    escalation_ladder: list[LadderStep] = Field(default_factory=list)
    communication_list: dict[str, dict[str, Timelines]] = Field(default_factory=dict)
    same_group_unified_qms: bool = Field(
        False, description="Art. 3: holder and manufacturer are in one group under a unified quality management system.")
    evaluation: Evaluation | None = None
    holder_access: HolderAccess | None = None
    sites: list[SiteDeclaration] = Field(default_factory=list)
    rectification: RectificationTerms | None = None
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

    # -- lookups --
    @property
    def key(self) -> tuple[str, int]:
        return (self.agreement_id, self.version)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

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

    def site(self, site_id: str | None) -> SiteDeclaration | None:
        """What the agreement declares about a site (Arts. 8, 14); None if it declares nothing."""
        return next((s for s in self.sites if s.site_id == site_id), None)

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
        elif bare in ("head_of_quality", "head_of_production", "qp", "qms_coordinator"):
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
            for level, t in entries.items():
                if level not in TIMELINE_KEYS:
                    hint = difflib.get_close_matches(level, TIMELINE_KEYS, n=1)
                    add(Problem(f"'{level}' is not a classification; use critical, major, minor or default"
                                + (f" (did you mean '{hint[0]}'?)" if hint else ""),
                                ("communication_list", cat, level)))
                if t.decide is not None and cat != "change":
                    add(Problem(f"a 'decide' deadline is only tracked for changes (holder approval, Art. 9); "
                                f"the one for '{cat}' is not turned into an obligation",
                                ("communication_list", cat, level, "decide"), "warning"))
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
                            "communication, head_of_quality, head_of_production, qp, qms_coordinator or a role "
                            "from the on-call rota" + (f" (did you mean '{hint[0]}'?)" if hint else ""),
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

        # Arts. 3, 6, 8, 14: evaluation, access, the sites' declarations.
        out += provision_problems(self)

        # Art. 14: registered sources.
        parties = {self.holder.id, self.manufacturer.id}
        instances: set[str] = set()
        key_ids: set[str] = set()
        for i, src in enumerate(self.sources):
            if src.instance in instances:
                add(Problem(f"source '{src.instance}' is registered twice", ("sources", i, "instance")))
            instances.add(src.instance)
            if src.party not in parties:
                add(Problem(f"source '{src.instance}' belongs to '{src.party}', which is neither the holder "
                            f"('{self.holder.id}') nor the manufacturer ('{self.manufacturer.id}')",
                            ("sources", i, "party")))
            keys = src.signing_keys()
            if src.must_sign and not keys:
                add(Problem(f"source '{src.instance}' must sign but has no public_key to check signatures with",
                            ("sources", i, "public_key"), article="Art. 14"))
            elif not keys:
                add(Problem(f"source '{src.instance}' has no public key: where signatures are required (the "
                            "production default, QBUS_REQUIRE_SIGNATURES) its events will be refused; add one "
                            "with `qbus keys generate`", ("sources", i), "warning", "Art. 14"))
            if src.instance == DASHBOARD_INSTANCE:
                add(Problem(f"'{DASHBOARD_INSTANCE}' is the bus's own dashboard and is registered for every "
                            "agreement already; remove this entry", ("sources", i, "instance")))
            for j, key in enumerate(src.keys):
                if key.key_id in key_ids:
                    add(Problem(f"key id '{key.key_id}' is used twice", ("sources", i, "keys", j, "key_id")))
                key_ids.add(key.key_id)
                if key.valid_from and key.valid_until and key.valid_until <= key.valid_from:
                    add(Problem(f"key '{key.key_id}' of source '{src.instance}' ends before it starts",
                                ("sources", i, "keys", j, "valid_until")))
        return out
