"""Art. 8: a co-line change needs a risk conclusion, reaches every holder on the line, and opens a
feedback obligation per holder."""
import pytest

from agents.core.obligations.model import Kind
from tests.agents.core.rules.support import A_INJ, B_INJ, T0, holder, make, rule_ids, run, specs

pytestmark = pytest.mark.clause("Art. 8")
CONCLUSION = "Acceptable with dedicated filling needles; RA-INJ2-2026-11"


def notice(**payload):
    return make("coline_change.notified", A_INJ, item_ref="COL-2026-0006",
                payload={"change_kind": "NEW_COMMERCIAL_PRODUCT", "risk_assessment_conclusion": CONCLUSION,
                         "risk_acceptable": True, "new_product_holder": "HOLDER-B", **payload})


@pytest.mark.parametrize("conclusion", [None, "", "   "])
def test_a_notice_without_a_risk_conclusion_is_refused(state, agreements, conclusion):
    [outcome] = run(state, agreements, notice(risk_assessment_conclusion=conclusion))
    assert outcome.refusal.reason_code == "RULE_REFUSED"
    assert outcome.refusal.rule_id == "art8.coline.risk_conclusion_required"
    assert "risk_assessment_conclusion" in outcome.refusal.reason and "Art. 8" in outcome.refusal.reason
    # Nothing else happens for a refused event: no copies, no obligations, no state.
    assert outcome.notices == [] and outcome.obligations == [] and state.seen == set()


def test_a_notice_without_a_line_is_refused(state, agreements):
    [outcome] = run(state, agreements, notice() | {"line_id": None})
    assert outcome.refusal.rule_id == "art8.coline.line_required"


def test_every_holder_on_the_line_gets_a_copy_and_a_feedback_obligation(state, agreements):
    [outcome] = run(state, agreements, notice())
    assert sorted((n.holder_id, n.agreement_id) for n in outcome.notices) == [
        ("HOLDER-A", "QA-HOLDERA-CMOX-001"), ("HOLDER-B", "QA-HOLDERB-CMOX-001")]
    feedback = sorted(specs(outcome, "Art. 8"), key=lambda s: s.agreement.agreement_id)
    assert [s.agreement.agreement_id for s in feedback] == ["QA-HOLDERA-CMOX-001", "QA-HOLDERB-CMOX-001"]
    for spec in feedback:
        assert (spec.kind, spec.responsible_party_role, spec.satisfier_role) == (Kind.ACKNOWLEDGE, "HOLDER", "HOLDER")
        assert spec.satisfied_by == ("coline_change.feedback_given", "coline_change.agreed")
        assert spec.rule == "Art. 8" and spec.deadline == "10wd" and spec.due_at > T0


def test_holders_elsewhere_get_nothing(state, agreements):
    [outcome] = run(state, agreements, notice())
    assert not {"HOLDER-C", "HOLDER-D"} & {n.holder_id for n in outcome.notices}


def test_a_conclusion_that_the_risk_is_not_acceptable_is_flagged(state, agreements):
    [outcome] = run(state, agreements, notice(risk_acceptable=False))
    [flag] = [f for f in outcome.findings if f.payload["rule_id"].startswith("art8.coline.")]   # capacity reports too
    assert flag.payload["rule_id"] == "art8.coline.risk_not_acceptable"
    assert flag.payload["severity"] == "HIGH"


def test_a_conclusion_without_a_verdict_is_noted(state, agreements):
    [outcome] = run(state, agreements, notice(risk_acceptable=None))
    assert [r for r in rule_ids(outcome) if r.startswith("art8.coline.")] == ["art8.coline.conclusion_not_definitive"]


def test_a_holder_that_does_not_accept_is_flagged_for_the_manufacturer(state, agreements):
    feedback = make("coline_change.feedback_given", B_INJ, item_ref="COL-2026-0006", by=holder("HOLDER-B"),
                    payload={"feedback": "cytotoxic product on our line is not acceptable", "holder_accepts": False})
    [outcome] = run(state, agreements, feedback)
    assert rule_ids(outcome) == ["art8.coline.holder_does_not_accept"]
    # Holder B's own feedback goes to holder B only.
    assert [n.holder_id for n in outcome.notices] == ["HOLDER-B"]


def test_a_correction_reaches_every_holder_again_without_new_obligations(state, agreements):
    original = notice()
    correction = notice(description="revised schedule") | {"event_type": "coline_change.corrected",
                                                            "corrects_event_id": original["event_id"]}
    _, corrected = run(state, agreements, original, correction)
    assert sorted(n.holder_id for n in corrected.notices) == ["HOLDER-A", "HOLDER-B"]
    assert specs(corrected, "Art. 8") == []
