"""Art. 8: the manufacturer keeps the number of entrusted products on a line within a reasonable
capacity (designed capacity, co-line risk, cleaning validation, production and materials management).

The agreements know which products run on which physical line (site + line, across every holder),
and each may declare for its sites how many entrusted products a line can carry
(``sites[].lines[].max_entrusted_products``); where several agreements declare one for the same line,
the lowest counts. The bus reports the count against that capacity

* when a co-line change adds a product (``coline_change.notified`` with change_kind
  NEW_COMMERCIAL_PRODUCT or NEW_NON_COMMERCIAL_PRODUCT): the products on the line plus the one added,
  unless ``new_product_code`` names one the agreements already place there;
* at each quarterly review (``periodic_review.risk_assessment_completed``), for every line of the
  reviewed product.

A line above its capacity is flagged. Reports carry counts only, never another holder's products
(Art. 10). The count is pure: it reads the agreements, not what one worker has seen.
"""
from __future__ import annotations

from datetime import datetime

from agents.core.agreements import Placement
from agents.core.rules.context import Context

ARTICLE = "Art. 8"
REPORT_RULE = "art8.capacity.line_report"
ABOVE_RULE = "art8.capacity.line_above_capacity"
UNDECLARED_RULE = "art8.capacity.not_declared"
ADDS_PRODUCT = frozenset({"NEW_COMMERCIAL_PRODUCT", "NEW_NON_COMMERCIAL_PRODUCT"})


def _placements(ctx: Context, site_id: str, line_id: str, at: datetime) -> list[Placement]:
    if ctx.agreements is not None:
        return ctx.agreements.holders_on_line(site_id, line_id, at)
    agreement = ctx.agreement
    if agreement is None:
        return []
    return [Placement(agreement, p, line_id) for p in agreement.products
            if p.site_id == site_id and line_id in p.line_ids()]


def products_on_line(ctx: Context, site_id: str, line_id: str, at: datetime) -> set[tuple[str, str]]:
    """Every entrusted product on the line, as (agreement_id, product code), per the agreements in force."""
    return {(pl.agreement.agreement_id, pl.product.code) for pl in _placements(ctx, site_id, line_id, at)}


def declared_capacity(ctx: Context, site_id: str, line_id: str, at: datetime) -> int | None:
    """The lowest capacity any agreement with a product on the line declares for it."""
    declared = []
    for pl in _placements(ctx, site_id, line_id, at):
        site = pl.agreement.site(site_id)
        capacity = site.capacity(line_id) if site is not None else None
        if capacity is not None:
            declared.append(capacity)
    return min(declared, default=None)


def apply(ctx: Context) -> None:
    site_id = ctx.event.get("site_id") or ""
    if ctx.event_type == "coline_change.notified" and ctx.payload.get("change_kind") in ADDS_PRODUCT:
        line_id = ctx.event.get("line_id")
        if not line_id:
            return
        on_line = products_on_line(ctx, site_id, line_id, ctx.published)
        added = ctx.payload.get("new_product_code")
        count = len(on_line) + (0 if added and any(code == added for _, code in on_line) else 1)
        _report(ctx, site_id, line_id, count, f"once co-line change {ctx.item_ref} adds its product")
    elif ctx.event_type == "periodic_review.risk_assessment_completed" and ctx.agreement is not None and ctx.product_code:
        product = ctx.agreement.product(ctx.product_code)
        if product is None:
            return
        for line_id in product.line_ids():
            count = len(products_on_line(ctx, product.site_id, line_id, ctx.published))
            _report(ctx, product.site_id, line_id, count, f"at the quarterly review {ctx.item_ref}")


def _report(ctx: Context, site_id: str, line_id: str, count: int, when: str) -> None:
    capacity = declared_capacity(ctx, site_id, line_id, ctx.published)
    products = f"{count} entrusted product{'s' if count != 1 else ''}"
    if capacity is None:
        ctx.outcome.warning(
            UNDECLARED_RULE, ARTICLE, "LOW",
            f"Line {line_id} at {site_id} carries {products} {when}; no capacity is declared for it. Art. 8: the "
            "manufacturer keeps the number of entrusted products within a reasonable capacity. Declare it in the "
            "agreement (sites: lines: max_entrusted_products) so the bus can check it.", ctx.event,
            discriminator=line_id)
    elif count > capacity:
        # Art. 8: the number of entrusted products and the schedules stay within a reasonable capacity.
        ctx.outcome.warning(
            ABOVE_RULE, ARTICLE, "HIGH",
            f"Line {line_id} at {site_id} carries {products} {when}, above the capacity of {capacity} the site "
            "declares. Art. 8: the manufacturer sets the number of entrusted products and the production schedules "
            "so that capacity stays within a reasonable range, taking into account designed capacity, the co-line risk "
            "assessment, cleaning validation and materials management. Review the line's capacity and schedules with "
            "the holders before adding products.", ctx.event, discriminator=line_id)
    else:
        ctx.outcome.warning(
            REPORT_RULE, ARTICLE, "INFO",
            f"Line {line_id} at {site_id} carries {products} {when}, within the capacity of {capacity} the site "
            "declares (Art. 8).", ctx.event, discriminator=line_id)
