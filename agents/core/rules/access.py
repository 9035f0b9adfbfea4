"""Art. 6: the holder's right to access the manufacturer's systems, procedures and documents and to
inspect its facilities.

The quality agreement must state that right (the agreement lint refuses one that does not, and one
without the manufacturer's QMS coordinator). Here, a holder's ``holder_audit.access_requested``
opens an obligation for the manufacturer to answer within the agreement's
``holder_access.respond_within`` (5 working days when the agreement is silent), counted from when
the request reached the bus; ``holder_audit.access_granted`` or ``access_refused`` answers it. A
refusal is flagged: the agreement gives the holder the right.
"""
from __future__ import annotations

from agents.core.agreements import Agreement
from agents.core.agreements.provisions import ACCESS_WORDS, DEFAULT_ACCESS_RESPONSE
from agents.core.obligations.model import Kind
from agents.core.rules.context import Context

ARTICLE = "Art. 6"
REFUSED_RULE = "art6.access.refused"
NOT_BY_HOLDER_RULE = "art6.access.request_not_by_holder"
ANSWERS = ("holder_audit.access_granted", "holder_audit.access_refused")


def requested(payload: dict) -> str:
    """What the request asks for, in words."""
    kinds = [str(k).lower() for k in payload.get("access_to") or () if str(k).lower() in ACCESS_WORDS]
    return ", ".join(ACCESS_WORDS[k] for k in kinds) or "systems, procedures, documents or facilities"


def apply(ctx: Context) -> None:
    agreement = ctx.agreement
    if ctx.category != "holder_audit" or agreement is None:
        return
    if ctx.action == "access_requested":
        _requested(ctx, agreement)
    elif ctx.action == "access_refused":
        # Art. 6: the quality agreement gives the holder access to systems, procedures and documents
        # and the right to inspect facilities; a refusal goes against it.
        ctx.outcome.warning(
            REFUSED_RULE, ARTICLE, "HIGH",
            f"{agreement.manufacturer.id} refused {agreement.holder.id} access under request {ctx.item_ref}. "
            "Art. 6: the quality agreement gives the holder the right to access the management systems, operating "
            "procedures and documents of the entrusted manufacturing and to inspect the facilities. The QMS "
            "coordinators of both parties should resolve it; grant access with holder_audit.access_granted.", ctx.event)


def _requested(ctx: Context, agreement: Agreement) -> None:
    if ctx.role != "HOLDER":
        ctx.outcome.warning(
            NOT_BY_HOLDER_RULE, ARTICLE, "LOW",
            f"holder_audit.access_requested {ctx.item_ref} was published by the {(ctx.role or 'unknown party').lower()}; "
            "access requests are the holder's (Art. 6), so no answer is tracked. The holder must publish it.", ctx.event)
        return
    access = agreement.holder_access
    duration = access.respond_within if access is not None else DEFAULT_ACCESS_RESPONSE
    clause = f" ({access.clause_ref})" if access is not None and access.clause_ref else ""
    # Art. 6: the holder may access systems, procedures and documents and inspect facilities; the
    # manufacturer answers a request within the agreed time.
    ctx.outcome.obligations.append(ctx.spec_after(
        duration, Kind.PERFORM, "holder_audit", "MANUFACTURER", starts_from="received_at", start=ctx.received,
        rule=ARTICLE,
        description=(f"{agreement.manufacturer.id} must give {agreement.holder.id} access to {requested(ctx.payload)} as "
                     f"the quality agreement provides{clause}; publish holder_audit.access_granted (or "
                     f"access_refused, with the reason) with item_ref {ctx.item_ref}"),
        satisfied_by=ANSWERS, satisfier_role="MANUFACTURER", discriminator="art6.access"))
