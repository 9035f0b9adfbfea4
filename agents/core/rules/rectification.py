"""Art. 13: issues found in a holder's audit or a regulatory inspection are rectified promptly.

Each finding (``holder_audit.finding_reported``, ``regulatory_inspection.finding_reported``) opens an
obligation for the manufacturer to rectify it, on an item of its own: ``RECT-<item_ref>-<finding_ref>``
(``RECT-<item_ref>`` when the finding has no finding_ref; one rectification then answers all such
findings of the audit). The deadline is the agreement's for the finding's severity
(``rectification:``; 30 days where it sets none), counted from when the finding reached the
manufacturer (the bus's receipt of the holder's finding) or, for a finding the manufacturer reports
itself, from the finding; the date the auditor or the authority set (``rectification_due_date``,
``capa_due_date``) applies instead when it comes first.

The manufacturer answers with ``<category>.rectification_submitted`` carrying its evidence (refused
without ``evidence_refs``); that opens the holder's review, due within the agreement's
``rectification.holder_review``. ``rectification_accepted`` closes the finding; after
``rectification_rejected`` the manufacturer owes a new round, with the finding's deadline counted
from the rejection.
"""
from __future__ import annotations

from datetime import date, datetime

from agents.core.agreements import Agreement
from agents.core.agreements.provisions import holder_review_deadline, rectification_deadline
from agents.core.obligations.model import Kind
from agents.core.rules.context import Context, as_date
from agents.core.rules.outcome import Refusal
from agents.core.rules.state import RectificationFacts

ARTICLE = "Art. 13"
EVIDENCE_RULE = "art13.rectification.evidence_required"
NOT_BY_HOLDER_RULE = "art13.rectification.decision_not_by_holder"
CATEGORIES = frozenset({"holder_audit", "regulatory_inspection"})
STATED_DUE = {"holder_audit": "rectification_due_date", "regulatory_inspection": "capa_due_date"}
SOURCE_WORDS = {"holder_audit": "the holder's audit", "regulatory_inspection": "the regulatory inspection"}


def rectification_ref(item_ref: str, finding_ref: str | None) -> str:
    """The item a finding is rectified under."""
    return f"RECT-{item_ref}-{finding_ref}" if finding_ref else f"RECT-{item_ref}"


def severity_of(ctx: Context) -> str | None:
    graded = ctx.payload.get("finding_severity")
    if graded and graded != "UNKNOWN":
        return str(graded).lower()
    return ctx.classification.lower() if ctx.classification else None


def refuse(ctx: Context) -> Refusal | None:
    if ctx.category in CATEGORIES and ctx.action == "rectification_submitted" \
            and not [ref for ref in ctx.payload.get("evidence_refs") or () if str(ref).strip()]:
        # Art. 13: a finding is closed by the rectification evidence and the holder's acceptance.
        return Refusal("RULE_REFUSED",
                       f"{ctx.event_type} {ctx.item_ref} gives no evidence_refs; the holder accepts a rectification "
                       "on its evidence (Art. 13). Publish again with the references of the CAPA records, revised "
                       "procedures or other evidence.", EVIDENCE_RULE, ARTICLE)
    return None


def apply(ctx: Context) -> None:
    agreement = ctx.agreement
    if ctx.category not in CATEGORIES or agreement is None:
        return
    if ctx.action == "finding_reported":
        _finding(ctx, agreement)
    elif ctx.action == "rectification_submitted":
        _submitted(ctx, agreement)
    elif ctx.action in ("rectification_accepted", "rectification_rejected"):
        if ctx.role != "HOLDER":
            ctx.outcome.warning(
                NOT_BY_HOLDER_RULE, ARTICLE, "MEDIUM",
                f"{ctx.event_type} {ctx.item_ref} was published by the {(ctx.role or 'unknown party').lower()}; "
                "accepting a rectification is the holder's decision (Art. 13), so the finding stays open until "
                "the holder publishes it.", ctx.event)
        elif ctx.action == "rectification_rejected":
            _rejected(ctx, agreement)


def _finding(ctx: Context, agreement: Agreement) -> None:
    ref = rectification_ref(ctx.item_ref, ctx.payload.get("finding_ref"))
    severity = severity_of(ctx)
    stated = as_date(ctx.payload.get(STATED_DUE[ctx.category]))
    ctx.state.rectifications[(ctx.agreement_id, ref)] = RectificationFacts(ctx.category, severity, stated)
    own = ctx.role == "MANUFACTURER"
    start, starts_from = (ctx.occurred, "occurred_at") if own else (ctx.received, "received_at")
    finding = " ".join(w for w in (severity, "finding", ctx.payload.get("finding_ref")) if w)
    # Art. 13: the manufacturer promptly rectifies the issues found in audits and inspections.
    _round(ctx, agreement, ref, severity, stated, start, starts_from, "art13.rectify",
           f"{agreement.manufacturer.id} must rectify {finding} of {SOURCE_WORDS[ctx.category]} {ctx.item_ref}")


def _round(ctx: Context, agreement: Agreement, ref: str, severity: str | None, stated: date | None, start: datetime,
           starts_from: str, discriminator: str, what: str) -> None:
    category = ctx.category
    duration = rectification_deadline(agreement, severity)
    due, note = duration.after(start, ctx.calendar)
    deadline = str(duration)
    if stated is not None and start < ctx.end_of_day(stated) < due:
        due, note, deadline, starts_from = ctx.end_of_day(stated), None, f"until {stated}", "the date set for it"
    ctx.outcome.obligations.append(ctx.spec(
        Kind.PERFORM, category, "MANUFACTURER", due, deadline=deadline, starts_from=starts_from, start=start,
        rule=ARTICLE, item_ref=ref, calendar_note=note,
        description=(f"{what}; publish {category}.rectification_submitted with its evidence_refs and item_ref {ref}, "
                     f"for {agreement.holder.id} to accept"),
        satisfied_by=(f"{category}.rectification_submitted",), satisfier_role="MANUFACTURER",
        discriminator=discriminator))


def _submitted(ctx: Context, agreement: Agreement) -> None:
    category = ctx.category
    # Art. 13: the rectification is closed when the holder accepts its evidence.
    ctx.outcome.obligations.append(ctx.spec_after(
        holder_review_deadline(agreement), Kind.APPROVE, category, "HOLDER", starts_from="received_at",
        start=ctx.received, rule=ARTICLE,
        description=(f"{agreement.holder.id} must review the rectification {ctx.item_ref} and its evidence "
                     f"({', '.join(ctx.payload.get('evidence_refs') or ())}); publish {category}.rectification_accepted, "
                     f"or {category}.rectification_rejected with the reason, with item_ref {ctx.item_ref}"),
        satisfied_by=(f"{category}.rectification_accepted", f"{category}.rectification_rejected"),
        satisfier_role="HOLDER", discriminator="art13.holder_review"))


def _rejected(ctx: Context, agreement: Agreement) -> None:
    facts = ctx.state.rectifications.get((ctx.agreement_id, ctx.item_ref))
    severity = facts.severity if facts is not None else None
    stated = facts.stated_due if facts is not None else None
    # Art. 13: until the holder accepts, the finding is not rectified; the manufacturer tries again.
    _round(ctx, agreement, ctx.item_ref, severity, stated, ctx.received, "received_at", "art13.rectify_again",
           f"{agreement.holder.id} did not accept the rectification {ctx.item_ref}: {agreement.manufacturer.id} must "
           "rectify it again")
