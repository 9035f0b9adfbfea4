"""Art. 10: one holder entrusting the same drug to several manufacturers.

The agreements know these cases: the holder's agreements in force whose products are the same drug
(same generic name and dosage form) with more than one manufacturer. Two things follow.

* The holder runs regular comparative quality studies. The bus opens one per period on the
  holder's cadence (the product's ``comparative_study_every``: quarter, half_year or year; yearly
  if unset), under the holder's first agreement for the drug (the earliest to take effect), so the
  study is owed once: item ``CQS-<year>[-Q<n>|-H<n>]-<product code>``, due 30, 60 or 90 days after
  the period, done by the holder's ``periodic_review.comparative_study_completed``. As with the
  Art. 5 reviews, the first event of a period under that agreement and product opens it.
* Differences in production conditions get a comparative analysis with risk mitigation. A later
  manufacturer's product with no analysis on record (``comparative_analysis_ref`` on the product in
  its agreement, or a ``periodic_review.comparative_analysis_completed`` under that agreement and
  product) is flagged once: at its agreement's signing, its first production or its first factory
  release, whichever the bus sees first.

Rule state is kept per manufacturer, so nothing here relies on another manufacturer's events: the
cases come from the agreements, the analyses from events under the agreement concerned. Messages
give the number of the holder's other manufacturers, not their names: a manufacturer reads them too.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from agents.core.agreements import Agreement, Product
from agents.core.obligations.model import Kind
from agents.core.rules.context import Context, add_months

ARTICLE = "Art. 10"
ANALYSIS_RULE = "art10.several_manufacturers.comparative_analysis_missing"
STUDY_DONE = "periodic_review.comparative_study_completed"
ANALYSIS_DONE = "periodic_review.comparative_analysis_completed"
# Cadence: months per period and the days after the period the study is due (as Art. 5's reviews).
CADENCES: dict[str, tuple[int, int]] = {"quarter": (3, 30), "half_year": (6, 60), "year": (12, 90)}
FLAG_EVENTS = frozenset({"agreement.signed", "production.started", "batch_release.factory_released"})
_SKIP_CATEGORIES = {"agreement", "licence"}


def same_drug(a: Product, b: Product) -> bool:
    return (a.generic_name.strip().casefold(), a.dosage_form.strip().casefold()) == \
        (b.generic_name.strip().casefold(), b.dosage_form.strip().casefold())


def _first_in_force(ctx: Context, agreement: Agreement) -> datetime:
    versions = ctx.agreements.versions(agreement.agreement_id) if ctx.agreements is not None else []
    return min((v.effective_from for v in versions), default=agreement.effective_from)


def entrusted(ctx: Context, agreement: Agreement, product: Product) -> list[tuple[Agreement, Product]]:
    """The holder's agreements in force for this drug, one entry each, the earliest to take effect first."""
    if ctx.agreements is None:
        return [(agreement, product)]
    found: dict[str, tuple[Agreement, Product]] = {}
    for pl in ctx.agreements.placements(ctx.published, holder_id=agreement.holder.id):
        if same_drug(pl.product, product):
            found.setdefault(pl.agreement.agreement_id, (pl.agreement, pl.product))
    found.setdefault(agreement.agreement_id, (agreement, product))
    return sorted(found.values(), key=lambda ap: (_first_in_force(ctx, ap[0]), ap[0].agreement_id))


def manufacturers(cases: list[tuple[Agreement, Product]]) -> set[str]:
    return {a.manufacturer.id for a, _ in cases}


def apply(ctx: Context) -> None:
    agreement = ctx.agreement
    if agreement is None:
        return
    if ctx.event_type == "agreement.signed":
        for each in agreement.products:
            _check_analysis(ctx, agreement, each)
        return
    product = agreement.product(ctx.product_code) if ctx.product_code else None
    if product is None:
        return
    if ctx.event_type == ANALYSIS_DONE:
        ctx.state.comparative_analyses.add((ctx.agreement_id, product.code))
    cases = entrusted(ctx, agreement, product)
    if len(manufacturers(cases)) < 2:
        return
    first, first_product = cases[0]
    if first.agreement_id == ctx.agreement_id:
        if ctx.role in ("HOLDER", "MANUFACTURER") and ctx.category not in _SKIP_CATEGORIES:
            _open_study(ctx, first, first_product, len(manufacturers(cases)))
    elif ctx.event_type in FLAG_EVENTS:
        _check_analysis(ctx, agreement, product)


def period_of(day: date, every: str) -> tuple[str, date, date]:
    """(label, first day, last day) of the study period containing ``day``; label '' for a year."""
    months = CADENCES[every][0]
    index = (day.month - 1) // months
    start = date(day.year, index * months + 1, 1)
    end = add_months(start, months) - timedelta(days=1)
    label = "" if months == 12 else (f"Q{index + 1}" if months == 3 else f"H{index + 1}")
    return label, start, end


def _open_study(ctx: Context, agreement: Agreement, product: Product, makers: int) -> None:
    every = product.comparative_study_every or "year"
    label, start, end = period_of(ctx.local(ctx.occurred).date(), every)
    key = (agreement.agreement_id, product.code, "comparative", f"{start.year}{label}")
    if key in ctx.state.periods_opened:
        return
    ctx.state.periods_opened.add(key)
    grace = CADENCES[every][1]
    ref = f"CQS-{start.year}-{label + '-' if label else ''}{product.code}"
    period = f"{start.year} {label}".strip()
    # Art. 10: a holder entrusting one drug to several manufacturers runs regular comparative quality
    # studies to keep the product's quality consistent.
    ctx.outcome.obligations.append(ctx.spec(
        Kind.PERFORM, "periodic_review", "HOLDER", ctx.end_of_day(end + timedelta(days=grace)),
        deadline=f"period end + {grace}d", starts_from="end of period", start=ctx.end_of_day(end), rule=ARTICLE,
        item_ref=ref,
        description=(f"{agreement.holder.id} entrusts {product.generic_name} {product.dosage_form} to {makers} "
                     f"manufacturers and must run its comparative quality study of them for {period} to keep quality "
                     f"consistent; publish {STUDY_DONE} under {agreement.agreement_id} with item_ref {ref}"),
        satisfied_by=(STUDY_DONE,), satisfier_role="HOLDER", discriminator="art10.comparative_study"))


def _check_analysis(ctx: Context, agreement: Agreement, product: Product) -> None:
    cases = entrusted(ctx, agreement, product)
    makers = manufacturers(cases)
    first = cases[0][0]
    if len(makers) < 2 or first.agreement_id == agreement.agreement_id \
            or first.manufacturer.id == agreement.manufacturer.id:
        return
    key = (agreement.agreement_id, product.code)
    if product.comparative_analysis_ref or key in ctx.state.comparative_analyses or key in ctx.state.comparison_flagged:
        return
    ctx.state.comparison_flagged.add(key)
    others = len(makers) - 1
    # Art. 10: where one drug is entrusted to several manufacturers, differences in production
    # conditions are analysed comparatively with the holder, assessed for risk and mitigated.
    ctx.outcome.warning(
        ANALYSIS_RULE, ARTICLE, "HIGH",
        f"{agreement.holder.id} also entrusts {product.generic_name} {product.dosage_form} ({product.code}) to "
        f"{others} other manufacturer{'s' if others != 1 else ''}, and no comparative analysis of "
        f"{agreement.manufacturer.id}'s production conditions is on record for agreement {agreement.agreement_id}. "
        "Art. 10: every manufacturer produces by the approved process; where production conditions differ, the "
        "manufacturer and the holder analyse the differences, assess their risk and set mitigation measures. "
        f"Publish {ANALYSIS_DONE} for {product.code} under {agreement.agreement_id}, or give comparative_analysis_ref "
        "on the product in the agreement.", ctx.event, discriminator=product.code)
