"""Arts. 19, 20, 25: the licence clocks.

* Art. 19: after the Opinion Letter on Entrusted Drug Manufacturing, the holder applies for the
  Category B licence within 12 months (satisfied by ``licence.category_b_applied``);
* Art. 19: after the Category B licence is granted, the manufacturer records the changes on its
  licence within 60 working days (``licence.change_recorded``);
* Art. 20: when entrusted manufacturing is terminated, both parties apply to cancel or reduce the
  entrusted scope within 6 months (``licence.cancellation_applied``, each party its own);
* Art. 25: rectification under the announcement is completed within one year of its issue
  (30 December 2025), i.e. by 30 December 2026, unless a longer, justified deadline was set
  (``licence.rectification_completed``).

The obligations are on the item of the event that starts the clock; the event that satisfies one
must carry the same item_ref (the descriptions say which).
"""
from __future__ import annotations

from datetime import date

from agents.core.agreements import Duration
from agents.core.obligations.model import Kind
from agents.core.rules.context import Context, add_months, as_date

ANNOUNCEMENT_ISSUED = date(2025, 12, 30)
RECTIFICATION_DEADLINE = date(2026, 12, 30)   # one year from the date of issue (Art. 25)
CATEGORY_B_MONTHS = 12
RECORD_CHANGES = Duration.parse("60wd")
CANCEL_MONTHS = 6
PARTIES = ("HOLDER", "MANUFACTURER")


def _start_day(ctx: Context, field: str) -> date:
    return as_date(ctx.payload.get(field)) or ctx.local(ctx.occurred).date()


def apply(ctx: Context) -> None:
    if ctx.agreement is None:
        return
    if ctx.category == "licence":
        if ctx.action == "opinion_letter_issued":
            _category_b(ctx)
        elif ctx.action == "category_b_granted":
            _record_changes(ctx)
        if ctx.payload.get("termination_date") and ctx.action not in ("cancellation_applied", "acknowledged"):
            _cancellation(ctx, as_date(ctx.payload["termination_date"]))
        if (ctx.payload.get("rectification_plan_ref") or ctx.payload.get("rectification_deadline")) \
                and ctx.action not in ("rectification_completed", "acknowledged"):
            _rectification(ctx)
    elif ctx.event_type == "agreement.terminated":
        _cancellation(ctx, as_date(ctx.payload.get("terminated_on")) or ctx.local(ctx.occurred).date())


def _category_b(ctx: Context) -> None:
    start = _start_day(ctx, "opinion_letter_date")
    due = add_months(start, CATEGORY_B_MONTHS)
    # Art. 19: after the opinion letter the holder applies for the Category B licence within 12 months.
    ctx.outcome.obligations.append(ctx.spec(
        Kind.SUBMIT, "licence", "HOLDER", ctx.end_of_day(due), deadline=f"{CATEGORY_B_MONTHS} months",
        starts_from="opinion_letter_date", start=ctx.start_of_day(start), rule="Art. 19",
        description=(f"{ctx.agreement.holder.id} must apply for the Category B licence by {due} (12 months after "
                     f"opinion letter {ctx.payload.get('opinion_letter_ref') or ctx.item_ref} of {start}); publish "
                     f"licence.category_b_applied with item_ref {ctx.item_ref}"),
        satisfied_by=("licence.category_b_applied",), discriminator="art19.category_b"))


def _record_changes(ctx: Context) -> None:
    start = ctx.start_of_day(_start_day(ctx, "category_b_granted_date"))
    # Art. 19: after the Category B licence the manufacturer records the changes within 60 working days.
    ctx.outcome.obligations.append(ctx.spec_after(
        RECORD_CHANGES, Kind.SUBMIT, "licence", "MANUFACTURER", starts_from="category_b_granted_date",
        start=start, rule="Art. 19",
        description=(f"{ctx.agreement.manufacturer.id} must apply to record the changes (parties, product, approval "
                     "number) on its Drug Manufacturing Licence within 60 working days of the Category B licence; "
                     f"publish licence.change_recorded with item_ref {ctx.item_ref}"),
        satisfied_by=("licence.change_recorded",), discriminator="art19.record_changes"))


def _cancellation(ctx: Context, terminated: date) -> None:
    due = add_months(terminated, CANCEL_MONTHS)
    for party in PARTIES:
        who = ctx.agreement.party_id(party)
        # Art. 20: within 6 months of termination both parties apply to cancel or reduce the scope.
        ctx.outcome.obligations.append(ctx.spec(
            Kind.SUBMIT, "licence", party, ctx.end_of_day(due), deadline=f"{CANCEL_MONTHS} months",
            starts_from="termination date", start=ctx.start_of_day(terminated), rule="Art. 20",
            description=(f"{who} must apply to cancel or reduce the entrusted manufacturing scope by {due} "
                         f"(6 months after termination on {terminated}); publish licence.cancellation_applied "
                         f"with item_ref {ctx.item_ref}"),
            satisfied_by=("licence.cancellation_applied",), satisfier_role=party,
            discriminator=f"art20.cancel|{party}"))


def _rectification(ctx: Context) -> None:
    stated = as_date(ctx.payload.get("rectification_deadline"))
    due = stated or RECTIFICATION_DEADLINE
    basis = "the deadline stated on the plan" if stated else "one year from the announcement's issue"
    for party in PARTIES:
        who = ctx.agreement.party_id(party)
        # Art. 25: rectification is completed within one year of the announcement (by 2026-12-30),
        # or by the later deadline set with reasons.
        ctx.outcome.obligations.append(ctx.spec(
            Kind.PERFORM, "licence", party, ctx.end_of_day(due), deadline=f"until {due}",
            starts_from="announcement issue" if not stated else "rectification plan",
            start=ctx.start_of_day(ANNOUNCEMENT_ISSUED), rule="Art. 25",
            description=(f"{who} must complete rectification plan {ctx.payload.get('rectification_plan_ref') or ''} "
                         f"by {due} ({basis}); publish licence.rectification_completed with item_ref "
                         f"{ctx.item_ref}").replace("  ", " "),
            satisfied_by=("licence.rectification_completed",), discriminator=f"art25.rectify|{party}"))
