"""Art. 12: batch release. Factory release needs the qualified person's sign-off and hands the batch
production, test and deviation records to the holder; the holder's marketing release is flagged
while deviations or OOS/OOT results on the batch are open or records are missing.

The bus warns, it does not block: the holder's QA gets a release-gate finding in its inbox and
decides. The state keeps, per item (deviation, OOS/OOT), the batches it concerns and whether it
is still open, and per batch what the factory release carried.
"""
from __future__ import annotations

from agents.core.rules.context import Context

ARTICLE = "Art. 12"
QP_RULE = "art12.release.factory_release_without_qp"
RECORDS_RULE = "art12.release.factory_release_records_missing"
GATE_RULE = "art12.release.market_release_gate"
NOT_BY_HOLDER_RULE = "art12.release.market_release_not_by_holder"
RECORDS = {
    "batch_record_ref": "batch production record",
    "test_record_ref": "batch test records",
    "deviation_record_ref": "deviation investigation records",
}
_DEVIATION_CLOSED = {"CLOSED", "CANCELLED"}


def _track_item(ctx: Context) -> None:
    """Deviations and OOS/OOT results: which batches they concern and whether they are open."""
    if ctx.action == "acknowledged":
        return
    item = ctx.state.item(ctx.agreement_id, ctx.item_ref, ctx.category)
    item.batches.update(b for b in [ctx.event.get("batch_no"), *(ctx.payload.get("affected_batches") or ())] if b)
    if ctx.classification:
        item.classification = ctx.classification
    if ctx.category == "deviation":
        status = ctx.payload.get("investigation_status")
        item.open = not (ctx.action == "closed" or status in _DEVIATION_CLOSED)
    else:
        item.open = ctx.action not in ("invalidated", "closed")


def _qp_problem(qp) -> str | None:
    if not qp:
        return "no qualified person's sign-off (payload.qp is empty)"
    missing = [name for name in ("name", "id", "signed_at") if not qp.get(name)]
    if missing:
        return f"the qualified person's sign-off lacks {', '.join(missing)}"
    return None


def _factory_released(ctx: Context) -> None:
    batch_no = ctx.event.get("batch_no") or "(no batch_no)"
    if ctx.payload.get("decision") in ("REJECTED", "ON_HOLD"):
        return
    batch = ctx.state.batch(ctx.agreement_id, batch_no)
    batch.product_code = batch.product_code or ctx.product_code
    batch.factory_released_by_event_id = ctx.event_id
    batch.records = {k: (ctx.payload.get(k) or None) for k in RECORDS}
    qp_problem = _qp_problem(ctx.payload.get("qp"))
    batch.qp_signed = qp_problem is None
    if qp_problem:
        # Art. 12: a batch leaves the factory only after the qualified person has signed it off.
        ctx.outcome.violation(
            QP_RULE, ARTICLE, "HIGH",
            f"Batch {batch_no} of {ctx.product_code} was factory-released with {qp_problem}. Art. 12: factory "
            "release requires the qualified person's sign-off. Publish a correction with the QP's name, id "
            "and signature time, or recall the release.", ctx.event)
    missing = [words for key, words in RECORDS.items() if not batch.records.get(key)]
    if missing:
        # Art. 12: at factory release the batch, test and deviation records go to the holder.
        ctx.outcome.violation(
            RECORDS_RULE, ARTICLE, "HIGH",
            f"Batch {batch_no} of {ctx.product_code} was factory-released without the {', '.join(missing)} "
            f"for {ctx.event.get('holder_id')}. Art. 12: these are handed to the holder at factory release; "
            "publish a correction with their references.", ctx.event)


def _market_released(ctx: Context) -> None:
    batch_no = ctx.event.get("batch_no")
    holder = ctx.event.get("holder_id")
    if ctx.role not in ("HOLDER", None):
        ctx.outcome.warning(
            NOT_BY_HOLDER_RULE, ARTICLE, "MEDIUM",
            f"batch_release.market_released for batch {batch_no} was published by the {ctx.role.lower()}; "
            f"marketing release is {holder}'s decision (Art. 12).", ctx.event)
    problems: list[str] = []
    open_items = {i.item_ref: i for i in ctx.state.open_items_on_batch(ctx.agreement_id, batch_no or "")}
    for ref in ctx.payload.get("related_item_refs") or ():
        item = ctx.state.items.get((ctx.agreement_id, ref))
        if item is not None and item.open:
            open_items[ref] = item
    if open_items:
        words = ", ".join(f"{'OOS/OOT' if i.category == 'oos_oot' else 'deviation'} {ref}"
                          + (f" ({i.classification})" if i.classification else "")
                          for ref, i in sorted(open_items.items()))
        problems.append(f"still open: {words}")
    batch = ctx.state.batches.get((ctx.agreement_id, batch_no or ""))
    if batch is None or batch.factory_released_by_event_id is None:
        problems.append("no factory release of the batch is on record (no QP sign-off or records received)")
    else:
        if not batch.qp_signed:
            problems.append("the factory release had no complete QP sign-off")
        missing = [words for key, words in RECORDS.items() if not batch.records.get(key)]
        if missing:
            problems.append(f"not received from the manufacturer: {', '.join(missing)}")
    if problems:
        # Art. 12: at marketing release the holder reviews results, records and deviation status;
        # the bus warns the holder's QA, it does not block.
        ctx.outcome.warning(
            GATE_RULE, ARTICLE, "HIGH",
            f"Release-gate breach: {holder} market-released batch {batch_no} of {ctx.product_code} while "
            f"{'; '.join(problems)}. For {holder}'s QA: review the batch records and the status of deviations "
            "and OOS/OOT results before the batch is distributed (Art. 12). The bus records this; it does "
            "not block the release.", ctx.event)


def apply(ctx: Context) -> None:
    if ctx.category in ("deviation", "oos_oot"):
        _track_item(ctx)
    elif ctx.category == "batch_release":
        if ctx.action == "factory_released":
            _factory_released(ctx)
        elif ctx.action == "market_released":
            _market_released(ctx)
