"""Provisions of a quality agreement beyond the communication list, and their checks:

* Art. 3: the manufacturer's evaluation of the holder and the product, satisfactory and done before
  the agreements are signed (simplified within one group under a unified quality system);
* Art. 6: the holder's right to access systems, procedures and documents and to inspect facilities,
  and how soon the manufacturer answers a request;
* Arts. 8 and 14: what each site declares: how many entrusted products a line can carry, and whether
  full-process data are recorded electronically and exchanged with the holder (remote audits);
* Art. 13: how long the manufacturer has to rectify an audit or inspection finding, and the holder to
  accept the rectification.
"""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from agents.core.agreements.parts import _Model
from agents.core.agreements.terms import Duration, Problem

if TYPE_CHECKING:
    from agents.core.agreements.model import Agreement

# What the evaluation focuses on (Art. 3), in the announcement's order.
EVALUATION_ASPECTS: dict[str, str] = {
    "holder_qualification": "the holder's qualification",
    "quality_management": "the holder's quality management capability",
    "product_risk": "the risk factors of the product",
    "technical_transfer": "the feasibility of technical transfer",
    "shared_line": "the feasibility of shared-line production",
}
# Within one group under a unified quality system these two may be simplified (Art. 3).
SIMPLIFIED_IN_GROUP: tuple[str, ...] = ("holder_qualification", "quality_management")
Aspect = Literal["holder_qualification", "quality_management", "product_risk", "technical_transfer", "shared_line"]

ACCESS_WORDS: dict[str, str] = {
    "systems": "the management systems",
    "procedures": "the operating procedures",
    "documents": "the documents of the entrusted manufacturing",
    "facilities": "inspection of the facilities",
}
# Typical agreement terms where the agreement is silent (the announcement says "promptly").
DEFAULT_ACCESS_RESPONSE = Duration.parse("5wd")
DEFAULT_RECTIFICATION = Duration.parse("30d")
DEFAULT_HOLDER_REVIEW = Duration.parse("10wd")


def required_aspects(same_group_unified_qms: bool) -> tuple[str, ...]:
    """What an evaluation must cover (Art. 3), given the group simplification."""
    skip = SIMPLIFIED_IN_GROUP if same_group_unified_qms else ()
    return tuple(a for a in EVALUATION_ASPECTS if a not in skip)


class Evaluation(_Model):
    """Art. 3: the manufacturer's comprehensive evaluation of the holder and the product."""

    ref: str = Field(min_length=1, description="Reference of the evaluation report.")
    completed_on: date = Field(description="When the evaluation was concluded; before signing.")
    satisfactory: bool = Field(description="The conclusion: only a satisfactory evaluation allows signing.")
    covers: list[Aspect] = Field(default_factory=list, description="What the evaluation covered.")

    @field_validator("covers", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return [str(x).strip().lower() for x in v] if isinstance(v, list) else v


class HolderAccess(_Model):
    """Art. 6: the quality agreement states the holder's right of access and inspection."""

    systems: bool = False
    procedures: bool = False
    documents: bool = False
    facilities: bool = False
    respond_within: Duration = Field(DEFAULT_ACCESS_RESPONSE,
                                     description="How soon the manufacturer grants a request of the holder.")
    clause_ref: str | None = Field(None, description="Where the signed agreement states the right, e.g. '§7.3'.")

    def missing(self) -> list[str]:
        return [key for key in ACCESS_WORDS if not getattr(self, key)]


class LineCapacity(_Model):
    """Art. 8: how many entrusted products the site declares a line can carry."""

    line_id: str = Field(min_length=1)
    max_entrusted_products: int = Field(ge=1)


class SiteDeclaration(_Model):
    """What the manufacturer declares about one of its sites (Arts. 8, 14)."""

    site_id: str = Field(min_length=1)
    electronic_data_exchange: bool = Field(
        False, description="Art. 14: full-process production and testing data are recorded electronically and "
                           "exchanged with the holder; only then may remote audits replace part of on-site audits.")
    lines: list[LineCapacity] = Field(default_factory=list)

    def capacity(self, line_id: str) -> int | None:
        return next((c.max_entrusted_products for c in self.lines if c.line_id == line_id), None)


class RectificationTerms(_Model):
    """Art. 13: deadlines to rectify a finding, by its severity, and for the holder's review."""

    critical: Duration | None = None
    major: Duration | None = None
    minor: Duration | None = None
    default: Duration | None = None
    holder_review: Duration | None = Field(None, description="How long the holder has to accept or reject.")

    def deadline(self, severity: str | None) -> Duration:
        own = getattr(self, (severity or "").lower(), None) if (severity or "").lower() in ("critical", "major", "minor") \
            else None
        return own or self.default or DEFAULT_RECTIFICATION


def rectification_deadline(agreement: "Agreement", severity: str | None) -> Duration:
    terms = agreement.rectification
    return terms.deadline(severity) if terms is not None else DEFAULT_RECTIFICATION


def holder_review_deadline(agreement: "Agreement") -> Duration:
    terms = agreement.rectification
    return (terms.holder_review if terms is not None else None) or DEFAULT_HOLDER_REVIEW


# -- checks -----------------------------------------------------------------------------------
def provision_problems(agreement: "Agreement") -> list[Problem]:
    """Arts. 3, 6, 8 and 14 problems of one agreement, in plain words."""
    out = _access_problems(agreement)
    out += _evaluation_problems(agreement)
    out += _site_problems(agreement)
    return out


def _access_problems(agreement: "Agreement") -> list[Problem]:
    out: list[Problem] = []
    coordinators = agreement.contacts.qms_coordinator
    # Art. 6: the manufacturer designates a person to coordinate with the holder's quality system;
    # an agreement without one is refused.
    if not coordinators:
        out.append(Problem("no person is named to coordinate with the holder's quality management system "
                           "(contacts.qms_coordinator); the manufacturer must designate one and define their "
                           "responsibilities", ("contacts", "qms_coordinator"), article="Art. 6"))
    elif not any(p.party in ("MANUFACTURER", None) for p in coordinators):
        out.append(Problem("the QMS coordinator must be the manufacturer's person; name one under "
                           "qms_coordinator.manufacturer", ("contacts", "qms_coordinator"), article="Art. 6"))
    access = agreement.holder_access
    # Art. 6: the quality agreement states the holder's right to access systems, procedures and
    # documents and to inspect facilities; an agreement without it is refused.
    if access is None:
        out.append(Problem("the agreement does not state the holder's right of access (holder_access): the quality "
                           "agreement must give the holder access to the management systems, operating procedures and "
                           "documents of the entrusted manufacturing and the right to inspect the facilities",
                           ("holder_access",), article="Art. 6"))
    elif access.missing():
        words = ", ".join(ACCESS_WORDS[k] for k in access.missing())
        out.append(Problem(f"the holder's right of access leaves out {words}; set "
                           + ", ".join(f"{k}: true" for k in access.missing()), ("holder_access",), article="Art. 6"))
    return out


def _evaluation_problems(agreement: "Agreement") -> list[Problem]:
    evaluation = agreement.evaluation
    if evaluation is None:
        return [Problem("no evaluation of the holder and the product is recorded (evaluation); the bus flags the "
                        "agreement when it takes effect unless an agreement.evaluation_completed event records a "
                        "satisfactory one", ("evaluation",), "warning", "Art. 3")]
    out: list[Problem] = []
    if not evaluation.satisfactory:
        out.append(Problem(f"evaluation {evaluation.ref} is not satisfactory; the agreements may be signed only "
                           "after a satisfactory evaluation", ("evaluation", "satisfactory"), "warning", "Art. 3"))
    signed = agreement.effective_from.astimezone(agreement.zone).date()
    if evaluation.completed_on > signed:
        out.append(Problem(f"evaluation {evaluation.ref} was completed on {evaluation.completed_on}, after the agreement "
                           f"takes effect ({signed}); it must come before signing", ("evaluation", "completed_on"),
                           "warning", "Art. 3"))
    missing = [a for a in required_aspects(agreement.same_group_unified_qms) if a not in evaluation.covers]
    if missing:
        group = (" (within one group under a unified quality system the holder's qualification and quality "
                 "management may be simplified)") if agreement.same_group_unified_qms else ""
        out.append(Problem(f"evaluation {evaluation.ref} does not cover {', '.join(EVALUATION_ASPECTS[a] for a in missing)}"
                           f"{group}; list them under covers: {', '.join(missing)}", ("evaluation", "covers"),
                           "warning", "Art. 3"))
    return out


def _site_problems(agreement: "Agreement") -> list[Problem]:
    out: list[Problem] = []
    seen: set[str] = set()
    for i, site in enumerate(agreement.sites):
        if site.site_id in seen:
            out.append(Problem(f"site '{site.site_id}' is declared twice", ("sites", i, "site_id")))
        seen.add(site.site_id)
        products = [p for p in agreement.products if p.site_id == site.site_id]
        if not products:
            out.append(Problem(f"site '{site.site_id}' makes none of the agreement's products", ("sites", i, "site_id"),
                               "warning"))
        for j, line in enumerate(site.lines):
            # Art. 8: a declared capacity the agreement's own products already exceed is pointed out.
            here = [p.code for p in products if line.line_id in p.line_ids()]
            if not here:
                out.append(Problem(f"line '{line.line_id}' at '{site.site_id}' carries none of the agreement's products",
                                   ("sites", i, "lines", j, "line_id"), "warning", "Art. 8"))
            elif len(here) > line.max_entrusted_products:
                out.append(Problem(f"line '{line.line_id}' carries {len(here)} products of this agreement alone, above the "
                                   f"capacity of {line.max_entrusted_products} the site declares",
                                   ("sites", i, "lines", j, "max_entrusted_products"), "warning", "Art. 8"))
    return out
