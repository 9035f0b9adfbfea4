"""Art. 3: the manufacturer's evaluation of the holder and the product, satisfactory and before signing."""
from datetime import date

import pytest

from agents.core.agreements.provisions import required_aspects
from agents.core.rules.evaluation import Record, gaps
from tests.agents.core.rules.support import A_CAP, T0, days, edited_agreements, findings_of, holder, make, run

pytestmark = pytest.mark.clause("Art. 3")
A = "QA-HOLDERA-CMOX-001"
EVERYTHING = ["HOLDER_QUALIFICATION", "QUALITY_MANAGEMENT", "PRODUCT_RISK", "TECHNICAL_TRANSFER", "SHARED_LINE"]


def without_evaluation(data):
    data.pop("evaluation")


def signed(at=T0):
    return make("agreement.signed", A_CAP, item_ref=A, by=holder(), at=at)


def evaluated(at, satisfactory=True, scope=EVERYTHING):
    return make("agreement.evaluation_completed", A_CAP, item_ref=A, at=at,
                payload={"evaluation_ref": "EVAL-2026-07", "evaluation_satisfactory": satisfactory,
                         "evaluation_scope": scope})


def rules_of(outcome):
    return [f["rule_id"] for f in findings_of(outcome, "Art. 3")]


def test_the_evaluation_must_cover_everything_unless_within_one_group():
    assert required_aspects(False) == ("holder_qualification", "quality_management", "product_risk",
                                       "technical_transfer", "shared_line")
    assert required_aspects(True) == ("product_risk", "technical_transfer", "shared_line")
    partial = Record("E-1", True, date(2026, 1, 1), frozenset({"product_risk", "technical_transfer", "shared_line"}), "x")
    assert gaps(partial, date(2026, 2, 1), same_group=False) == (False, False, ["holder_qualification", "quality_management"])
    assert gaps(partial, date(2026, 2, 1), same_group=True) == (False, False, [])
    assert gaps(partial, date(2025, 12, 31), same_group=True) == (False, True, [])


def test_an_agreement_with_its_evaluation_in_the_file_is_signed_without_a_flag(state, agreements):
    [outcome] = run(state, agreements, signed())
    assert rules_of(outcome) == []


def test_an_agreement_signed_with_no_evaluation_on_record_is_flagged(state):
    [outcome] = run(state, edited_agreements(A, without_evaluation), signed())
    [flag] = findings_of(outcome, "Art. 3")
    assert (flag["rule_id"], flag["severity"]) == ("art3.evaluation.missing", "HIGH")
    assert "signed on 2026-11-02" in flag["message"] and "agreement.evaluation_completed" in flag["message"]


def test_an_evaluation_event_before_signing_is_on_record(state):
    _, outcome = run(state, edited_agreements(A, without_evaluation), evaluated(T0 - days(20)), signed())
    assert rules_of(outcome) == []


def test_an_unsatisfactory_evaluation_is_a_violation(state):
    _, outcome = run(state, edited_agreements(A, without_evaluation), evaluated(T0 - days(20), satisfactory=False),
                     signed())
    [flag] = findings_of(outcome, "Art. 3")
    assert flag["rule_id"] == "art3.evaluation.not_satisfactory"
    assert "EVAL-2026-07" in flag["message"]


def test_an_evaluation_concluded_after_signing_is_a_violation(state):
    def evaluated_late(data):
        data["evaluation"]["completed_on"] = "2026-11-20"

    [outcome] = run(state, edited_agreements(A, evaluated_late), signed())
    [flag] = findings_of(outcome, "Art. 3")
    assert flag["rule_id"] == "art3.evaluation.after_signing"
    assert "2026-11-20" in flag["message"]


@pytest.mark.parametrize("same_group, flagged", [(False, True), (True, False)])
def test_within_one_group_the_holders_qualification_and_qms_may_be_left_out(state, same_group, flagged):
    def partial(data):
        data["evaluation"]["covers"] = ["product_risk", "technical_transfer", "shared_line"]
        data["same_group_unified_qms"] = same_group

    [outcome] = run(state, edited_agreements(A, partial), signed())
    assert rules_of(outcome) == (["art3.evaluation.scope_incomplete"] if flagged else [])
    if flagged:
        assert "the holder's qualification" in findings_of(outcome, "Art. 3")[0]["message"]


def test_the_best_record_counts(state):
    # The file's evaluation leaves out shared-line feasibility; an event later records a full one.
    def partial(data):
        data["evaluation"]["covers"] = ["holder_qualification", "quality_management", "product_risk",
                                        "technical_transfer"]

    _, outcome = run(state, edited_agreements(A, partial), evaluated(T0 - days(3)), signed())
    assert rules_of(outcome) == []


def test_an_incomplete_evaluation_names_what_it_leaves_out(state):
    _, outcome = run(state, edited_agreements(A, without_evaluation),
                     evaluated(T0 - days(3), scope=["HOLDER_QUALIFICATION", "PRODUCT_RISK"]), signed())
    [flag] = findings_of(outcome, "Art. 3")
    assert flag["message"].startswith("Evaluation EVAL-2026-07 (event ")
    assert "does not cover the holder's quality management capability, the feasibility of technical transfer, the " \
           "feasibility of shared-line production." in flag["message"]


def test_without_a_signing_on_the_bus_the_first_production_checks_once(state):
    agreements = edited_agreements(A, without_evaluation)
    start = make("production.started", A_CAP, item_ref="PROD-1")
    first, second = run(state, agreements, start, make("production.started", A_CAP, item_ref="PROD-2", at=T0 + days(1)))
    [flag] = findings_of(first, "Art. 3")
    assert "took effect on 2026-01-01" in flag["message"]
    assert rules_of(second) == []


def test_an_agreement_checked_at_signing_is_not_checked_again_at_production(state):
    agreements = edited_agreements(A, without_evaluation)
    _, production = run(state, agreements, signed(), make("production.started", A_CAP, item_ref="PROD-3"))
    assert rules_of(production) == []
