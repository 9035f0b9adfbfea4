"""All versions of all agreements (a directory of YAML files), and the lookups routing needs
(Arts. 8, 10, 13): always by agreement, never by generic name alone."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Iterable, NamedTuple

from agents.core.calendar import WorkingCalendar
from agents.core.agreements.lint import load_agreement
from agents.core.agreements.model import Agreement
from agents.core.agreements.parts import Product
from agents.core.agreements.terms import AgreementRefused, Problem


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
        self.revision = 0   # bumped by every add(), so caches of derived lookups know when to forget
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
                found.append(load_agreement(path))
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
        self.revision += 1

    def __len__(self) -> int:
        return len(self._versions)

    def ids(self) -> list[str]:
        return sorted(self._versions)

    def holders(self) -> tuple[str, ...]:
        """Every holder of any version of any agreement: each has its own inbox topic (Art. 10)."""
        return tuple(sorted({a.holder.id for versions in self._versions.values() for a in versions}))

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
                lines: list[str | None] = list(p.line_ids()) or [None]
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
