"""Art. 3: the manufacturer evaluates the holder and the product before the agreements are signed.

The evaluation covers the holder's qualification and quality management capability, the product's
risk factors and the feasibility of technical transfer and of shared-line production; only a
satisfactory one allows signing. Within one group under a unified quality system
(``same_group_unified_qms`` in the agreement) the holder's qualification and quality management
may be simplified, so the evaluation need not list them.

An evaluation is on record when the agreement gives one (``evaluation:``) or an
``agreement.evaluation_completed`` event recorded one (its ``occurred_at`` is when it concluded).
The agreement is checked once, when it takes effect: at ``agreement.signed`` (against the signing
date), or at the first ``production.started`` under it if no signing was published (against the
date the agreement first took effect). The best record counts: satisfactory, dated before signing,
covering what it must; whatever that one lacks is flagged.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from agents.core.agreements import Agreement
from agents.core.agreements.provisions import EVALUATION_ASPECTS, required_aspects
from agents.core.rules.context import Context
from agents.core.rules.state import EvaluationFacts

ARTICLE = "Art. 3"
MISSING_RULE = "art3.evaluation.missing"
UNSATISFACTORY_RULE = "art3.evaluation.not_satisfactory"
LATE_RULE = "art3.evaluation.after_signing"
SCOPE_RULE = "art3.evaluation.scope_incomplete"


@dataclass(frozen=True)
class Record:
    """One evaluation on record, wherever it was recorded."""

    ref: str
    satisfactory: bool
    completed_on: date
    covers: frozenset[str]
    where: str   # "the agreement" or "event <id>"


def records(ctx: Context) -> list[Record]:
    found: list[Record] = []
    if ctx.agreement is not None and ctx.agreement.evaluation is not None:
        e = ctx.agreement.evaluation
        found.append(Record(e.ref, e.satisfactory, e.completed_on, frozenset(e.covers), "the agreement"))
    facts = ctx.state.evaluations.get(ctx.agreement_id)
    if facts is not None:
        found.append(Record(facts.ref, facts.satisfactory, facts.completed_on, frozenset(facts.covers),
                            f"event {facts.event_id}"))
    return found


def gaps(record: Record, signed_on: date, same_group: bool) -> tuple[bool, bool, list[str]]:
    """(not satisfactory, after signing, aspects it leaves out) of one record."""
    missing = [a for a in required_aspects(same_group) if a not in record.covers]
    return (not record.satisfactory, record.completed_on > signed_on, missing)


def _rank(gap: tuple[bool, bool, list[str]]) -> tuple[bool, bool, int]:
    """Fewer and lighter gaps first: a satisfactory record beats a timely one, which beats a complete one."""
    return gap[0], gap[1], len(gap[2])


def apply(ctx: Context) -> None:
    agreement = ctx.agreement
    if agreement is None:
        return
    if ctx.event_type == "agreement.evaluation_completed":
        _record(ctx)
    elif ctx.event_type == "agreement.signed":
        _check(ctx, agreement, ctx.local(ctx.occurred).date(), "was signed")
    elif ctx.event_type == "production.started" and ctx.agreement_id not in ctx.state.evaluation_checked:
        versions = ctx.agreements.versions(ctx.agreement_id) if ctx.agreements is not None else []
        first = versions[0] if versions else agreement
        _check(ctx, agreement, ctx.local(first.effective_from).date(), "took effect")


def _record(ctx: Context) -> None:
    payload = ctx.payload
    covers = tuple(str(a).lower() for a in payload.get("evaluation_scope") or () if str(a).lower() in EVALUATION_ASPECTS)
    ctx.state.evaluations[ctx.agreement_id] = EvaluationFacts(
        payload.get("evaluation_ref") or ctx.item_ref, payload.get("evaluation_satisfactory") is True,
        ctx.local(ctx.occurred).date(), covers, ctx.event_id)


def _check(ctx: Context, agreement: Agreement, signed_on: date, verb: str) -> None:
    ctx.state.evaluation_checked.add(ctx.agreement_id)
    same_group = agreement.same_group_unified_qms
    holder, aid = agreement.holder.id, ctx.agreement_id
    found = records(ctx)
    if not found:
        # Art. 3: the agreements are signed only after a satisfactory evaluation of holder and product.
        ctx.outcome.warning(
            MISSING_RULE, ARTICLE, "HIGH",
            f"Agreement {aid} {verb} on {signed_on} with no evaluation of {holder} and its products on record. "
            "Art. 3: before accepting an entrustment the manufacturer evaluates the holder's qualification and quality "
            "management capability, the product's risk factors, and the feasibility of technical transfer and shared-line "
            "production, and signs only when the evaluation is satisfactory. Record it: publish "
            "agreement.evaluation_completed, or give evaluation: in the agreement.", ctx.event)
        return
    ranked = sorted(found, key=lambda r: _rank(gaps(r, signed_on, same_group)))
    best = ranked[0]
    unsatisfactory, late, missing = gaps(best, signed_on, same_group)
    where = f"evaluation {best.ref} ({best.where})"
    if unsatisfactory:
        # Art. 3: only a satisfactory evaluation allows the agreements to be signed.
        ctx.outcome.violation(
            UNSATISFACTORY_RULE, ARTICLE, "HIGH",
            f"Agreement {aid} {verb} on {signed_on} although {where} did not conclude that the entrustment is "
            "satisfactory. Art. 3: the agreements may be signed only when the evaluation is satisfactory; the heads "
            "of quality of both parties must decide whether the entrustment may continue.", ctx.event)
    if late:
        # Art. 3: the evaluation comes before the agreements are signed, not after.
        ctx.outcome.violation(
            LATE_RULE, ARTICLE, "MEDIUM",
            f"Agreement {aid} {verb} on {signed_on}, before {where} was concluded on {best.completed_on}. "
            "Art. 3: the evaluation is done before the entrustment is accepted.", ctx.event)
    if missing:
        words = ", ".join(EVALUATION_ASPECTS[a] for a in missing)
        group = (" (the agreement says both parties are in one group under a unified quality system, so the holder's "
                 "qualification and quality management may be simplified)") if same_group else ""
        # Art. 3: the evaluation covers qualification, quality management, product risk, transfer and
        # shared-line feasibility; within one group the first two may be simplified.
        ctx.outcome.warning(
            SCOPE_RULE, ARTICLE, "MEDIUM",
            f"{where[0].upper()}{where[1:]} for agreement {aid} does not cover {words}{group}. Art. 3 asks the manufacturer to "
            "evaluate these before accepting the entrustment; complete the evaluation and record it.", ctx.event)
