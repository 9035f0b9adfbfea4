"""Art. 5 periodic reviews and Art. 13 audit reports, as calendar obligations.

Per agreement and product, the first event of a period opens the period's obligations:

* the quarterly risk assessment (Art. 5), item ``PR-<year>-Q<n>-<product>``, due 30 days after
  the quarter ends, satisfied by ``periodic_review.risk_assessment_completed``;
* the annual product quality review (Art. 5), item ``PQR-<year>-<product>``, due 90 days after the
  year ends, satisfied by ``periodic_review.product_quality_review_completed``;
* for sterile products, the holder's on-site inspection at least once a year (Art. 5), item
  ``ONSITE-<year>-<product>``, due at the end of the year, satisfied by
  ``periodic_review.onsite_inspection_completed`` from the holder.

Periods are calendar quarters and years in the agreement's time zone. The grace periods (30 and 90
days) are typical agreement terms; the announcement sets none. ``holder_audit.performed`` opens the
holder's audit-report obligation (Art. 13: "promptly"; 30 days from the audit's last day, or the
agreement's ``holder_audit`` close deadline if it sets one).
"""
from __future__ import annotations

from datetime import date, timedelta

from agents.core.agreements import Duration
from agents.core.obligations.model import Kind
from agents.core.rules.context import Context, as_date

QUARTERLY_GRACE_DAYS = 30
ANNUAL_GRACE_DAYS = 90
AUDIT_REPORT = Duration.parse("30d")
ITEM_NAMING_RULE = "art5.periodic.review_item_ref"
_SKIP_CATEGORIES = {"agreement", "licence"}
_EXPECTED = {
    "risk_assessment_completed": "quarter",
    "product_quality_review_completed": "year",
    "onsite_inspection_completed": "onsite",
}


def quarter_ref(year: int, quarter: int, product_code: str) -> str:
    return f"PR-{year}-Q{quarter}-{product_code}"


def annual_ref(year: int, product_code: str) -> str:
    return f"PQR-{year}-{product_code}"


def onsite_ref(year: int, product_code: str) -> str:
    return f"ONSITE-{year}-{product_code}"


def _quarter_end(year: int, quarter: int) -> date:
    return (date(year + 1, 1, 1) if quarter == 4 else date(year, quarter * 3 + 1, 1)) - timedelta(days=1)


def apply(ctx: Context) -> None:
    if ctx.category == "holder_audit" and ctx.action == "performed":
        _audit_report(ctx)
    if ctx.category == "periodic_review" and ctx.action in _EXPECTED:
        _check_item_ref(ctx)
    if ctx.agreement is None or not ctx.product_code or ctx.category in _SKIP_CATEGORIES \
            or ctx.role not in ("HOLDER", "MANUFACTURER"):
        return
    local = ctx.local(ctx.occurred)
    year, quarter = local.year, (local.month - 1) // 3 + 1
    code = ctx.product_code
    opened = ctx.state.periods_opened

    key = (ctx.agreement_id, code, "quarterly", f"{year}Q{quarter}")
    if key not in opened:
        opened.add(key)
        due = _quarter_end(year, quarter) + timedelta(days=QUARTERLY_GRACE_DAYS)
        ref = quarter_ref(year, quarter, code)
        # Art. 5: a quarterly risk assessment per product, with the manufacturer's cooperation.
        ctx.outcome.obligations.append(ctx.spec(
            Kind.PERFORM, "periodic_review", "HOLDER", ctx.end_of_day(due), deadline=f"quarter end + {QUARTERLY_GRACE_DAYS}d",
            starts_from="end of quarter", start=ctx.end_of_day(_quarter_end(year, quarter)), rule="Art. 5",
            item_ref=ref, description=(f"Quarterly risk assessment of {code} for {year} Q{quarter} with the manufacturer; "
                                       f"publish periodic_review.risk_assessment_completed with item_ref {ref}. "
                                       f"Communication figures: qbus review --agreement {ctx.agreement_id} "
                                       f"--quarter {year}Q{quarter}"),
            satisfied_by=("periodic_review.risk_assessment_completed",), discriminator="art5.quarterly"))

    key = (ctx.agreement_id, code, "annual", str(year))
    if key not in opened:
        opened.add(key)
        ref = annual_ref(year, code)
        due = date(year, 12, 31) + timedelta(days=ANNUAL_GRACE_DAYS)
        # Art. 5: an annual product quality review per product.
        ctx.outcome.obligations.append(ctx.spec(
            Kind.PERFORM, "periodic_review", "HOLDER", ctx.end_of_day(due), deadline=f"year end + {ANNUAL_GRACE_DAYS}d",
            starts_from="end of year", start=ctx.end_of_day(date(year, 12, 31)), rule="Art. 5", item_ref=ref,
            description=(f"Annual product quality review of {code} for {year} with the manufacturer; publish "
                         f"periodic_review.product_quality_review_completed with item_ref {ref}. Its communication "
                         f"section: qbus review --agreement {ctx.agreement_id} --year {year}"),
            satisfied_by=("periodic_review.product_quality_review_completed",), discriminator="art5.annual"))

    key = (ctx.agreement_id, code, "onsite", str(year))
    if ctx.sterile and key not in opened:
        opened.add(key)
        ref = onsite_ref(year, code)
        # Art. 5: for sterile products the holder inspects on site at least once a year.
        ctx.outcome.obligations.append(ctx.spec(
            Kind.PERFORM, "periodic_review", "HOLDER", ctx.end_of_day(date(year, 12, 31)), deadline="calendar year",
            starts_from="start of year", start=ctx.start_of_day(date(year, 1, 1)), rule="Art. 5", item_ref=ref,
            description=(f"{ctx.agreement.holder.id} must inspect the manufacture of sterile {code} on site in {year} "
                         "(sterilisation validation, aseptic process simulation); publish "
                         f"periodic_review.onsite_inspection_completed with item_ref {ref}"),
            satisfied_by=("periodic_review.onsite_inspection_completed",), satisfier_role="HOLDER",
            discriminator="art5.onsite"))


def _audit_report(ctx: Context) -> None:
    if ctx.agreement is None:
        return
    end = as_date(ctx.payload.get("end_date"))
    start = ctx.end_of_day(end) if end else ctx.occurred
    duration = AUDIT_REPORT
    timelines = ctx.agreement.timelines("holder_audit")
    if timelines is not None and timelines.close is not None:
        duration = timelines.close
    kind = "on-site audit" if ctx.payload.get("audit_kind") != "REMOTE" else "audit"
    # Art. 13: after an on-site audit the holder promptly prepares the audit report.
    ctx.outcome.obligations.append(ctx.spec_after(
        duration, Kind.SUBMIT, "holder_audit", "HOLDER", starts_from="end_date" if end else "occurred_at",
        start=start, rule="Art. 13",
        description=(f"{ctx.agreement.holder.id} must issue the report of {kind} {ctx.item_ref}; publish "
                     f"holder_audit.report_issued with item_ref {ctx.item_ref}"),
        satisfied_by=("holder_audit.report_issued",), satisfier_role="HOLDER", discriminator="art13.report"))


def _check_item_ref(ctx: Context) -> None:
    code = ctx.product_code or ""
    period_end = as_date(ctx.payload.get("period_end")) or ctx.local(ctx.occurred).date()
    kind = _EXPECTED[ctx.action]
    if kind == "quarter":
        expected = quarter_ref(period_end.year, (period_end.month - 1) // 3 + 1, code)
    elif kind == "year":
        expected = annual_ref(period_end.year, code)
    else:
        expected = onsite_ref(ctx.local(ctx.occurred).year, code)
    if ctx.item_ref != expected:
        ctx.outcome.warning(
            ITEM_NAMING_RULE, "Art. 5", "LOW",
            f"{ctx.event_type} was published as {ctx.item_ref}; the bus tracks this review as {expected}, so the "
            f"open obligation for it stays open. Publish it (or a correction) with item_ref {expected}.",
            ctx.event)
