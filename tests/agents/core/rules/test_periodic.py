"""Art. 5 calendar obligations (quarterly risk assessment, annual review, sterile on-site
inspection) and Art. 13 audit reports."""
import pytest

from tests.agents.core.rules.support import A_CAP, A_INJ, T0, days, holder, make, run, specs

CST_END = "15:59:59+00:00"


@pytest.mark.clause("Art. 5")
def test_the_first_event_of_a_quarter_opens_the_quarterly_and_annual_reviews(state, agreements):
    first, second = run(state, agreements, make("deviation.reported", A_CAP), make("oos_oot.reported", A_CAP))
    by_ref = {s.item_ref: s for s in specs(first, "Art. 5")}
    assert set(by_ref) == {"PR-2026-Q4-HA-AMX-500", "PQR-2026-HA-AMX-500"}
    assert by_ref["PR-2026-Q4-HA-AMX-500"].due_at.isoformat() == f"2027-01-30T{CST_END}"
    assert by_ref["PR-2026-Q4-HA-AMX-500"].satisfied_by == ("periodic_review.risk_assessment_completed",)
    assert by_ref["PQR-2026-HA-AMX-500"].due_at.isoformat() == f"2027-03-31T{CST_END}"
    assert specs(second, "Art. 5") == []


@pytest.mark.clause("Art. 5")
def test_each_product_and_each_quarter_has_its_own(state, agreements):
    _, other_product, next_quarter = run(state, agreements, make("deviation.reported", A_CAP),
                                         make("deviation.reported", A_INJ), make("deviation.reported", A_CAP,
                                                                                 at=T0 + days(70)))
    assert "PR-2026-Q4-HA-ONS-2ML" in {s.item_ref for s in specs(other_product, "Art. 5")}
    assert {s.item_ref for s in specs(next_quarter, "Art. 5")} == {"PR-2027-Q1-HA-AMX-500", "PQR-2027-HA-AMX-500"}


@pytest.mark.clause("Art. 5")
def test_a_sterile_product_gets_a_yearly_holder_onsite_inspection(state, agreements):
    [outcome] = run(state, agreements, make("deviation.reported", A_INJ))
    [onsite] = [s for s in specs(outcome, "Art. 5") if s.item_ref.startswith("ONSITE-")]
    assert onsite.item_ref == "ONSITE-2026-HA-ONS-2ML"
    assert (onsite.responsible_party_role, onsite.satisfier_role) == ("HOLDER", "HOLDER")
    assert onsite.satisfied_by == ("periodic_review.onsite_inspection_completed",)
    assert onsite.due_at.isoformat() == f"2026-12-31T{CST_END}"
    [capsule] = run(state, agreements, make("deviation.reported", A_CAP))
    assert not [s for s in specs(capsule, "Art. 5") if s.item_ref.startswith("ONSITE-")]


@pytest.mark.clause("Art. 5")
def test_a_review_published_under_another_item_ref_is_pointed_at_the_tracked_one(state, agreements):
    review = make("periodic_review.risk_assessment_completed", A_CAP, item_ref="QRA-Q3", at=T0 - days(10),
                  payload={"review_kind": "QUARTERLY_RISK_ASSESSMENT", "period_end": "2026-09-30"})
    [outcome] = run(state, agreements, review)
    [pointer] = [f for f in outcome.findings if f.payload["article"] == "Art. 5"]   # Art. 8 reports line capacity too
    assert pointer.payload["rule_id"] == "art5.periodic.review_item_ref"
    assert "PR-2026-Q3-HA-AMX-500" in pointer.payload["message"]


@pytest.mark.clause("Art. 13")
def test_an_audit_opens_the_holders_audit_report_obligation(state, agreements):
    audit = make("holder_audit.performed", A_CAP, item_ref="AUD-14", by=holder(),
                 payload={"audit_kind": "ONSITE", "end_date": "2026-11-12"})
    [outcome] = run(state, agreements, audit)
    [report] = specs(outcome, "Art. 13")
    assert (report.responsible_party_role, report.satisfied_by, report.item_ref) == (
        "HOLDER", ("holder_audit.report_issued",), None)
    assert report.due_at.isoformat() == f"2026-12-12T{CST_END}"
    assert "item_ref AUD-14" in report.description


@pytest.mark.clause("Art. 13")
def test_the_report_itself_opens_nothing(state, agreements):
    [outcome] = run(state, agreements, make("holder_audit.report_issued", A_CAP, by=holder()))
    assert specs(outcome, "Art. 13") == []
