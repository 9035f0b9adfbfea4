"""Art. 10: a holder entrusting one drug to several manufacturers: comparative quality studies on the
holder's cadence, and a comparative analysis for each later manufacturer. Holder C makes its metformin
at CMO-X (since January 2026) and at CMO-Y (since July 2026)."""
from datetime import date

import pytest

from agents.core.rules import RuleState
from agents.core.rules.comparability import entrusted, period_of
from agents.core.rules.context import Context
from agents.core.rules.outcome import Outcome
from schemas import default_schemas
from tests.agents.core.rules.support import (A_CAP, C_TAB, C_TAB_Y, CMO_Y, T0, days, edited_agreements, findings_of,
                                              holder, make, run, specs)

pytestmark = pytest.mark.clause("Art. 10")


def started(where=C_TAB_Y, **kw):
    return make("production.started", where, by=CMO_Y if where is C_TAB_Y else None, item_ref="PROD-Y-1", **kw)


def flags(outcome):
    return [f["rule_id"] for f in findings_of(outcome, "Art. 10")]


def test_the_agreements_know_the_holders_manufacturers_of_a_drug_first_in_force_first(agreements):
    later = agreements.latest("QA-HOLDERC-CMOY-001")
    event = make("deviation.reported", C_TAB_Y, by=CMO_Y)
    ctx = Context(RuleState(), event, agreements, later, T0, default_schemas(), Outcome())
    cases = entrusted(ctx, later, later.products[0])   # "Metformin Hydrochloride" / "Tablet": the same drug
    assert [(a.agreement_id, a.manufacturer.id) for a, _ in cases] == [
        ("QA-HOLDERC-CMOX-001", "CMO-X"), ("QA-HOLDERC-CMOY-001", "CMO-Y")]
    one = agreements.latest("QA-HOLDERA-CMOX-001")
    assert len(entrusted(ctx, one, one.product("HA-AMX-500"))) == 1


@pytest.mark.parametrize("every, label, start, end", [
    ("quarter", "Q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("half_year", "H2", date(2026, 7, 1), date(2026, 12, 31)),
    ("year", "", date(2026, 1, 1), date(2026, 12, 31)),
])
def test_study_periods_follow_the_cadence(every, label, start, end):
    assert period_of(date(2026, 11, 2), every) == (label, start, end)


def test_the_first_event_of_a_period_under_the_first_agreement_opens_the_holders_study(state, agreements):
    first, again = run(state, agreements, make("deviation.reported", C_TAB), make("oos_oot.reported", C_TAB))
    [study] = specs(first, "Art. 10")
    assert study.item_ref == "CQS-2026-H2-HC-MET-500"                     # Holder C studies every half year
    assert (study.responsible_party_role, study.satisfier_role) == ("HOLDER", "HOLDER")
    assert study.satisfied_by == ("periodic_review.comparative_study_completed",)
    assert study.due_at.isoformat() == "2027-03-01T15:59:59+00:00"       # 60 days after the half year
    assert "to 2 manufacturers" in study.description and "CMO-Y" not in study.description
    assert specs(again, "Art. 10") == []


def test_the_study_is_owed_once_not_under_each_manufacturers_agreement(state, agreements):
    [outcome] = run(state, agreements, make("deviation.reported", C_TAB_Y, by=CMO_Y))
    assert specs(outcome, "Art. 10") == []


def test_a_drug_made_by_one_manufacturer_needs_no_study(state, agreements):
    [outcome] = run(state, agreements, make("deviation.reported", A_CAP))
    assert specs(outcome, "Art. 10") == []


def test_a_later_manufacturer_without_a_comparative_analysis_is_flagged_once(state, agreements):
    first, second = run(state, agreements, started(), started(at=T0 + days(1)) | {"item_ref": "PROD-Y-2"})
    [flag] = findings_of(first, "Art. 10")
    assert (flag["rule_id"], flag["severity"]) == ("art10.several_manufacturers.comparative_analysis_missing", "HIGH")
    assert "to 1 other manufacturer," in flag["message"] and "CMO-X" not in flag["message"]
    assert "periodic_review.comparative_analysis_completed" in flag["message"]
    assert flags(second) == []


def test_a_comparative_analysis_on_record_clears_it(state, agreements):
    analysis = make("periodic_review.comparative_analysis_completed", C_TAB_Y, by=CMO_Y, item_ref="CA-2026-HC-Y",
                    at=T0 - days(5), payload={"review_kind": "COMPARATIVE_ANALYSIS", "report_ref": "CA-2026-HC-Y",
                                              "actions_required": ["granulation end point by torque, as at CMO-X"]})
    _, outcome = run(state, agreements, analysis, started())
    assert flags(outcome) == []


def test_a_reference_in_the_agreement_clears_it(state):
    def analysed(data):
        data["products"][0]["comparative_analysis_ref"] = "CA-2026-HC-Y"

    [outcome] = run(state, edited_agreements("QA-HOLDERC-CMOY-001", analysed), started())
    assert flags(outcome) == []


def test_the_later_agreements_signing_is_checked_too(state, agreements):
    [outcome] = run(state, agreements, make("agreement.signed", C_TAB_Y, by=holder("HOLDER-C"),
                                             item_ref="QA-HOLDERC-CMOY-001"))
    assert flags(outcome) == ["art10.several_manufacturers.comparative_analysis_missing"]


def test_the_first_manufacturer_is_not_flagged(state, agreements):
    [outcome] = run(state, agreements, make("production.started", C_TAB, item_ref="PROD-X-1"))
    assert flags(outcome) == []


def test_each_worker_decides_alone_from_the_agreements(agreements):
    # Two workers, one per manufacturer (the worker partitions rule state by manufacturer): neither
    # needs the other's events to flag CMO-Y or to open the study under CMO-X's agreement.
    [at_y] = run(RuleState(), agreements, started())
    [at_x] = run(RuleState(), agreements, make("deviation.reported", C_TAB))
    assert flags(at_y) and specs(at_x, "Art. 10")
