"""Art. 5: a significant quality or compliance risk suspends production at once; resumption needs
the holder's approval.

Significant risk (any of): the publisher's ``significant_risk`` flag; a critical deviation with
product impact; a critical finding of a regulatory inspection; a confirmed sterility failure. The
bus then issues a ``SUSPEND_PRODUCTION`` directive for the event's line and product (every line of
the product when the event names none) and pages on-call QA (the directive carries the page). The
suspension stays active until a ``production.resumed`` approved by the holder lifts it.
"""
from __future__ import annotations

from agents.core.rules.context import Context
from agents.core.rules.outcome import DIRECTIVE_ISSUED, DIRECTIVE_LIFTED, Emission, context_of, derived_id
from agents.core.rules.state import Suspension

ARTICLE = "Art. 5"
SUSPEND_RULE = "art5.risk.suspend_production"
FURTHER_RISK_RULE = "art5.risk.further_risk_while_suspended"
LIFT_RULE = "art5.production.resumed_with_holder_approval"
RESUMED_UNAPPROVED_RULE = "art5.production.resumed_without_holder_approval"
STARTED_SUSPENDED_RULE = "art5.production.started_while_suspended"


def significant_risk(ctx: Context) -> str | None:
    """Why the event is a significant quality or compliance risk, in plain words; None if it is not."""
    if ctx.category == "production" or ctx.action in ("acknowledged", "closed", "invalidated") \
            or ctx.role == "BUS":
        return None
    payload = ctx.payload
    if ctx.category == "deviation" and ctx.classification == "CRITICAL" and payload.get("product_impact") is True:
        # Art. 5: a critical deviation with product impact is a significant quality risk.
        return f"critical deviation {ctx.item_ref} with product impact"
    if ctx.category == "regulatory_inspection" and ctx.action == "finding_reported" and \
            "CRITICAL" in (payload.get("finding_severity"), ctx.classification):
        # Art. 5: a critical inspection finding is a significant compliance risk.
        return f"critical regulatory inspection finding {ctx.item_ref}"
    if ctx.category == "oos_oot" and ctx.action == "confirmed" and payload.get("sterility_failure") is True:
        # Art. 5: a confirmed sterility failure is a significant quality risk.
        return f"confirmed sterility failure {ctx.item_ref}"
    if ctx.event.get("significant_risk"):
        # Art. 5: the publisher judged the risk significant (envelope flag significant_risk).
        return f"{ctx.event_type} {ctx.item_ref} flagged by its publisher as a significant quality or compliance risk"
    return None


def suspend(ctx: Context, *, rule_id: str, article: str, reason: str, line_id: str | None,
            product_code: str | None) -> Suspension:
    """Issue a suspend-production directive and remember it as active."""
    directive_id = derived_id(ctx.event_id, rule_id, "directive")
    suspension = Suspension(directive_id, ctx.agreement_id, ctx.event.get("site_id") or "", line_id,
                            product_code, article, reason, ctx.event_id, {ctx.item_ref}, context_of(ctx.event))
    ctx.state.suspensions[directive_id] = suspension
    ctx.outcome.directives.append(Emission(DIRECTIVE_ISSUED, {
        "directive_id": directive_id,
        "directive": "SUSPEND_PRODUCTION",
        "line_id": line_id,
        "product_code": product_code,
        "reason": reason,
        "article": article,
        "triggered_by_event_id": ctx.event_id,
    }, rule_id))
    ctx.outcome.page(rule_id, article, reason, via_directive=True)
    return suspension


def lift(ctx: Context, suspension: Suspension, *, rule_id: str, reason: str) -> None:
    ctx.state.suspensions.pop(suspension.directive_id, None)
    ctx.outcome.directives.append(Emission(DIRECTIVE_LIFTED, {
        "directive_id": suspension.directive_id,
        "directive": "RESUME_PRODUCTION",
        "line_id": suspension.line_id,
        "product_code": suspension.product_code,
        "reason": reason,
        "article": suspension.article,
        "triggered_by_event_id": ctx.event_id,
    }, rule_id, discriminator=suspension.directive_id, context=suspension.context))


def _where(line_id: str | None, product_code: str | None) -> str:
    line = f"line {line_id}" if line_id else "every line"
    return f"{product_code or 'every product'} on {line}"


def apply(ctx: Context) -> None:
    reason = significant_risk(ctx)
    if reason is not None:
        _on_risk(ctx, reason)
    if ctx.category == "production":
        if ctx.action == "resumed":
            _on_resumed(ctx)
        elif ctx.action == "started":
            _on_started(ctx)


def _on_risk(ctx: Context, reason: str) -> None:
    line_id, product = ctx.event.get("line_id"), ctx.product_code
    item = (ctx.agreement_id, ctx.item_ref)
    if item in ctx.state.risk_items:
        # The same item again (e.g. classified after reported, or after the holder approved
        # resumption): it has raised its risk once; a new risk is a new item.
        return
    ctx.state.risk_items.add(item)
    active = ctx.state.active_suspensions(ctx.agreement_id, ctx.event.get("site_id") or "", line_id, product)
    if active:
        active[0].trigger_item_refs.add(ctx.item_ref)
        ctx.outcome.warning(FURTHER_RISK_RULE, ARTICLE, "HIGH",
                            f"Further significant risk while production of {_where(line_id, product)} is "
                            f"suspended (directive {active[0].directive_id}): {reason}. The suspension "
                            "stays until the holder approves resumption.", ctx.event)
        ctx.outcome.page(FURTHER_RISK_RULE, ARTICLE, reason)
        return
    # Art. 5: where significant quality or compliance risks exist, production is suspended at once.
    suspend(ctx, rule_id=SUSPEND_RULE, article=ARTICLE,
            reason=f"Significant risk: {reason}. Suspend production of {_where(line_id, product)} now; "
                   "resume only with the holder's approval (Art. 5).",
            line_id=line_id, product_code=product)


def _holder_approved(ctx: Context) -> bool:
    return bool(ctx.payload.get("approved_by_holder")) or ctx.role == "HOLDER"


def _on_resumed(ctx: Context) -> None:
    named = ctx.payload.get("suspended_by_directive_id")
    if named and named in ctx.state.suspensions:
        targets = [ctx.state.suspensions[named]]
    else:
        targets = ctx.state.active_suspensions(ctx.agreement_id, ctx.event.get("site_id") or "",
                                               ctx.event.get("line_id"), ctx.product_code)
    targets = [s for s in targets if s.article == ARTICLE]
    if not targets:
        return
    if not _holder_approved(ctx):
        # Art. 5: resumption after a suspension needs the holder's approval.
        ids = ", ".join(s.directive_id for s in targets)
        ctx.outcome.violation(
            RESUMED_UNAPPROVED_RULE, ARTICLE, "CRITICAL",
            f"Production of {_where(ctx.event.get('line_id'), ctx.product_code)} resumed without the "
            f"holder's approval while suspended (directive {ids}). Stop again and obtain the holder's "
            "approval; publish production.resumed with approved_by_holder and holder_approval_ref.",
            ctx.event)
        ctx.outcome.page(RESUMED_UNAPPROVED_RULE, ARTICLE,
                         f"production resumed without holder approval ({ctx.item_ref})")
        return
    ref = ctx.payload.get("holder_approval_ref") or ctx.event_id
    for suspension in targets:
        # Art. 5: a holder-approved production.resumed lifts the suspension.
        lift(ctx, suspension, rule_id=LIFT_RULE,
             reason=f"The holder approved resumption ({ref}); suspension for {suspension.reason.split('. ')[0]} lifted.")


def _on_started(ctx: Context) -> None:
    active = ctx.state.active_suspensions(ctx.agreement_id, ctx.event.get("site_id") or "",
                                          ctx.event.get("line_id"), ctx.product_code)
    if not active:
        return
    # Art. 5: production stays suspended until the holder approves resumption.
    ids = ", ".join(s.directive_id for s in active)
    ctx.outcome.violation(
        STARTED_SUSPENDED_RULE, ARTICLE, "CRITICAL",
        f"Production of {_where(ctx.event.get('line_id'), ctx.product_code)} started while suspended "
        f"(directive {ids}). Stop now; production may resume only as the directive says.", ctx.event)
    ctx.outcome.page(STARTED_SUSPENDED_RULE, ARTICLE, f"production started while suspended ({ctx.item_ref})")
