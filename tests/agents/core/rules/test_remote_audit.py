"""Art. 14: remote audits only where the site exchanges full-process data electronically with the
holder; never as a sterile product's yearly on-site inspection (Art. 5). Holder A's agreement declares
SITE-SZ-01 as exchanging data; Holder B's and Holder C's do not."""
import pytest

from agents.core.rules import refusal_of
from tests.agents.core.rules.support import A_CAP, A_INJ, B_INJ, C_TAB, T0, findings_of, holder, make, run

pytestmark = pytest.mark.clause("Art. 14")


def audit(where, kind="REMOTE"):
    return make("holder_audit.performed", where, item_ref="AUD-R-1", by=holder(where["holder_id"]),
                payload={"audit_kind": kind, "scope": "batch records and audit trails", "end_date": "2026-11-02"})


def inspection(where=A_INJ, attendance="REMOTE"):
    return make("periodic_review.onsite_inspection_completed", where, item_ref="ONSITE-2026-HA-ONS-2ML", by=holder(),
                payload={"review_kind": "STERILE_ONSITE_INSPECTION", "attendance": attendance})


def flags(outcome):
    return [f["rule_id"] for f in findings_of(outcome, "Art. 14")]


def test_a_remote_audit_of_a_site_that_exchanges_data_is_fine(state, agreements):
    [outcome] = run(state, agreements, audit(A_CAP))
    assert flags(outcome) == []


def test_a_remote_audit_of_a_site_not_declared_as_exchanging_data_is_flagged(state, agreements):
    [outcome] = run(state, agreements, audit(C_TAB))
    [flag] = findings_of(outcome, "Art. 14")
    assert (flag["rule_id"], flag["severity"]) == ("art14.remote_audit.site_without_electronic_data_exchange", "MEDIUM")
    assert "SITE-SZ-01" in flag["message"] and "electronic_data_exchange" in flag["message"]


def test_an_onsite_audit_is_not_a_remote_one(state, agreements):
    [outcome] = run(state, agreements, audit(C_TAB, kind="ONSITE"))
    assert flags(outcome) == []


def test_a_remote_audit_of_a_sterile_product_is_not_its_yearly_onsite_inspection(state, agreements):
    [outcome] = run(state, agreements, audit(A_INJ))
    [note] = findings_of(outcome, "Art. 14")
    assert note["rule_id"] == "art14.remote_audit.not_the_sterile_onsite_inspection"
    assert "ONSITE-2026-HA-ONS-2ML stays open" in note["message"]


def test_both_at_once_for_a_sterile_product_at_a_site_without_exchange(state, agreements):
    [outcome] = run(state, agreements, audit(B_INJ))
    assert sorted(flags(outcome)) == ["art14.remote_audit.not_the_sterile_onsite_inspection",
                                      "art14.remote_audit.site_without_electronic_data_exchange"]


def test_a_remote_onsite_inspection_of_a_sterile_product_is_refused_at_intake(state, agreements):
    refusal = refusal_of(inspection(), agreements, T0)
    assert refusal.rule_id == "art14.remote_audit.onsite_inspection_cannot_be_remote"
    assert "holder_audit.performed with audit_kind REMOTE" in refusal.reason


@pytest.mark.parametrize("where, attendance", [(A_INJ, "ONSITE"), (A_INJ, "UNKNOWN"), (A_CAP, "REMOTE")])
def test_an_inspection_on_site_or_of_a_non_sterile_product_is_accepted(agreements, where, attendance):
    assert refusal_of(inspection(where, attendance), agreements, T0) is None
