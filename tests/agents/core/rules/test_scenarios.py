"""Narrated scenarios: one behaviour each, a comment per step."""
import copy

import pytest

from agents.core.pipeline import Pipeline, outbound
from agents.core.rules import ComplianceRules, RuleState, evaluate
from schemas import default_schemas
from streams.validation import validate_event
from tests.agents.core.rules.support import (A_CAP, A_INJ, B_INJ, C_TAB, C_TAB_Y, CMO_Y, T0, days, edited_agreements,
                                              holder, make, run, specs)


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
        make("change.proposed", A_CAP, item_ref="CHG-9", classification="MAJOR",
             payload={"manufacturer_classification": "MAJOR"}),
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

    def ids(outcomes, event_list):
        return sorted(b["event_id"] for o, e in zip(outcomes, event_list) for b in o.bus_events(e, T0))

    assert ids(first_outcomes, events) == ids(again, events) != []


# -- the rest of the announcement (issue 14), through the pure pipeline: rules, then the clocks --
def obligation_records(step, rule: str) -> list[tuple[str, str, str, str]]:
    """(action, kind, responsible role, item_ref) of one article's obligation records in a step."""
    return [(r["event_type"].split(".", 1)[1], r["payload"]["kind"], r["payload"]["responsible_role"], r["item_ref"])
            for r in step.records if r["event_type"].startswith("obligation.") and r["payload"]["rule"] == rule]


def open_items(pipeline, rule: str) -> list[str]:
    return sorted(o.item_ref for o in pipeline.engine.open_obligations() if o.rule == rule)


@pytest.mark.clause("Art. 3")
def test_an_agreement_signed_without_a_recorded_evaluation_is_flagged_to_the_holder():
    # Holder A's agreement with CMO-X records no evaluation of the holder and its products.
    agreements = edited_agreements("QA-HOLDERA-CMOX-001", lambda data: data.pop("evaluation"))
    pipeline = Pipeline(agreements)
    # The parties publish the signing.
    step = pipeline.process(make("agreement.signed", A_CAP, item_ref="QA-HOLDERA-CMOX-001", by=holder()), T0)
    # The bus records a finding that no evaluation is on record ...
    [flag] = [r for r in step.records if r["event_type"] == "finding.warning_raised"]
    assert flag["payload"]["rule_id"] == "art3.evaluation.missing"
    # ... and Holder A's QA reads it in its own inbox.
    assert ("inbox:HOLDER-A", flag) in outbound(step.records, step.deliveries, agreements)


@pytest.mark.clause("Art. 6")
def test_a_holders_access_request_is_answered_in_time(agreements):
    pipeline = Pipeline(agreements)
    # Holder A asks to read CMO-X's LIMS audit trails and to see the QC laboratory.
    request = make("holder_audit.access_requested", A_CAP, item_ref="ACC-2026-07", by=holder(),
                   payload={"access_to": ["SYSTEMS", "FACILITIES"]})
    assert obligation_records(pipeline.process(request, T0), "Art. 6") == [
        ("opened", "PERFORM", "MANUFACTURER", "ACC-2026-07")]
    # Two days later CMO-X grants access: the answer is on time and nothing is left open.
    granted = make("holder_audit.access_granted", A_CAP, item_ref="ACC-2026-07", at=T0 + days(2))
    [done] = [r for r in pipeline.process(granted, T0 + days(2)).records if r["event_type"] == "obligation.satisfied"]
    assert done["payload"]["late"] is False
    assert open_items(pipeline, "Art. 6") == []


@pytest.mark.clause("Art. 8")
def test_a_coline_change_that_overfills_a_line_is_flagged(agreements):
    pipeline = Pipeline(agreements)
    # LINE-INJ-2 carries Holder A's and Holder B's injections; the site declares room for two.
    # CMO-X notifies a third product on the line, for a customer whose agreement is not on the bus.
    notice = make("coline_change.notified", A_INJ, item_ref="COL-2026-0009",
                  payload={"change_kind": "NEW_COMMERCIAL_PRODUCT", "risk_assessment_conclusion": "acceptable (RA-12)",
                           "risk_acceptable": True, "new_product_holder": "HOLDER-E"})
    step = pipeline.process(notice, T0)
    # The bus flags the line above its capacity, counting products, naming none of them.
    [flag] = [r for r in step.records if r["event_type"] == "finding.warning_raised"
              and r["payload"]["rule_id"] == "art8.capacity.line_above_capacity"]
    assert "3 entrusted products" in flag["payload"]["message"]
    assert "HOLDER-B" not in str(flag) and "HOLDER-E" not in str(flag)


@pytest.mark.clause("Art. 10")
def test_a_holders_second_manufacturer_needs_a_comparative_analysis_and_the_holder_a_study(agreements):
    # Holder C has its metformin made by CMO-X and, since July, by CMO-Y; each manufacturer's
    # events are on a worker of their own.
    at_x, at_y = Pipeline(agreements), Pipeline(agreements)
    # CMO-Y starts production with no comparative analysis of its production conditions on record.
    step = at_y.process(make("production.started", C_TAB_Y, item_ref="PROD-Y-1", by=CMO_Y), T0)
    assert "art10.several_manufacturers.comparative_analysis_missing" in [
        r["payload"]["rule_id"] for r in step.records if r["event_type"].startswith("finding.")]
    # CMO-X's worker, at its first event of the half year, opens Holder C's comparative quality study.
    step = at_x.process(make("deviation.reported", C_TAB, item_ref="DEV-X-1"), T0)
    assert obligation_records(step, "Art. 10") == [("opened", "PERFORM", "HOLDER", "CQS-2026-H2-HC-MET-500")]
    # Holder C reports the study done; nothing stays open.
    study = make("periodic_review.comparative_study_completed", C_TAB, item_ref="CQS-2026-H2-HC-MET-500",
                 by=holder("HOLDER-C"), at=T0 + days(40), payload={"review_kind": "COMPARATIVE_QUALITY_STUDY"})
    at_x.process(study, T0 + days(40))
    assert open_items(at_x, "Art. 10") == []


@pytest.mark.clause("Art. 13")
def test_an_audit_finding_is_closed_by_evidence_and_the_holders_acceptance(agreements):
    pipeline = Pipeline(agreements)
    ref = "RECT-AUD-14-F-03"
    # Holder A's auditors report a major finding; CMO-X owes its rectification.
    finding = make("holder_audit.finding_reported", A_CAP, item_ref="AUD-14", by=holder(), classification="MAJOR",
                   payload={"finding_ref": "F-03", "finding_text": "OOS phase 2 skipped"})
    assert obligation_records(pipeline.process(finding, T0), "Art. 13") == [("opened", "PERFORM", "MANUFACTURER", ref)]
    # CMO-X answers without evidence: refused, the rectification stays owed.
    assert pipeline.process(make("holder_audit.rectification_submitted", A_CAP, item_ref=ref), T0).refusal is not None
    # With its CAPA records the rectification is done, and Holder A's review opens.
    evidence = make("holder_audit.rectification_submitted", A_CAP, item_ref=ref, at=T0 + days(9),
                    payload={"evidence_refs": ["CAPA-2026-118"]})
    assert obligation_records(pipeline.process(evidence, T0 + days(9)), "Art. 13") == [
        ("satisfied", "PERFORM", "MANUFACTURER", ref), ("opened", "APPROVE", "HOLDER", ref)]
    # Holder A does not accept it: CMO-X owes a second round.
    rejected = make("holder_audit.rectification_rejected", A_CAP, item_ref=ref, by=holder(), at=T0 + days(12))
    assert obligation_records(pipeline.process(rejected, T0 + days(12)), "Art. 13") == [
        ("satisfied", "APPROVE", "HOLDER", ref), ("opened", "PERFORM", "MANUFACTURER", ref)]
    # Better evidence, then Holder A's acceptance: the finding is closed, nothing open on it.
    again = make("holder_audit.rectification_submitted", A_CAP, item_ref=ref, at=T0 + days(20),
                 payload={"evidence_refs": ["CAPA-2026-118", "SOP-QC-021 rev 4", "training TR-2026-77"]})
    pipeline.process(again, T0 + days(20))
    pipeline.process(make("holder_audit.rectification_accepted", A_CAP, item_ref=ref, by=holder(), at=T0 + days(22)),
                     T0 + days(22))
    assert open_items(pipeline, "Art. 13") == []


@pytest.mark.clause("Art. 5", "Art. 14")
def test_a_remote_audit_never_closes_a_sterile_products_onsite_inspection(agreements):
    pipeline = Pipeline(agreements)
    # A deviation on Holder B's sterile injection opens the year's on-site inspection for Holder B.
    pipeline.process(make("deviation.reported", B_INJ, item_ref="DEV-B-1"), T0)
    assert "ONSITE-2026-HB-ONS-2ML" in open_items(pipeline, "Art. 5")
    # Holder B audits remotely, although its agreement does not declare the site as exchanging data.
    audit = make("holder_audit.performed", B_INJ, item_ref="AUD-B-R1", by=holder("HOLDER-B"), at=T0 + days(1),
                 payload={"audit_kind": "REMOTE", "end_date": "2026-11-03"})
    flagged = {r["payload"]["rule_id"] for r in pipeline.process(audit, T0 + days(1)).records
               if r["event_type"].startswith("finding.")}
    assert flagged == {"art14.remote_audit.site_without_electronic_data_exchange",
                       "art14.remote_audit.not_the_sterile_onsite_inspection"}
    # Reporting that remote audit as the on-site inspection is refused; the inspection stays owed.
    remote = make("periodic_review.onsite_inspection_completed", B_INJ, item_ref="ONSITE-2026-HB-ONS-2ML",
                  by=holder("HOLDER-B"), at=T0 + days(2), payload={"attendance": "REMOTE"})
    assert pipeline.process(remote, T0 + days(2)).refusal.rule_id == "art14.remote_audit.onsite_inspection_cannot_be_remote"
    assert "ONSITE-2026-HB-ONS-2ML" in open_items(pipeline, "Art. 5")
