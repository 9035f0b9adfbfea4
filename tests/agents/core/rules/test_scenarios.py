"""Narrated scenarios: one behaviour each, a comment per step."""
import copy

import pytest

from agents.core.rules import ComplianceRules, RuleState, evaluate
from schemas import default_schemas
from streams.validation import validate_event
from tests.agents.core.rules.support import A_CAP, A_INJ, B_INJ, T0, days, holder, make, run, specs


@pytest.mark.clause("Art. 8", "Art. 10")
def test_two_holders_on_one_coline_change_each_get_a_redacted_copy(state, agreements):
    # CMO-X adds Holder B's new product to LINE-INJ-2, where Holder A's ondansetron injection is
    # made; it publishes the notice under Holder A's agreement with the details of B's product.
    notice = make("coline_change.notified", A_INJ, item_ref="COL-2026-0006", confidential_fields=["payload.effective_from"],
                  payload={"change_kind": "NEW_COMMERCIAL_PRODUCT", "description": "a further injection in campaigns",
                           "effective_from": "2027-02-01", "new_product_hazard": "HIGH_POTENCY",
                           "risk_assessment_conclusion": "acceptable with dedicated needles (RA-INJ2-2026-11)",
                           "risk_acceptable": True,
                           "control_measures": ["dedicated needles", "never directly before HA-ONS-2ML"],
                           "new_product_holder": "HOLDER-B", "new_product_name": "Example injection 1 mL",
                           "commercial_volume": "30 batches/year", "formulation_details": "citrate pH 4.0"})
    [outcome] = run(state, agreements, notice)
    copies = {n.holder_id: n.event for n in outcome.notices}
    # Both holders with a product on the line get one copy each, and nobody else.
    assert sorted(copies) == ["HOLDER-A", "HOLDER-B"]
    a, b = copies["HOLDER-A"], copies["HOLDER-B"]
    # Each copy is addressed as the receiver's own: its holder, its agreement, its product.
    assert (a["holder_id"], a["agreement_id"], a["product"]["code"]) == ("HOLDER-A", "QA-HOLDERA-CMOX-001", "HA-ONS-2ML")
    assert (b["holder_id"], b["agreement_id"], b["product"]["code"]) == ("HOLDER-B", "QA-HOLDERB-CMOX-001", "HB-ONS-2ML")
    # The fields the schema marks confidential are gone from both copies ...
    for field in ("new_product_holder", "new_product_name", "commercial_volume", "formulation_details"):
        assert a["payload"][field] is None and b["payload"][field] is None, field
    # ... and so is the field the publisher marked confidential on this event.
    assert a["payload"]["effective_from"] is None and b["payload"]["effective_from"] is None
    # What every holder on the line must know stays, field by field.
    for field in ("change_kind", "description", "new_product_hazard", "risk_assessment_conclusion", "risk_acceptable"):
        assert a["payload"][field] == b["payload"][field] == notice["payload"][field], field
    # A control measure naming Holder A's product is A's to read, not B's.
    assert a["payload"]["control_measures"] == ["dedicated needles", "never directly before HA-ONS-2ML"]
    assert b["payload"]["control_measures"] == ["dedicated needles"]
    # No trace of the other holder anywhere in either copy.
    assert "HOLDER-B" not in str(a) and "HB-ONS-2ML" not in str(a)
    assert "HOLDER-A" not in str(b) and "HA-ONS-2ML" not in str(b) and "QA-HOLDERA" not in str(b)
    # Both copies still fit the schema, so they encode for the inbox topics.
    for c in (a, b):
        validate_event(c, default_schemas())
    # Each holder owes feedback under its own agreement.
    assert sorted(s.agreement.agreement_id for s in specs(outcome, "Art. 8")) == [
        "QA-HOLDERA-CMOX-001", "QA-HOLDERB-CMOX-001"]


@pytest.mark.clause("Art. 9")
def test_change_implemented_before_approval(state, agreements):
    # CMO-X proposes a second capsule-shell supplier for Holder A's amoxicillin.
    proposed = make("change.proposed", A_CAP, item_ref="CHG-7", classification="MINOR",
                    payload={"manufacturer_classification": "MINOR", "regulatory_category": "FILING"})
    # Holder A classifies it MAJOR.
    classified = make("change.classified", A_CAP, item_ref="CHG-7", classification="MAJOR", by=holder(),
                      at=T0 + days(1))
    # CMO-X implements it before Holder A has decided.
    implemented = make("change.implemented", A_CAP, item_ref="CHG-7", at=T0 + days(3),
                       payload={"first_batch_no": "2612-01"})
    _, _, outcome = run(state, agreements, proposed, classified, implemented)
    # The bus records a critical violation naming both classifications and the category ...
    [violation] = outcome.findings
    assert violation.event_type == "finding.violation_recorded"
    assert violation.payload["rule_id"] == "art9.change.implemented_before_approval"
    assert "MAJOR: manufacturer MINOR, holder MAJOR; regulatory category FILING" in violation.payload["message"]
    # ... and pages on-call at once.
    assert [p.rule_id for p in outcome.pages] == ["art9.change.implemented_before_approval"]


@pytest.mark.clause("Art. 11")
def test_major_change_then_four_batch_releases(state, agreements):
    # Holder A approves a major change and CMO-X implements it.
    run(state, agreements,
        make("change.proposed", A_CAP, item_ref="CHG-8", classification="MAJOR",
             payload={"manufacturer_classification": "MAJOR"}),
        make("change.approved", A_CAP, item_ref="CHG-8", by=holder(), at=T0 + days(1)),
        make("change.implemented", A_CAP, item_ref="CHG-8", at=T0 + days(2)))
    # Four batches of the product are factory-released afterwards.
    releases = [make("batch_release.factory_released", A_CAP, batch_no=f"2612-0{i}", item_ref=f"REL-2612-0{i}",
                     at=T0 + days(3 + i), payload={"decision": "RELEASED"}) for i in range(1, 5)]
    outcomes = run(state, agreements, *releases)
    # The first three each open retention and stability obligations for both parties; the fourth none.
    assert [len(specs(o, "Art. 11")) for o in outcomes] == [4, 4, 4, 0]
    assert [sorted({s.item_ref for s in specs(o, "Art. 11")}) for o in outcomes[:3]] == [
        ["RS-2612-01"], ["RS-2612-02"], ["RS-2612-03"]]


@pytest.mark.clause("Art. 5")
def test_significant_risk_deviation_suspends_production(state, agreements):
    # CMO-X reports a critical deviation with product impact on Holder A's sterile injection.
    deviation = make("deviation.reported", A_INJ, item_ref="DEV-2026-0099", classification="CRITICAL",
                     batch_no="2611-03", payload={"description": "broken vials after sterilisation", "product_impact": True})
    [outcome] = run(state, agreements, deviation)
    # The bus directs production of that product on that line to stop, at once ...
    [directive] = outcome.directives
    assert directive.payload["directive"] == "SUSPEND_PRODUCTION"
    assert (directive.payload["line_id"], directive.payload["product_code"]) == ("LINE-INJ-2", "HA-ONS-2ML")
    # ... and on-call QA is paged (the directive carries the page).
    assert outcome.pages[0].via_directive
    # Holder B, whose product shares the line, is not told about Holder A's deviation.
    assert [n.holder_id for n in outcome.notices] == ["HOLDER-A"]


@pytest.mark.clause("Art. 5", "Art. 8", "Art. 9", "Art. 11", "Art. 12")
def test_replaying_the_accepted_events_rebuilds_the_same_state(agreements):
    # A day on the bus: a change, a deviation, a co-line notice, releases, a suspension.
    events = [
        make("change.proposed", A_CAP, item_ref="CHG-9", classification="MAJOR", payload={"manufacturer_classification": "MAJOR"}),
        make("change.approved", A_CAP, item_ref="CHG-9", by=holder(), at=T0 + days(1)),
        make("change.implemented", A_CAP, item_ref="CHG-9", at=T0 + days(2), payload={"first_batch_no": "N-1"}),
        make("deviation.reported", A_CAP, item_ref="DEV-1", classification="MAJOR", batch_no="N-2"),
        make("batch_release.factory_released", A_CAP, batch_no="N-2", at=T0 + days(3), payload={"decision": "RELEASED"}),
        make("coline_change.notified", B_INJ, item_ref="COL-1", payload={"risk_assessment_conclusion": "ok"}),
        make("deviation.reported", A_INJ, item_ref="DEV-2", classification="CRITICAL", payload={"product_impact": True}),
    ]
    live = ComplianceRules(agreements, clock=lambda: T0)
    first_outcomes = [live.evaluate(e) for e in events]
    # Each event a second time (a redelivery) changes nothing.
    before = copy.deepcopy(live.state)
    second = [evaluate(live.state, e, agreements, T0) for e in events]
    assert all(o.duplicate and o.empty for o in second)
    assert live.state == before
    # A restarted worker replays the same events into a fresh state, discarding the outcomes.
    restarted = ComplianceRules(agreements, clock=lambda: T0 + days(30))
    assert restarted.replay(events) == len(events)
    assert restarted.state == live.state
    # Replaying again on top is a no-op.
    assert restarted.replay(events) == 0 and restarted.state == live.state
    # What the bus emitted the first time has the same ids as a replay would give.
    replayed = RuleState()
    again = run(replayed, agreements, *events)
    ids = lambda outcomes, event_list: sorted(b["event_id"] for o, e in zip(outcomes, event_list)
                                              for b in o.bus_events(e, T0))
    assert ids(first_outcomes, events) == ids(again, events) != []
