"""Art. 14: remote audits, and why they never replace a sterile product's yearly on-site inspection.

A holder may replace part of its on-site audits with remote (off-site) audits only where the
manufacturer records full-process production and testing data electronically and can exchange them
with the holder. The agreement declares that per site (``sites[].electronic_data_exchange``); a
remote ``holder_audit.performed`` for a site the agreement does not declare so is flagged.

For sterile products the holder inspects on site at least once a year (Art. 5). A remote audit of a
sterile product is told that it is not that inspection, and a
``periodic_review.onsite_inspection_completed`` done remotely (``attendance`` REMOTE) is refused, so
the year's on-site obligation stays open until the holder has been there.
"""
from __future__ import annotations

from agents.core.rules.context import Context
from agents.core.rules.outcome import Refusal
from agents.core.rules.periodic import onsite_ref

ARTICLE = "Art. 14"
NO_EXCHANGE_RULE = "art14.remote_audit.site_without_electronic_data_exchange"
STERILE_RULE = "art14.remote_audit.not_the_sterile_onsite_inspection"
REMOTE_ONSITE_RULE = "art14.remote_audit.onsite_inspection_cannot_be_remote"


def exchanges_data(ctx: Context) -> bool:
    """Whether the agreement declares the event's site as exchanging full-process data electronically."""
    site = ctx.agreement.site(ctx.event.get("site_id")) if ctx.agreement is not None else None
    return bool(site is not None and site.electronic_data_exchange)


def refuse(ctx: Context) -> Refusal | None:
    if ctx.event_type == "periodic_review.onsite_inspection_completed" and ctx.payload.get("attendance") == "REMOTE" \
            and ctx.sterile:
        # Art. 14 (and Art. 5): the sterile product's yearly on-site inspection is never a remote audit.
        return Refusal("RULE_REFUSED",
                       f"{ctx.event_type} {ctx.item_ref} for sterile {ctx.product_code} says the inspection was remote; "
                       "the holder's yearly inspection of a sterile product is on site (Art. 5), and a remote audit "
                       "never replaces it (Art. 14). Publish the remote audit as holder_audit.performed with audit_kind "
                       "REMOTE, and this event once the inspection has been done on site.", REMOTE_ONSITE_RULE, ARTICLE)
    return None


def apply(ctx: Context) -> None:
    if ctx.event_type != "holder_audit.performed" or ctx.payload.get("audit_kind") != "REMOTE" or ctx.agreement is None:
        return
    holder, site = ctx.agreement.holder.id, ctx.event.get("site_id")
    if not exchanges_data(ctx):
        # Art. 14: remote audits replace part of on-site audits only where the manufacturer records
        # full-process data electronically and exchanges them with the holder.
        ctx.outcome.warning(
            NO_EXCHANGE_RULE, ARTICLE, "MEDIUM",
            f"{holder} audited {site} remotely ({ctx.item_ref}), but agreement {ctx.agreement_id} does not declare that "
            f"{site} records full-process production and testing data electronically and exchanges them with {holder}. "
            "Art. 14: only then may a remote audit replace part of the on-site audits. Plan an on-site audit, or declare "
            "electronic_data_exchange for the site in the agreement if it does exchange the data.", ctx.event)
    if ctx.sterile:
        ref = onsite_ref(ctx.local(ctx.occurred).year, ctx.product_code or "")
        # Art. 14 (and Art. 5): a remote audit is not the yearly on-site inspection of a sterile product.
        ctx.outcome.warning(
            STERILE_RULE, ARTICLE, "MEDIUM",
            f"Remote audit {ctx.item_ref} of sterile {ctx.product_code} does not count as {holder}'s yearly on-site "
            f"inspection (Art. 5: supervising sterilisation validation and aseptic process simulation on site); {ref} "
            "stays open until that inspection is done on site.", ctx.event)
