"""Art. 9: no change implemented before the holder approves; the higher classification applies."""
import pytest

from tests.agents.core.rules.support import A_CAP, T0, days, holder, make, rule_ids, run

pytestmark = pytest.mark.clause("Art. 9")
CHG = "CHG-2026-0015"


def propose(**payload):
    # The envelope carries the manufacturer's own classification. (It must be set whenever the payload
    # names a classification: streams.validation cannot resolve qbus.Classification otherwise.)
    own = payload.get("manufacturer_classification") or "MINOR"
    return make("change.proposed", A_CAP, item_ref=CHG, classification=own,
                payload={"description": "second capsule supplier", **payload})


def approve(at=T0 + days(2), by=None):
    return make("change.approved", A_CAP, item_ref=CHG, at=at, by=by or holder("HOLDER-A"))


def implement(at=T0 + days(5), **payload):
    return make("change.implemented", A_CAP, item_ref=CHG, at=at, payload=payload)


def test_higher_classification_applies_and_both_are_kept(state, agreements):
    run(state, agreements, propose(manufacturer_classification="MINOR"))
    [outcome] = run(state, agreements, make("change.classified", A_CAP, item_ref=CHG, by=holder("HOLDER-A"),
                                            classification="MAJOR", at=T0 + days(1)))
    change = state.changes[("QA-HOLDERA-CMOX-001", CHG)]
    assert (change.manufacturer_classification, change.holder_classification) == ("MINOR", "MAJOR")
    assert change.effective_classification == "MAJOR"
    assert rule_ids(outcome) == ["art9.change.higher_classification_applies"]
    assert "managed as MAJOR" in outcome.findings[0].payload["message"]


def test_the_disagreement_is_recorded_once(state, agreements):
    outcomes = run(state, agreements, propose(manufacturer_classification="MINOR", holder_classification="MAJOR"),
                   approve())
    assert [rule_ids(o).count("art9.change.higher_classification_applies") for o in outcomes] == [1, 0]


def test_manufacturer_cannot_lower_a_holders_higher_classification(state, agreements):
    run(state, agreements, propose(manufacturer_classification="MAJOR"),
        make("change.classified", A_CAP, item_ref=CHG, by=holder("HOLDER-A"), classification="MINOR"))
    assert state.changes[("QA-HOLDERA-CMOX-001", CHG)].effective_classification == "MAJOR"


def test_regulatory_category_travels_with_the_change(state, agreements):
    run(state, agreements, propose(regulatory_category="FILING"), approve())
    [outcome] = run(state, agreements, implement(at=T0 + days(1)))   # implemented before the approval's time
    change = state.changes[("QA-HOLDERA-CMOX-001", CHG)]
    assert change.regulatory_category == "FILING"
    assert "regulatory category FILING" in outcome.findings[0].payload["message"]


def test_implemented_after_approval_is_fine(state, agreements):
    outcomes = run(state, agreements, propose(), approve(), implement())
    assert [rule_ids(o) for o in outcomes] == [[], [], []]
    assert not any(o.pages for o in outcomes)


def test_implemented_before_approval_is_a_violation_and_pages_at_once(state, agreements):
    [_, outcome] = run(state, agreements, propose(), implement())
    assert rule_ids(outcome) == ["art9.change.implemented_before_approval"]
    assert outcome.findings[0].event_type == "finding.violation_recorded"
    assert outcome.findings[0].payload["severity"] == "CRITICAL"
    assert [p.rule_id for p in outcome.pages] == ["art9.change.implemented_before_approval"]
    assert not outcome.pages[0].via_directive   # no directive carries this page; the agent raises it


def test_implemented_without_any_proposal_on_record_is_a_violation(state, agreements):
    [outcome] = run(state, agreements, implement())
    assert rule_ids(outcome) == ["art9.change.implemented_before_approval"]


def test_approval_dated_after_implementation_does_not_cover_it(state, agreements):
    # The approval arrives first on the bus but says it was given after the implementation.
    [*_, outcome] = run(state, agreements, propose(), approve(at=T0 + days(9)), implement(at=T0 + days(5)))
    assert rule_ids(outcome) == ["art9.change.implemented_before_approval"]


def test_rejected_change_implemented_anyway_is_a_violation_and_pages(state, agreements):
    rejected = make("change.rejected", A_CAP, item_ref=CHG, by=holder("HOLDER-A"), at=T0 + days(1),
                    payload={"decision_reason": "insufficient comparability data"})
    [*_, outcome] = run(state, agreements, propose(), rejected, implement())
    assert rule_ids(outcome) == ["art9.change.implemented_after_rejection"]
    assert outcome.pages and "rejected" in outcome.pages[0].reason


def test_approval_published_by_the_manufacturer_does_not_count(state, agreements):
    by_cmo = make("change.approved", A_CAP, item_ref=CHG, at=T0 + days(2))   # source: CMO-X
    outcomes = run(state, agreements, propose(), by_cmo, implement())
    assert rule_ids(outcomes[1]) == ["art9.change.decision_not_by_holder"]
    assert rule_ids(outcomes[2]) == ["art9.change.implemented_before_approval"]


def test_a_later_holder_approval_supersedes_a_rejection(state, agreements):
    rejected = make("change.rejected", A_CAP, item_ref=CHG, by=holder("HOLDER-A"), at=T0 + days(1))
    [*_, outcome] = run(state, agreements, propose(), rejected, approve(at=T0 + days(3)), implement())
    assert rule_ids(outcome) == []
