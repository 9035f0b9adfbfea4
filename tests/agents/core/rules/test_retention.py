"""Art. 11: retention samples and ongoing stability, by both parties, for batches with a major
deviation and the first three batches after an approved major change."""
import pytest

from agents.core.obligations.model import Kind
from tests.agents.core.rules.support import A_CAP, T0, days, holder, make, run, specs

pytestmark = pytest.mark.clause("Art. 11")
CHG = "CHG-2026-0015"


def batches_of(outcome):
    return sorted({s.item_ref for s in specs(outcome, "Art. 11")})


def test_a_major_deviation_opens_four_obligations_per_batch(state, agreements):
    deviation = make("deviation.reported", A_CAP, classification="MAJOR", batch_no="2611-07",
                     payload={"affected_batches": ["2611-08"]})
    [outcome] = run(state, agreements, deviation)
    assert batches_of(outcome) == ["RS-2611-07", "RS-2611-08"]
    for_batch = [s for s in specs(outcome, "Art. 11") if s.item_ref == "RS-2611-07"]
    assert sorted((s.responsible_party_role, s.satisfied_by[0], s.satisfier_role) for s in for_batch) == [
        ("HOLDER", "retention_stability.sample_retained", "HOLDER"),
        ("HOLDER", "retention_stability.study_started", "HOLDER"),
        ("MANUFACTURER", "retention_stability.sample_retained", "MANUFACTURER"),
        ("MANUFACTURER", "retention_stability.study_started", "MANUFACTURER"),
    ]
    assert all(s.kind == Kind.PERFORM and s.category == "retention_stability" for s in for_batch)


def test_a_critical_deviation_counts_as_major_or_worse(state, agreements):
    [outcome] = run(state, agreements, make("deviation.reported", A_CAP, classification="CRITICAL", batch_no="B-9"))
    assert batches_of(outcome) == ["RS-B-9"]


def test_a_minor_deviation_opens_nothing_until_it_is_reclassified_major(state, agreements):
    reported = make("deviation.reported", A_CAP, item_ref="DEV-5", classification="MINOR", batch_no="B-1")
    reclassified = make("deviation.classified", A_CAP, item_ref="DEV-5", classification="MAJOR", batch_no="B-1")
    again = make("deviation.investigation_updated", A_CAP, item_ref="DEV-5", classification="MAJOR", batch_no="B-1")
    minor, major, update = run(state, agreements, reported, reclassified, again)
    assert batches_of(minor) == [] and batches_of(major) == ["RS-B-1"]
    assert batches_of(update) == []     # the same deviation does not open them twice


def approved_and_implemented(first_batch_no=None, classification="MAJOR"):
    return [
        make("change.proposed", A_CAP, item_ref=CHG, classification=classification,
             payload={"manufacturer_classification": classification}),
        make("change.approved", A_CAP, item_ref=CHG, by=holder("HOLDER-A"), at=T0 + days(1)),
        make("change.implemented", A_CAP, item_ref=CHG, at=T0 + days(2), payload={"first_batch_no": first_batch_no}),
    ]


def release(batch_no, at):
    return make("batch_release.factory_released", A_CAP, batch_no=batch_no, at=at, item_ref=f"REL-{batch_no}",
                payload={"decision": "RELEASED"})


def test_a_minor_change_opens_nothing(state, agreements):
    outcomes = run(state, agreements, *approved_and_implemented(classification="MINOR"), release("B-1", T0 + days(3)))
    assert all(batches_of(o) == [] for o in outcomes)


def test_releases_before_the_change_was_implemented_do_not_count(state, agreements):
    proposed, approved, implemented = approved_and_implemented()
    outcomes = run(state, agreements, proposed, approved, release("OLD-1", T0 + days(1)), implemented,
                   release("NEW-1", T0 + days(3)))
    assert [batches_of(o) for o in outcomes] == [[], [], [], [], ["RS-NEW-1"]]


def test_the_first_batch_named_on_implementation_is_batch_one(state, agreements):
    outcomes = run(state, agreements, *approved_and_implemented(first_batch_no="N-1"),
                   release("N-1", T0 + days(3)), release("N-2", T0 + days(4)), release("N-3", T0 + days(5)),
                   release("N-4", T0 + days(6)))
    assert [batches_of(o) for o in outcomes] == [[], [], ["RS-N-1"], [], ["RS-N-2"], ["RS-N-3"], []]


def test_implemented_before_approval_counts_from_the_approval(state, agreements):
    proposed, approved, implemented = approved_and_implemented()
    late_approval = approved | {"occurred_at": T0 + days(4)}
    outcomes = run(state, agreements, proposed, implemented, release("EARLY", T0 + days(3)), late_approval,
                   release("AFTER", T0 + days(5)))
    assert [batches_of(o) for o in outcomes] == [[], [], [], [], ["RS-AFTER"]]


def test_a_rejected_release_is_not_one_of_the_three(state, agreements):
    rejected = release("R-1", T0 + days(3)) | {"payload": {**release("R-1", T0).get("payload"), "decision": "REJECTED"}}
    outcomes = run(state, agreements, *approved_and_implemented(), rejected, release("R-2", T0 + days(4)))
    assert [batches_of(o) for o in outcomes[3:]] == [[], ["RS-R-2"]]
