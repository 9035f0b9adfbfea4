"""Art. 8: entrusted products per line against the capacity the site declares, reported when a co-line
change adds a product and at each quarterly review; a line above it is flagged."""
import pytest

from agents.core.rules import RuleState
from agents.core.rules.capacity import declared_capacity, products_on_line
from agents.core.rules.context import Context
from agents.core.rules.outcome import Outcome
from schemas import default_schemas
from tests.agents.core.rules.support import (A_CAP, A_INJ, C_TAB, T0, edited_agreements, findings_of, make, run)

pytestmark = pytest.mark.clause("Art. 8")


def context(agreements, where=A_INJ) -> Context:
    event = make("deviation.reported", where)
    return Context(RuleState(), event, agreements, agreements.effective(where["agreement_id"], T0), T0,
                   default_schemas(), Outcome())


def adding(**payload):
    return make("coline_change.notified", A_INJ, item_ref="COL-2026-0006",
                payload={"change_kind": "NEW_COMMERCIAL_PRODUCT", "risk_assessment_conclusion": "acceptable (RA-11)",
                         "risk_acceptable": True, "new_product_holder": "HOLDER-E", **payload})


def quarterly(where=A_CAP):
    return make("periodic_review.risk_assessment_completed", where,
                item_ref=f"PR-2026-Q4-{where['product']['code']}",
                payload={"review_kind": "QUARTERLY_RISK_ASSESSMENT", "period_end": "2026-12-31"})


def test_the_agreements_say_what_runs_on_a_line_and_the_lowest_declared_capacity_counts(agreements):
    ctx = context(agreements)
    assert products_on_line(ctx, "SITE-SZ-01", "LINE-INJ-2", T0) == {
        ("QA-HOLDERA-CMOX-001", "HA-ONS-2ML"), ("QA-HOLDERB-CMOX-001", "HB-ONS-2ML")}
    assert declared_capacity(ctx, "SITE-SZ-01", "LINE-INJ-2", T0) == 2

    def tighter(data):
        data["sites"][0]["lines"] = [{"line_id": "LINE-INJ-2", "max_entrusted_products": 1}]

    assert declared_capacity(context(edited_agreements("QA-HOLDERB-CMOX-001", tighter)), "SITE-SZ-01", "LINE-INJ-2",
                             T0) == 1
    assert declared_capacity(ctx, "SITE-SZ-01", "LINE-TAB-3", T0) is None


def test_a_coline_change_adding_a_product_above_capacity_is_flagged_without_naming_other_holders(state, agreements):
    [outcome] = run(state, agreements, adding())
    [flag] = findings_of(outcome, "Art. 8")
    assert (flag["rule_id"], flag["severity"]) == ("art8.capacity.line_above_capacity", "HIGH")
    assert "carries 3 entrusted products once co-line change COL-2026-0006 adds its product" in flag["message"]
    assert "above the capacity of 2" in flag["message"]
    for other in ("HOLDER-B", "HB-ONS-2ML", "HOLDER-E"):
        assert other not in flag["message"]


def test_a_product_the_agreements_already_place_on_the_line_counts_once(state, agreements):
    [outcome] = run(state, agreements, adding(new_product_code="HB-ONS-2ML"))
    [report] = findings_of(outcome, "Art. 8")
    assert (report["rule_id"], report["severity"]) == ("art8.capacity.line_report", "INFO")
    assert "carries 2 entrusted products" in report["message"] and "within the capacity of 2" in report["message"]


def test_a_coline_change_that_adds_no_product_reports_nothing(state, agreements):
    [outcome] = run(state, agreements, adding(change_kind="EQUIPMENT_OR_FACILITY_CHANGE"))
    assert findings_of(outcome, "Art. 8") == []


def test_the_quarterly_review_reports_each_line_of_the_product(state, agreements):
    [outcome] = run(state, agreements, quarterly())
    [report] = findings_of(outcome, "Art. 8")
    assert report["rule_id"] == "art8.capacity.line_report"
    assert "Line LINE-CAP-1 at SITE-SZ-01 carries 1 entrusted product at the quarterly review" in report["message"]


def test_a_line_without_a_declared_capacity_is_pointed_out(state, agreements):
    [outcome] = run(state, agreements, quarterly(C_TAB))
    [note] = findings_of(outcome, "Art. 8")
    assert (note["rule_id"], note["severity"]) == ("art8.capacity.not_declared", "LOW")
    assert "max_entrusted_products" in note["message"]
