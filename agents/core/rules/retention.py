"""Art. 11: retention samples and ongoing stability for batches with a major deviation and for the
first three batches after an approved major change, by both parties.

Each such batch opens four obligations: retention sample and ongoing stability study, for the
manufacturer and for the holder. They are satisfied by ``retention_stability.sample_retained`` and
``retention_stability.study_started`` published by that party with item_ref ``RS-<batch_no>``
(the obligation engine matches on agreement + item_ref).

A major change counts from the moment it is both approved by the holder and implemented; its
batches are the ``first_batch_no`` named on ``change.implemented`` and then the batches factory-
released after that moment, up to three in all, per product the change concerns.
"""
from __future__ import annotations

from agents.core.agreements import Duration
from agents.core.obligations.model import Kind
from agents.core.rules.context import Context
from agents.core.rules.state import ChangeWindow, at_least_major

ARTICLE = "Art. 11"
# Typical agreement terms: samples are drawn at release (10 working days), the ongoing stability
# study starts within 30 days.
RETENTION_DUE = Duration.parse("10wd")
STABILITY_DUE = Duration.parse("30d")
PARTIES = ("MANUFACTURER", "HOLDER")


def item_ref_for(batch_no: str) -> str:
    return f"RS-{batch_no}"


def _open_for_batch(ctx: Context, batch_no: str, trigger: str, why: str) -> None:
    batch = ctx.state.batch(ctx.agreement_id, batch_no)
    if trigger in batch.retention_triggers:
        return
    batch.retention_triggers.add(trigger)
    if batch.product_code is None:
        batch.product_code = ctx.product_code
    if ctx.agreement is None:
        return
    ref = item_ref_for(batch_no)
    for party in PARTIES:
        who = ctx.agreement.party_id(party)
        # Art. 11: both parties retain samples of the batch ...
        ctx.outcome.obligations.append(ctx.spec_after(
            RETENTION_DUE, Kind.PERFORM, "retention_stability", party, starts_from="occurred_at",
            start=ctx.occurred, rule=ARTICLE, item_ref=ref,
            description=(f"{who} must retain samples of batch {batch_no} ({why}); publish "
                         f"retention_stability.sample_retained with item_ref {ref}"),
            satisfied_by=("retention_stability.sample_retained",), satisfier_role=party,
            discriminator=f"{trigger}|retention|{party}"))
        # Art. 11: ... and put it on ongoing stability.
        ctx.outcome.obligations.append(ctx.spec_after(
            STABILITY_DUE, Kind.PERFORM, "retention_stability", party, starts_from="occurred_at",
            start=ctx.occurred, rule=ARTICLE, item_ref=ref,
            description=(f"{who} must start an ongoing stability study of batch {batch_no} ({why}); publish "
                         f"retention_stability.study_started with item_ref {ref}"),
            satisfied_by=("retention_stability.study_started",), satisfier_role=party,
            discriminator=f"{trigger}|stability|{party}"))


def apply(ctx: Context) -> None:
    if ctx.category == "deviation" and ctx.action not in ("acknowledged", "closed") \
            and at_least_major(ctx.classification):
        batches = {b for b in [ctx.event.get("batch_no"), *(ctx.payload.get("affected_batches") or ())] if b}
        for batch_no in sorted(batches):
            # Art. 11: a batch associated with a major deviation gets retention and stability.
            _open_for_batch(ctx, batch_no, f"deviation:{ctx.item_ref}",
                            f"{ctx.classification.lower()} deviation {ctx.item_ref}")
    elif ctx.category == "change":
        _change_window(ctx)
    elif ctx.category == "batch_release" and ctx.action == "factory_released":
        _count_release(ctx)


def _change_window(ctx: Context) -> None:
    change = ctx.state.changes.get((ctx.agreement_id, ctx.item_ref))
    if change is None or change.major_window_opened:
        return
    if not (change.approved and change.implemented_at and at_least_major(change.effective_classification)):
        return
    change.major_window_opened = True
    opened_at = max(change.implemented_at, change.approved_at or change.implemented_at)
    for code in sorted(change.product_codes or {ctx.product_code} - {None}):
        window = ChangeWindow(ctx.agreement_id, code, change.item_ref, opened_at)
        ctx.state.windows.setdefault((ctx.agreement_id, code), []).append(window)
        if change.first_batch_no:
            window.batches.append(change.first_batch_no)
            # Art. 11: the first batch under an approved major change.
            _open_for_batch(ctx, change.first_batch_no, f"change:{change.item_ref}",
                            f"batch 1 of 3 after major change {change.item_ref}")


def _count_release(ctx: Context) -> None:
    batch_no = ctx.event.get("batch_no")
    if not batch_no or ctx.payload.get("decision") == "REJECTED":
        return
    for window in ctx.state.windows.get((ctx.agreement_id, ctx.product_code), ()):
        if window.full or batch_no in window.batches or ctx.occurred < window.opened_at:
            continue
        window.batches.append(batch_no)
        # Art. 11: the first three batches after approval of a major change.
        _open_for_batch(ctx, batch_no, f"change:{window.change_item_ref}",
                        f"batch {len(window.batches)} of 3 after major change {window.change_item_ref}")
