"""Arts. 17, 18: idle lines need a passed GMP inspection before production; sterile experience."""
from datetime import timedelta

import pytest

from agents.core.agreements import AgreementSet
from tests.agents.core.rules.support import A_CAP, A_INJ, B_INJ, D_INJ, T0, days, make, rule_ids, run

YEAR = timedelta(days=365.25)


def start(where=A_INJ, last=None, at=T0, **kw):
    return make("production.started", where, at=at, batch_no="P-1",
                payload={"line_last_production_at": last.isoformat() if last else None, **kw})


def inspection_passed(line="LINE-INJ-2", at=T0 - days(30), where=D_INJ):
    return make("regulatory_inspection.gmp_inspection_passed", where, at=at, item_ref="INSP-2026-JS-011",
                payload={"inspection_type": "GMP_COMPLIANCE", "outcome": "PASSED", "lines_covered": [line]})


@pytest.mark.clause("Art. 18")
@pytest.mark.parametrize("where, idle_years, violation", [
    (D_INJ, 2.9, False), (D_INJ, 3.1, True),      # sterile: more than 3 years
    (A_CAP, 4.9, False), (A_CAP, 5.1, True),      # others: more than 5 years
], ids=["sterile-2.9y", "sterile-3.1y", "capsule-4.9y", "capsule-5.1y"])
def test_starting_on_a_long_idle_line_without_a_gmp_inspection_is_a_violation(state, agreements, where,
                                                                                idle_years, violation):
    [outcome] = run(state, agreements, start(where, last=T0 - idle_years * YEAR))
    found = "art18.production.idle_line_without_gmp_inspection" in rule_ids(outcome)
    assert found is violation
    assert bool(outcome.directives) is violation
    if violation:
        directive = outcome.directives[0].payload
        assert (directive["article"], directive["line_id"], directive["product_code"]) == (
            "Art. 18", where["line_id"], None)


@pytest.mark.clause("Art. 18")
def test_a_passed_gmp_inspection_of_the_line_since_allows_the_start(state, agreements):
    _, outcome = run(state, agreements, inspection_passed(), start(D_INJ, last=T0 - 4 * YEAR))
    assert "art18.production.idle_line_without_gmp_inspection" not in rule_ids(outcome)


@pytest.mark.clause("Art. 18")
def test_an_inspection_of_another_line_or_from_before_the_idle_period_does_not_count(state, agreements):
    old = inspection_passed(at=T0 - 5 * YEAR)
    other_line = inspection_passed(line="LINE-CAP-1")
    *_, outcome = run(state, agreements, old, other_line,
                      start(D_INJ, last=T0 - 4 * YEAR, gmp_inspection_ref="INSP-X"))
    [violation] = [f for f in outcome.findings if f.payload["rule_id"] == "art18.production.idle_line_without_gmp_inspection"]
    assert "INSP-X" in violation.payload["message"]


@pytest.mark.clause("Art. 18")
def test_the_idle_period_uses_the_latest_production_known(state, agreements):
    # Holder A's agreement says LINE-INJ-2 last produced in June 2026; the event claims 2021.
    [outcome] = run(state, agreements, start(last=T0 - 5 * YEAR))
    assert "art18.production.idle_line_without_gmp_inspection" not in rule_ids(outcome)
    # The line is physical: holder B starting on it is not starting on an idle line either.
    [outcome_b] = run(state, agreements, start(B_INJ, last=T0 - 5 * YEAR))
    assert "art18.production.idle_line_without_gmp_inspection" not in rule_ids(outcome_b)
    # The bus saw a capsule batch released from LINE-CAP-1 ten days ago.
    release = make("batch_release.factory_released", A_CAP, at=T0 - days(10), batch_no="R-1")
    _, started = run(state, agreements, release, start(A_CAP, last=T0 - 6 * YEAR, at=T0))
    assert "art18.production.idle_line_without_gmp_inspection" not in rule_ids(started)


@pytest.mark.clause("Art. 18")
def test_the_passed_inspection_lifts_the_art18_suspension(state, agreements):
    started = start(D_INJ, last=T0 - 4 * YEAR)
    [violation] = run(state, agreements, started)
    directive_id = violation.directives[0].payload["directive_id"]
    inspection = inspection_passed(at=T0 + days(20))
    [outcome] = run(state, agreements, inspection)
    assert [(d.event_type, d.payload["directive_id"]) for d in outcome.directives] == [
        ("directive.lifted", directive_id)]
    assert state.suspensions == {}
    # The lifted directive is addressed like the one it lifts: the production start's agreement and item.
    [lifted] = outcome.bus_events(inspection, T0)
    assert (lifted["agreement_id"], lifted["item_ref"]) == (started["agreement_id"], started["item_ref"])


@pytest.mark.clause("Art. 17")
def test_sterile_start_records_the_parties_experience_once(state, agreements):
    first, second = run(state, agreements, start(), start(at=T0 + days(1)))
    assert rule_ids(first) == ["art17.sterile.experience_recorded"]
    message = first.findings[0].payload["message"]
    assert "HOLDER-A 0 years" in message and "CMO-X 8 years" in message and "Art. 17 is met" in message
    assert state.sterile_experience[("QA-HOLDERA-CMOX-001", "HA-ONS-2ML")] == (0.0, 8.0)
    assert rule_ids(second) == []


@pytest.mark.clause("Art. 17")
def test_sterile_start_where_neither_party_has_three_years_is_flagged(state, agreements):
    [outcome] = run(state, agreements, start(D_INJ, sterile_experience_years=1.5))
    assert rule_ids(outcome) == ["art17.sterile.experience_below_three_years"]
    assert outcome.findings[0].payload["severity"] == "HIGH"
    assert "states 1.5 years" in outcome.findings[0].payload["message"]


@pytest.mark.clause("Art. 17")
def test_non_sterile_starts_record_no_experience(state, agreements):
    [outcome] = run(state, agreements, start(A_CAP))
    assert rule_ids(outcome) == []


@pytest.mark.clause("Art. 17")
def test_without_the_agreement_nothing_is_claimed(state):
    [outcome] = run(state, AgreementSet(), start())
    assert "art17.sterile.experience_recorded" not in rule_ids(outcome)
