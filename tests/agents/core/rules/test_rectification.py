"""Art. 13: each finding of a holder audit or a regulatory inspection opens a rectification for the
manufacturer, with the agreement's deadline; the evidence goes to the holder, who accepts or rejects."""
import pytest

from agents.core.obligations.model import Kind
from agents.core.rules import refusal_of
from agents.core.rules.rectification import rectification_ref
from tests.agents.core.rules.support import (A_CAP, T0, days, edited_agreements, findings_of, holder, make, receipt,
                                              run, specs)

pytestmark = pytest.mark.clause("Art. 13")
A = "QA-HOLDERA-CMOX-001"


def audit_finding(**payload):
    return make("holder_audit.finding_reported", A_CAP, item_ref="AUD-14", by=holder(), classification="MAJOR",
                payload={"finding_ref": "F-03", "finding_text": "OOS phase 2 skipped", **payload})


def inspection_finding(**payload):
    return make("regulatory_inspection.finding_reported", A_CAP, item_ref="INSP-7", classification="MAJOR",
                payload={"finding_ref": "3", "finding_severity": "MINOR", "finding_text": "hold times not validated",
                         **payload})


def submitted(category="holder_audit", ref="RECT-AUD-14-F-03", evidence=("CAPA-2026-118",), at=T0 + days(10)):
    return make(f"{category}.rectification_submitted", A_CAP, item_ref=ref, at=at,
                payload={"evidence_refs": list(evidence)})


def decided(action, ref="RECT-AUD-14-F-03", at=T0 + days(12), by=None):
    return make(f"holder_audit.rectification_{action}", A_CAP, item_ref=ref, at=at, by=by or holder())


def test_each_finding_has_its_own_item():
    assert rectification_ref("AUD-14", "F-03") == "RECT-AUD-14-F-03"
    assert rectification_ref("AUD-14", None) == "RECT-AUD-14"


def test_a_holders_audit_finding_opens_the_manufacturers_rectification_from_receipt(state, agreements):
    received = T0 + days(1)
    [outcome] = run(state, agreements, audit_finding() | {"receipt": receipt(received)})
    [rectify] = specs(outcome, "Art. 13")
    assert (rectify.kind, rectify.responsible_party_role, rectify.satisfier_role) == (Kind.PERFORM, "MANUFACTURER",
                                                                                     "MANUFACTURER")
    assert rectify.item_ref == "RECT-AUD-14-F-03"
    assert rectify.satisfied_by == ("holder_audit.rectification_submitted",)
    assert (rectify.deadline, rectify.starts_from, rectify.start_at) == ("30d", "received_at", received)
    assert "major finding F-03 of the holder's audit AUD-14" in rectify.description


def test_the_agreement_sets_the_deadline_by_severity(state):
    def terms(data):
        data["rectification"] = {"critical": "10wd", "major": "20d", "default": "45d"}

    agreements = edited_agreements(A, terms)
    major, unclassified = run(state, agreements, audit_finding(),
                              audit_finding(finding_ref="F-04") | {"classification": None})
    assert specs(major, "Art. 13")[0].deadline == "20d"
    assert specs(unclassified, "Art. 13")[0].deadline == "45d"


def test_an_earlier_date_set_by_the_auditor_wins(state, agreements):
    [outcome] = run(state, agreements, audit_finding(rectification_due_date="2026-11-20"))
    [rectify] = specs(outcome, "Art. 13")
    assert rectify.deadline == "until 2026-11-20"
    assert rectify.due_at.isoformat() == "2026-11-20T15:59:59+00:00"


def test_an_inspection_finding_runs_from_the_finding_with_the_authoritys_severity(state, agreements):
    [outcome] = run(state, agreements, inspection_finding())
    [rectify] = specs(outcome, "Art. 13")
    assert rectify.item_ref == "RECT-INSP-7-3" and rectify.starts_from == "occurred_at"
    assert rectify.satisfied_by == ("regulatory_inspection.rectification_submitted",)
    assert "minor finding 3 of the regulatory inspection INSP-7" in rectify.description


def test_a_rectification_without_evidence_is_refused_at_intake(state, agreements):
    event = submitted(evidence=())
    refusal = refusal_of(event, agreements, T0)
    assert refusal.rule_id == "art13.rectification.evidence_required" and "evidence_refs" in refusal.reason
    [outcome] = run(state, agreements, event)
    assert outcome.refusal == refusal


def test_the_evidence_opens_the_holders_review(state, agreements):
    [outcome] = run(state, agreements, submitted())
    [review] = specs(outcome, "Art. 13")
    assert (review.kind, review.responsible_party_role, review.satisfier_role) == (Kind.APPROVE, "HOLDER", "HOLDER")
    assert review.satisfied_by == ("holder_audit.rectification_accepted", "holder_audit.rectification_rejected")
    assert (review.item_ref, review.deadline) == (None, "10wd")   # the rectification's own item
    assert "CAPA-2026-118" in review.description


def test_a_rejection_opens_a_new_round_with_the_findings_deadline(state):
    def terms(data):
        data["rectification"] = {"major": "20d"}

    _, rejected = run(state, edited_agreements(A, terms), audit_finding(), decided("rejected"))
    [again] = specs(rejected, "Art. 13")
    assert (again.responsible_party_role, again.item_ref, again.deadline) == ("MANUFACTURER", "RECT-AUD-14-F-03", "20d")
    assert "did not accept" in again.description


def test_an_acceptance_closes_without_a_new_obligation(state, agreements):
    _, accepted = run(state, agreements, audit_finding(), decided("accepted"))
    assert specs(accepted, "Art. 13") == [] and findings_of(accepted, "Art. 13") == []


def test_only_the_holder_accepts(state, agreements):
    [outcome] = run(state, agreements, decided("accepted", by={"system": "QMS", "instance": "qms-cmox-01",
                                                               "party_id": "CMO-X", "party_role": "MANUFACTURER"}))
    assert [f["rule_id"] for f in findings_of(outcome, "Art. 13")] == ["art13.rectification.decision_not_by_holder"]
