"""Art. 12: factory release needs the QP and the records; the holder's market release is flagged
while deviations or OOS results on the batch are open or records are missing (warn, never block)."""
import pytest

from tests.agents.core.rules.support import A_CAP, T0, days, holder, make, rule_ids, run

pytestmark = pytest.mark.clause("Art. 12")
QP = {"name": "Sun Hui", "id": "QP-CMOX-002", "signed_at": "2026-11-27T07:44:51Z", "signature_ref": "ESIG-1"}
RECORDS = {"batch_record_ref": "BPR-1", "test_record_ref": "COA-1", "deviation_record_ref": "none"}


def factory(batch_no="B-1", **payload):
    return make("batch_release.factory_released", A_CAP, batch_no=batch_no, item_ref=f"REL-{batch_no}",
                payload={"decision": "RELEASED", "qp": QP, **RECORDS, **payload})


def market(batch_no="B-1", **payload):
    return make("batch_release.market_released", A_CAP, batch_no=batch_no, item_ref=f"REL-{batch_no}",
                by=holder("HOLDER-A"), at=T0 + days(2), payload={"decision": "RELEASED", **payload})


def test_a_complete_factory_release_is_fine(state, agreements):
    [outcome] = run(state, agreements, factory())
    assert rule_ids(outcome) == []


@pytest.mark.parametrize("qp", [None, {**QP, "name": ""}, {**QP, "id": ""}])
def test_factory_release_without_the_qps_sign_off_is_a_violation(state, agreements, qp):
    [outcome] = run(state, agreements, factory(qp=qp))
    assert rule_ids(outcome) == ["art12.release.factory_release_without_qp"]
    assert outcome.findings[0].event_type == "finding.violation_recorded"


@pytest.mark.parametrize("missing, words", [
    ("batch_record_ref", "batch production record"), ("test_record_ref", "batch test records"),
    ("deviation_record_ref", "deviation investigation records")])
def test_factory_release_without_a_record_is_a_violation_naming_it(state, agreements, missing, words):
    [outcome] = run(state, agreements, factory(**{missing: None}))
    assert rule_ids(outcome) == ["art12.release.factory_release_records_missing"]
    assert words in outcome.findings[0].payload["message"]


def test_a_rejected_batch_needs_no_release_checks(state, agreements):
    [outcome] = run(state, agreements, factory(decision="REJECTED", qp=None, batch_record_ref=None))
    assert rule_ids(outcome) == []


def test_market_release_of_a_clean_batch_is_fine(state, agreements):
    *_, outcome = run(state, agreements, factory(), market())
    assert rule_ids(outcome) == []


def test_market_release_with_an_open_deviation_raises_a_release_gate_breach(state, agreements):
    deviation = make("deviation.reported", A_CAP, item_ref="DEV-9", classification="MINOR", batch_no="B-1")
    *_, outcome = run(state, agreements, deviation, factory(), market())
    assert rule_ids(outcome) == ["art12.release.market_release_gate"]
    finding = outcome.findings[0]
    assert finding.event_type == "finding.warning_raised" and finding.payload["severity"] == "HIGH"
    assert "deviation DEV-9 (MINOR)" in finding.payload["message"] and "does not block" in finding.payload["message"]
    assert outcome.refusal is None and outcome.directives == []          # the bus warns, it does not block
    assert [n.holder_id for n in outcome.notices] == ["HOLDER-A"]        # the holder's QA sees it


def test_a_closed_deviation_no_longer_holds_the_gate(state, agreements):
    deviation = make("deviation.reported", A_CAP, item_ref="DEV-9", batch_no="B-1")
    closed = make("deviation.closed", A_CAP, item_ref="DEV-9", batch_no="B-1",
                  payload={"investigation_status": "CLOSED", "closure_summary": "no impact"})
    *_, outcome = run(state, agreements, deviation, closed, factory(), market())
    assert rule_ids(outcome) == []


def test_an_open_oos_on_an_affected_batch_holds_the_gate(state, agreements):
    oos = make("oos_oot.reported", A_CAP, item_ref="OOS-1", batch_no="B-1")
    invalidated = make("oos_oot.invalidated", A_CAP, item_ref="OOS-1", batch_no="B-1")
    *_, flagged = run(state, agreements, oos, factory(), market())
    assert "OOS/OOT OOS-1" in flagged.findings[0].payload["message"]
    run(state, agreements, invalidated)
    [clean] = run(state, agreements, market() | {"event_id": "5f0c1a2e-0000-4000-8000-000000000001"})
    assert rule_ids(clean) == []


def test_a_deviation_listing_the_batch_among_affected_batches_counts(state, agreements):
    deviation = make("deviation.reported", A_CAP, item_ref="DEV-3", batch_no="B-0", payload={"affected_batches": ["B-1"]})
    *_, outcome = run(state, agreements, deviation, factory(), market())
    assert "DEV-3" in outcome.findings[0].payload["message"]


def test_market_release_without_a_factory_release_on_record_is_flagged(state, agreements):
    [outcome] = run(state, agreements, market())
    assert "no factory release" in outcome.findings[0].payload["message"]


def test_market_release_after_an_incomplete_factory_release_is_flagged(state, agreements):
    *_, outcome = run(state, agreements, factory(test_record_ref=None), market())
    assert rule_ids(outcome) == ["art12.release.market_release_gate"]
    assert "not received from the manufacturer: batch test records" in outcome.findings[0].payload["message"]
