"""Arts. 13 and 14 end to end, through the real broker and the session's worker.

Agreement QA-TEST-E2E (tests/fixtures/e2e_agreements/e2e.yaml): Holder A's sterile injection A-INJ-1
at CMO-X's SITE-1; the agreement does not declare the site as exchanging full-process data, and sets
no rectification deadlines (so the 30-day default applies).
"""
import uuid
from datetime import datetime, timezone

import pytest

from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow]
HOLDER = {"system": "QMS", "instance": "qms-holder-a", "party_id": "HOLDER-A", "party_role": "HOLDER", "user": None}
CMO = {"system": "QMS", "instance": "qms-cmo-x", "party_id": "CMO-X", "party_role": "MANUFACTURER", "user": None}
PRODUCT = {"code": "A-INJ-1", "generic_name": "Examplamide Injection", "dosage_form": "injection", "sterile": True}


def event(event_type: str, by: dict, item_ref: str, classification=None, **payload) -> dict:
    """An event under QA-TEST-E2E, stamped now, with the payload fields given (the others empty)."""
    category = event_type.split(".", 1)[0]
    now = datetime.now(timezone.utc).isoformat()
    out = example(category, event_type=event_type, agreement_id="QA-TEST-E2E", source=dict(by), site_id="SITE-1",
                  line_id="LINE-1", item_ref=item_ref, classification=classification, batch_no=None,
                  occurred_at=now, published_at=now, product=dict(PRODUCT))
    empty = {k: ([] if isinstance(v, list) else None) for k, v in out["payload"].items()}
    kinds = {k: "UNKNOWN" for k in ("audit_kind", "review_kind", "attendance") if k in empty}
    out["payload"] = {**empty, **kinds, **payload}
    return out


def unique(records) -> list[dict]:
    """One value per event id: sends after a commit are at least once, so readers dedupe."""
    seen: dict[str, dict] = {}
    for record in records:
        seen.setdefault(record.value["event_id"], record.value)
    return list(seen.values())


def obligation_records(reader, item_ref: str, want: int, timeout: float = 60) -> list[dict]:
    return unique(reader.collect(lambda got: len(unique(got)) >= want, timeout=timeout,
                                 where=lambda r: r.value is not None and r.value["item_ref"] == item_ref))


def dead_letter_of(read_topic, topics, event_id: str) -> dict:
    [letter] = read_topic(topics.dead_letters).collect(
        lambda got: len(got) >= 1, timeout=60, where=lambda r: r.value is not None and r.value["event_id"] == event_id)
    return letter.value


@pytest.mark.clause("Art. 13")
def test_an_audit_finding_is_rectified_with_evidence_and_closed_by_the_holders_acceptance(
        worker, publisher, read_topic, topics):
    audit = f"AUD-{uuid.uuid4().hex[:8]}"
    ref = f"RECT-{audit}-F-1"
    obligations = read_topic(topics.bus("obligation"))
    # Holder A's auditors report a major finding of their audit of CMO-X.
    publisher.publish(event("holder_audit.finding_reported", HOLDER, audit, "MAJOR", finding_ref="F-1",
                            finding_text="Media fill interventions not all simulated"))
    # CMO-X now owes the rectification of that finding, under an item of its own.
    [opened] = obligation_records(obligations, ref, 1)
    assert opened["event_type"] == "obligation.opened"
    assert (opened["payload"]["rule"], opened["payload"]["kind"], opened["payload"]["responsible_role"]) == (
        "Art. 13", "PERFORM", "MANUFACTURER")
    assert opened["payload"]["deadline"] == "30d"
    # CMO-X answers without evidence: the bus refuses it and says why.
    bare = event("holder_audit.rectification_submitted", CMO, ref)
    publisher.publish(bare)
    letter = dead_letter_of(read_topic, topics, bare["event_id"])
    assert letter["reason_code"] == "RULE_REFUSED" and "evidence_refs" in letter["reason"]
    # With its evidence the rectification is done and Holder A's review opens.
    publisher.publish(event("holder_audit.rectification_submitted", CMO, ref, evidence_refs=["CAPA-2026-201"]))
    # (the obligation topic is keyed by obligation, so the two may arrive in either order)
    both = {r["event_type"]: r for r in obligation_records(obligations, ref, 2)}
    done, review = both["obligation.satisfied"], both["obligation.opened"]
    assert done["payload"]["kind"] == "PERFORM" and done["payload"]["obligation_id"] == opened["payload"]["obligation_id"]
    assert (review["payload"]["kind"], review["payload"]["responsible_role"]) == ("APPROVE", "HOLDER")
    # Holder A accepts: its review is done, and nothing about the finding is left open.
    publisher.publish(event("holder_audit.rectification_accepted", HOLDER, ref))
    [accepted] = obligation_records(obligations, ref, 1)
    assert (accepted["event_type"], accepted["payload"]["kind"]) == ("obligation.satisfied", "APPROVE")
    assert accepted["payload"]["obligation_id"] == review["payload"]["obligation_id"]


@pytest.mark.clause("Art. 14")
def test_a_remote_audit_is_flagged_and_never_counts_as_the_sterile_onsite_inspection(
        worker, publisher, read_topic, topics):
    # Holder A audits CMO-X's SITE-1 remotely; the agreement does not declare the site as
    # exchanging full-process data electronically, and the product is sterile.
    audit = event("holder_audit.performed", HOLDER, f"AUD-R-{uuid.uuid4().hex[:8]}", audit_kind="REMOTE",
                  scope="batch records and audit trails by video")
    publisher.publish(audit)
    # Both findings reach Holder A's inbox.
    found = unique(read_topic(topics.inbox("HOLDER-A")).collect(
        lambda got: len(unique(got)) >= 2, timeout=60,
        where=lambda r: r.value is not None and r.value["event_type"] == "finding.warning_raised"
        and r.value["payload"]["triggered_by_event_id"] == audit["event_id"]))
    assert sorted(f["payload"]["rule_id"] for f in found) == [
        "art14.remote_audit.not_the_sterile_onsite_inspection",
        "art14.remote_audit.site_without_electronic_data_exchange"]
    # Reporting the remote audit as the year's on-site inspection is refused.
    inspection = event("periodic_review.onsite_inspection_completed", HOLDER,
                       f"ONSITE-{datetime.now(timezone.utc).year}-A-INJ-1", review_kind="STERILE_ONSITE_INSPECTION",
                       attendance="REMOTE")
    publisher.publish(inspection)
    letter = dead_letter_of(read_topic, topics, inspection["event_id"])
    assert letter["reason_code"] == "RULE_REFUSED"
    assert "art14.remote_audit.onsite_inspection_cannot_be_remote" in letter["reason"]
