"""Art. 9: change control. No change to an entrusted product is implemented without the holder's
approval; where the parties classify a change differently, the higher classification applies.

The state keeps, per change (agreement + item_ref): both parties' classifications, the regulatory
category (approval / filing / reporting) as last stated, the holder's decision and when the change
was implemented. Other rules read it (Art. 11: the first three batches after an approved and
implemented major change).
"""
from __future__ import annotations

from agents.core.rules.context import Context
from agents.core.rules.state import ChangeFacts

ARTICLE = "Art. 9"
CLASSIFICATION_RULE = "art9.change.higher_classification_applies"
NOT_BY_HOLDER_RULE = "art9.change.decision_not_by_holder"
BEFORE_APPROVAL_RULE = "art9.change.implemented_before_approval"
AFTER_REJECTION_RULE = "art9.change.implemented_after_rejection"


def _known(value) -> str | None:
    return None if value in (None, "", "UNKNOWN") else value


def describe(change: ChangeFacts) -> str:
    """E.g. 'CHG-2026-0015 (MAJOR: manufacturer MINOR, holder MAJOR; regulatory category FILING)'."""
    effective = change.effective_classification or "unclassified"
    parts = [f"manufacturer {change.manufacturer_classification or 'not classified'}",
             f"holder {change.holder_classification or 'not classified'}"]
    category = f"; regulatory category {change.regulatory_category}" if change.regulatory_category else ""
    return f"{change.item_ref} ({effective}: {', '.join(parts)}{category})"


def _record_classifications(ctx: Context, change: ChangeFacts) -> None:
    payload = ctx.payload
    manufacturer = _known(payload.get("manufacturer_classification"))
    holder = _known(payload.get("holder_classification"))
    # A party classifying in the envelope only ('change.classified' with classification MAJOR)
    # states its own classification.
    if ctx.action in ("proposed", "classified", "corrected") and ctx.classification:
        if ctx.role == "MANUFACTURER" and manufacturer is None:
            manufacturer = ctx.classification
        elif ctx.role == "HOLDER" and holder is None:
            holder = ctx.classification
    if manufacturer:
        change.manufacturer_classification = manufacturer
    if holder:
        change.holder_classification = holder
    # Art. 9: the approval/filing/reporting category travels with the change; the holder's
    # statement wins over the manufacturer's.
    category = _known(payload.get("regulatory_category"))
    if category and (ctx.role == "HOLDER" or change.regulatory_category is None):
        change.regulatory_category = category


def apply(ctx: Context) -> None:
    if ctx.category != "change" or ctx.action == "acknowledged":
        return
    change = ctx.state.change(ctx.agreement_id, ctx.item_ref)
    if ctx.product_code:
        change.product_codes.add(ctx.product_code)
    change.product_codes.update(p for p in ctx.payload.get("affected_products") or () if p)
    _record_classifications(ctx, change)

    pair = (change.manufacturer_classification, change.holder_classification)
    if all(pair) and pair[0] != pair[1] and change.disagreement_recorded != pair:
        # Art. 9: where the parties do not agree on the classification, the higher one applies.
        change.disagreement_recorded = pair
        ctx.outcome.warning(
            CLASSIFICATION_RULE, ARTICLE, "INFO",
            f"Change {describe(change)}: the parties classify it differently; it is managed as "
            f"{change.effective_classification}, the higher of the two (Art. 9). Both classifications "
            "are kept on record.", ctx.event, discriminator=f"{pair[0]}|{pair[1]}")

    if ctx.action in ("approved", "rejected"):
        if ctx.role != "HOLDER":
            # Art. 9: approval is the holder's; a decision published by anyone else does not count.
            ctx.outcome.warning(
                NOT_BY_HOLDER_RULE, ARTICLE, "MEDIUM",
                f"change.{ctx.action} for {change.item_ref} was published by "
                f"{(ctx.event.get('source') or {}).get('party_id')} ({ctx.role or 'unknown role'}), not by the "
                "holder. Only the holder's decision counts under Art. 9; the holder must publish it.",
                ctx.event)
        elif ctx.action == "approved":
            change.approved_by_event_id = ctx.event_id
            change.approved_at = ctx.occurred
            change.rejected_by_event_id = None
        else:
            change.rejected_by_event_id = ctx.event_id
            change.approved_by_event_id = None
            change.approved_at = None

    if ctx.action == "implemented":
        _implemented(ctx, change)


def _implemented(ctx: Context, change: ChangeFacts) -> None:
    when = ctx.occurred
    if change.implemented_at is None:
        change.implemented_at = when
        change.implemented_by_event_id = ctx.event_id
    if ctx.payload.get("first_batch_no") and change.first_batch_no is None:
        change.first_batch_no = ctx.payload["first_batch_no"]
    holder = ctx.event.get("holder_id")
    day = ctx.local(when).strftime("%Y-%m-%d %H:%M")
    if change.rejected_by_event_id is not None:
        # Art. 9: a change the holder rejected must not be implemented at all.
        ctx.outcome.violation(
            AFTER_REJECTION_RULE, ARTICLE, "CRITICAL",
            f"Change {describe(change)} was implemented on {day} although {holder} rejected it "
            f"(event {change.rejected_by_event_id}). Art. 9: no change may be implemented without the "
            "holder's approval. Stop using the change, assess the batches made under it with the holder "
            "and record a deviation.", ctx.event)
        ctx.outcome.page(AFTER_REJECTION_RULE, ARTICLE,
                         f"change {change.item_ref} implemented after {holder} rejected it")
    elif not change.approved or (change.approved_at is not None and when < change.approved_at):
        # Art. 9: no change involving an entrusted product is implemented before the holder approves.
        ctx.outcome.violation(
            BEFORE_APPROVAL_RULE, ARTICLE, "CRITICAL",
            f"Change {describe(change)} was implemented on {day} before {holder} approved it. Art. 9: no "
            "change may be implemented without the holder's approval. Assess the batches made under "
            "the change with the holder and record a deviation.", ctx.event)
        ctx.outcome.page(BEFORE_APPROVAL_RULE, ARTICLE,
                         f"change {change.item_ref} implemented before {holder} approved it")
