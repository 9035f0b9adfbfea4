"""Art. 8: co-line changes. The manufacturer reaches a clear and definitive co-line risk assessment
conclusion, notifies every holder with a product on the line (confidential details omitted), and
weighs each holder's feedback.

The fan-out itself (who gets a copy, what each copy may carry) is routing's job
(``agents/core/routing.py`` and ``agents/core/redaction.py``); this rule refuses a notice without a risk
conclusion, opens a feedback obligation for each holder on the line, and flags conclusions and
feedback that need the manufacturer's attention.
"""
from __future__ import annotations

from agents.core.agreements import Duration
from agents.core.obligations.model import Kind
from agents.core.routing import addressees
from agents.core.rules.context import Context
from agents.core.rules.outcome import Refusal

ARTICLE = "Art. 8"
CONCLUSION_RULE = "art8.coline.risk_conclusion_required"
LINE_RULE = "art8.coline.line_required"
FEEDBACK_RULE = "art8.coline.holder_feedback"
NOT_ACCEPTABLE_RULE = "art8.coline.risk_not_acceptable"
UNDECIDED_RULE = "art8.coline.conclusion_not_definitive"
HOLDER_OBJECTS_RULE = "art8.coline.holder_does_not_accept"
# Typical agreement term for a holder's feedback on a co-line notice when the agreement's
# communication list has no 'coline_change' entry.
DEFAULT_FEEDBACK = Duration.parse("10wd")


def refuse(ctx: Context) -> Refusal | None:
    if ctx.category != "coline_change" or ctx.action not in ("notified", "corrected"):
        return None
    if not (ctx.event.get("line_id") or "").strip():
        # Art. 8: the notice goes to the holders of the products on one line, so it must name it.
        return Refusal("RULE_REFUSED",
                       f"{ctx.event_type} {ctx.item_ref} names no line_id; Art. 8 notices go to every holder "
                       "with a product on the line, so the line must be given. Publish again with line_id.",
                       LINE_RULE, ARTICLE)
    if not (ctx.payload.get("risk_assessment_conclusion") or "").strip():
        # Art. 8: a clear and definitive co-line risk assessment conclusion comes before the notice.
        return Refusal("RULE_REFUSED",
                       f"{ctx.event_type} {ctx.item_ref} for line {ctx.event.get('line_id')} has no "
                       "risk_assessment_conclusion; Art. 8 requires a clear and definitive co-line risk "
                       "assessment conclusion before holders are notified. Publish again with the "
                       "conclusion and its document reference.",
                       CONCLUSION_RULE, ARTICLE)
    return None


def _feedback_duration(agreement) -> Duration:
    timelines = agreement.timelines("coline_change") if agreement is not None else None
    if timelines is not None:
        for value in (timelines.acknowledge, timelines.decide, timelines.close):
            if value is not None:
                return value
    return DEFAULT_FEEDBACK


def apply(ctx: Context) -> None:
    if ctx.category != "coline_change":
        return
    line = ctx.event.get("line_id")
    if ctx.action in ("notified", "corrected"):
        acceptable = ctx.payload.get("risk_acceptable")
        if acceptable is False:
            ctx.outcome.warning(
                NOT_ACCEPTABLE_RULE, ARTICLE, "HIGH",
                f"The co-line risk assessment for {ctx.item_ref} on line {line} concludes the risk is NOT "
                "acceptable. The change must not go ahead on this line until control measures make it "
                "acceptable and the holders agree (Art. 8).", ctx.event)
        elif acceptable is None:
            ctx.outcome.warning(
                UNDECIDED_RULE, ARTICLE, "LOW",
                f"The co-line notice {ctx.item_ref} on line {line} does not say whether the risk is "
                "acceptable (risk_acceptable is empty); Art. 8 asks for a clear and definitive conclusion.",
                ctx.event)
    if ctx.action == "notified":
        _feedback_obligations(ctx)
    if ctx.action == "feedback_given" and ctx.payload.get("holder_accepts") is False:
        ctx.outcome.warning(
            HOLDER_OBJECTS_RULE, ARTICLE, "MEDIUM",
            f"{ctx.event.get('holder_id')} does not accept the co-line risk conclusion {ctx.item_ref} on line "
            f"{line}. Art. 8: the manufacturer evaluates the feedback, takes measures and reaches agreement "
            "with the holder; corrective actions need the holder's approval.", ctx.event)


def _feedback_obligations(ctx: Context) -> None:
    for addressee in addressees(ctx.event, ctx.agreements, ctx.published):
        agreement = addressee.agreement
        if agreement is None:
            continue
        duration = _feedback_duration(agreement)
        # Art. 8: each holder on the line gives feedback, which the manufacturer evaluates.
        ctx.outcome.obligations.append(ctx.spec_after(
            duration, Kind.ACKNOWLEDGE, "coline_change", "HOLDER", starts_from="published_at",
            start=ctx.published, rule=ARTICLE,
            description=(f"{addressee.holder_id} must give feedback on co-line change {ctx.item_ref} on line "
                         f"{ctx.event.get('line_id')} (publish coline_change.feedback_given under "
                         f"{addressee.agreement_id}, item_ref {ctx.item_ref})"),
            satisfied_by=("coline_change.feedback_given", "coline_change.agreed"), satisfier_role="HOLDER",
            agreement=agreement, discriminator=f"coline-feedback|{addressee.holder_id}"))
