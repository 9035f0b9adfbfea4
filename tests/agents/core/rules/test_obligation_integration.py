"""The rules' obligation specs go through the obligation engine's opener registry."""
import pytest

from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.openers import default_openers
from agents.core.rules import ComplianceRules
from tests.agents.core.rules.support import A_CAP, A_INJ, B_INJ, T0, days, holder, make


@pytest.fixture
def engine_and_rules(agreements):
    rules = ComplianceRules(agreements, clock=lambda: T0)
    openers = default_openers()
    openers.register(rules.opener)
    return ObligationEngine(agreements, clock=lambda: T0, openers=openers), rules


def opened(changes, rule):
    return [c.obligation for c in changes if c.action == "opened" and c.obligation.rule == rule]


@pytest.mark.clause("Art. 8")
def test_coline_feedback_obligations_open_per_holder_and_close_on_each_holders_feedback(engine_and_rules):
    engine, rules = engine_and_rules
    notice = make("coline_change.notified", A_INJ, item_ref="COL-5", payload={"risk_assessment_conclusion": "ok"})
    # The compliance agent evaluates first (or not: the opener evaluates on demand, same outcome).
    rules.evaluate(notice)
    feedback = opened(engine.on_event(notice), "Art. 8")
    assert sorted((o.agreement_id, o.responsible_party_id) for o in feedback) == [
        ("QA-HOLDERA-CMOX-001", "HOLDER-A"), ("QA-HOLDERB-CMOX-001", "HOLDER-B")]
    # Holder B answers on its own copy (its agreement, the same item_ref).
    answer = make("coline_change.feedback_given", B_INJ, item_ref="COL-5", by=holder("HOLDER-B"), at=T0 + days(1),
                  payload={"holder_accepts": True})
    satisfied = [c for c in engine.on_event(answer) if c.action == "satisfied"]
    assert [c.obligation.agreement_id for c in satisfied] == ["QA-HOLDERB-CMOX-001"]
    assert [o.agreement_id for o in engine.open_obligations() if o.rule == "Art. 8"] == ["QA-HOLDERA-CMOX-001"]


@pytest.mark.clause("Art. 11")
def test_retention_obligations_close_per_party(engine_and_rules):
    engine, rules = engine_and_rules
    deviation = make("deviation.reported", A_CAP, item_ref="DEV-44", classification="MAJOR", batch_no="2611-07")
    assert len(opened(engine.on_event(deviation), "Art. 11")) == 4          # the engine asked the rules itself
    # The manufacturer retains its sample, quoting the item the obligation names.
    sample = make("retention_stability.sample_retained", A_CAP, item_ref="RS-2611-07", batch_no="2611-07",
                  at=T0 + days(2), payload={"party": "MANUFACTURER", "trigger": "MAJOR_DEVIATION", "trigger_ref": "DEV-44"})
    satisfied = [c.obligation for c in engine.on_event(sample) if c.action == "satisfied" and c.obligation.rule == "Art. 11"]
    assert [(o.responsible_party_role, o.satisfied_by) for o in satisfied] == [
        ("MANUFACTURER", ("retention_stability.sample_retained",))]
    still_open = sorted((o.responsible_party_role, o.satisfied_by[0]) for o in engine.open_obligations()
                        if o.rule == "Art. 11")
    assert still_open == [("HOLDER", "retention_stability.sample_retained"),
                          ("HOLDER", "retention_stability.study_started"),
                          ("MANUFACTURER", "retention_stability.study_started")]


def test_replaying_the_opening_event_opens_nothing_twice(engine_and_rules):
    engine, rules = engine_and_rules
    deviation = make("deviation.reported", A_CAP, classification="MAJOR", batch_no="2611-09")
    first = engine.on_event(deviation)
    assert opened(first, "Art. 11") and opened(engine.on_event(deviation), "Art. 11") == []
