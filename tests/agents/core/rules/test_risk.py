"""Art. 5: a significant risk suspends production at once and pages; the holder approves resumption."""
import pytest

from tests.agents.core.rules.support import A_CAP, A_INJ, B_INJ, T0, days, holder, make, rule_ids, run

pytestmark = pytest.mark.clause("Art. 5")


def critical_deviation(product_impact=True, where=A_INJ, **kw):
    return make("deviation.reported", where, classification="CRITICAL", batch_no="2611-03",
                payload={"description": "particles in filled vials", "product_impact": product_impact}, **kw)


@pytest.mark.parametrize("event, why", [
    (lambda: critical_deviation(), "critical deviation"),
    (lambda: make("regulatory_inspection.finding_reported", A_INJ, payload={"finding_severity": "CRITICAL"}),
     "critical regulatory inspection finding"),
    (lambda: make("oos_oot.confirmed", A_INJ, batch_no="2611-03", payload={"sterility_failure": True}),
     "confirmed sterility failure"),
    (lambda: make("qualification_validation.executed", A_INJ, significant_risk=True), "flagged by its publisher"),
], ids=["critical-deviation-with-impact", "critical-inspection-finding", "sterility-failure", "explicit-flag"])
def test_each_significant_risk_suspends_production_of_the_line_and_product_and_pages(state, agreements, event, why):
    trigger = event()
    [outcome] = run(state, agreements, trigger)
    [directive] = outcome.directives
    assert directive.event_type == "directive.issued"
    assert directive.payload["directive"] == "SUSPEND_PRODUCTION"
    assert (directive.payload["line_id"], directive.payload["product_code"]) == ("LINE-INJ-2", "HA-ONS-2ML")
    assert directive.payload["article"] == "Art. 5"
    assert directive.payload["triggered_by_event_id"] == trigger["event_id"]
    assert why in directive.payload["reason"]
    assert [(p.rule_id, p.via_directive) for p in outcome.pages] == [("art5.risk.suspend_production", True)]
    assert list(state.suspensions) == [directive.payload["directive_id"]]


@pytest.mark.parametrize("event", [
    lambda: critical_deviation(product_impact=False),
    lambda: critical_deviation(product_impact=None),
    lambda: make("deviation.reported", A_INJ, classification="MAJOR", payload={"product_impact": True}),
    lambda: make("regulatory_inspection.finding_reported", A_INJ, payload={"finding_severity": "MAJOR"}),
    lambda: make("oos_oot.reported", A_INJ, payload={"sterility_failure": True}),   # not yet confirmed
    lambda: make("oos_oot.confirmed", A_INJ, payload={"sterility_failure": False}),
], ids=["no-impact", "impact-unknown", "major-deviation", "major-finding", "sterility-unconfirmed", "other-oos"])
def test_what_is_not_a_significant_risk_suspends_nothing(state, agreements, event):
    [outcome] = run(state, agreements, event())
    assert outcome.directives == [] and outcome.pages == []


def test_an_event_without_a_line_suspends_the_product_on_every_line(state, agreements):
    [outcome] = run(state, agreements, critical_deviation(line_id=None))
    assert outcome.directives[0].payload["line_id"] is None
    assert outcome.directives[0].payload["product_code"] == "HA-ONS-2ML"


def test_the_same_item_again_does_not_suspend_twice(state, agreements):
    reported = critical_deviation(item_ref="DEV-1")
    classified = make("deviation.classified", A_INJ, item_ref="DEV-1", classification="CRITICAL",
                      payload={"product_impact": True})
    first, second = run(state, agreements, reported, classified)
    assert len(first.directives) == 1 and second.directives == [] and second.pages == []


def test_another_risk_while_suspended_pages_again_without_a_second_directive(state, agreements):
    first, second = run(state, agreements, critical_deviation(item_ref="DEV-1"), critical_deviation(item_ref="DEV-2"))
    assert second.directives == []
    assert rule_ids(second) == ["art5.risk.further_risk_while_suspended"]
    assert [p.via_directive for p in second.pages] == [False]


def test_another_holders_product_on_the_same_line_is_not_suspended_by_it(state, agreements):
    run(state, agreements, critical_deviation())
    # Holder B's product on the same line is another agreement: its own risk gets its own directive.
    [outcome] = run(state, agreements, critical_deviation(where=B_INJ))
    assert outcome.directives[0].payload["product_code"] == "HB-ONS-2ML"
    assert len(state.suspensions) == 2


def test_resumption_approved_by_the_holder_lifts_the_directive(state, agreements):
    [suspended] = run(state, agreements, critical_deviation())
    directive_id = suspended.directives[0].payload["directive_id"]
    resumed = make("production.resumed", A_INJ, at=T0 + days(3),
                   payload={"approved_by_holder": True, "holder_approval_ref": "APPR-7",
                            "suspended_by_directive_id": directive_id})
    [outcome] = run(state, agreements, resumed)
    [lifted] = outcome.directives
    assert lifted.event_type == "directive.lifted"
    assert (lifted.payload["directive_id"], lifted.payload["directive"]) == (directive_id, "RESUME_PRODUCTION")
    assert "APPR-7" in lifted.payload["reason"]
    assert state.suspensions == {}


def test_resumption_published_by_the_holder_itself_counts_as_approval(state, agreements):
    run(state, agreements, critical_deviation())
    [outcome] = run(state, agreements, make("production.resumed", A_INJ, by=holder("HOLDER-A")))
    assert [d.event_type for d in outcome.directives] == ["directive.lifted"]


def test_resumption_without_holder_approval_is_a_violation_and_the_suspension_stays(state, agreements):
    run(state, agreements, critical_deviation())
    [outcome] = run(state, agreements, make("production.resumed", A_INJ, payload={"approved_by_holder": False}))
    assert rule_ids(outcome) == ["art5.production.resumed_without_holder_approval"]
    assert outcome.directives == [] and outcome.pages
    assert len(state.suspensions) == 1


def test_starting_production_while_suspended_is_a_violation(state, agreements):
    run(state, agreements, critical_deviation())
    [outcome] = run(state, agreements, make("production.started", A_INJ, at=T0 + days(1)))
    assert "art5.production.started_while_suspended" in rule_ids(outcome)


def test_other_products_start_freely(state, agreements):
    run(state, agreements, critical_deviation())
    [outcome] = run(state, agreements, make("production.started", A_CAP, at=T0 + days(1)))
    assert "art5.production.started_while_suspended" not in rule_ids(outcome)


def test_the_same_item_does_not_suspend_again_after_resumption(state, agreements):
    # The publisher keeps the significant_risk flag on every later event of the deviation.
    reported = make("deviation.reported", A_INJ, item_ref="DEV-7", significant_risk=True)
    resumed = make("production.resumed", A_INJ, by=holder("HOLDER-A"), at=T0 + days(2))
    updated = make("deviation.investigation_updated", A_INJ, item_ref="DEV-7", significant_risk=True, at=T0 + days(3))
    closed = make("deviation.closed", A_INJ, item_ref="DEV-7", significant_risk=True, at=T0 + days(4))
    first, lifted, *later = run(state, agreements, reported, resumed, updated, closed)
    assert len(first.directives) == 1 and lifted.directives[0].event_type == "directive.lifted"
    assert all(o.directives == [] and o.pages == [] for o in later)


def test_a_lifted_directive_keeps_the_item_of_the_directive(state, agreements):
    [issued] = run(state, agreements, critical_deviation(item_ref="DEV-8"))
    resumed = make("production.resumed", A_INJ, item_ref="PRD-RESUME-1", by=holder("HOLDER-A"))
    [outcome] = run(state, agreements, resumed)
    [lifted] = outcome.bus_events(resumed, T0)
    assert lifted["item_ref"] == "DEV-8" and lifted["agreement_id"] == "QA-HOLDERA-CMOX-001"
    assert lifted["payload"]["triggered_by_event_id"] == resumed["event_id"]
