"""Arts. 19, 20, 25: licence clocks."""
from datetime import datetime, timezone

import pytest

from agents.core.obligations.model import Kind
from tests.agents.core.rules.support import A_CAP, holder, make, run, specs

CST_END = "15:59:59+00:00"   # 23:59:59 in Shanghai


@pytest.mark.clause("Art. 19")
def test_opinion_letter_gives_the_holder_12_months_to_apply_for_category_b(state, agreements):
    letter = make("licence.opinion_letter_issued", A_CAP, item_ref="LIC-1",
                  payload={"opinion_letter_date": "2026-11-18", "opinion_letter_ref": "OL-018"})
    [outcome] = run(state, agreements, letter)
    [spec] = specs(outcome, "Art. 19")
    assert (spec.kind, spec.responsible_party_role, spec.satisfied_by) == (
        Kind.SUBMIT, "HOLDER", ("licence.category_b_applied",))
    assert spec.due_at.isoformat() == f"2027-11-18T{CST_END}"
    assert "item_ref LIC-1" in spec.description


@pytest.mark.clause("Art. 19")
def test_category_b_gives_the_manufacturer_60_working_days_to_record_changes(state, agreements):
    granted = make("licence.category_b_granted", A_CAP, payload={"category_b_granted_date": "2026-03-02"})
    [outcome] = run(state, agreements, granted)
    [spec] = specs(outcome, "Art. 19")
    assert (spec.responsible_party_role, spec.satisfied_by, spec.deadline) == (
        "MANUFACTURER", ("licence.change_recorded",), "60wd")
    # 60 working days from Mon 2 March 2026 (Qingming 4-6 Apr, Labour Day 1-5 May with make-up
    # days 9 May; Dragon Boat 19 Jun) end on ... a date well past 60 calendar days.
    assert datetime(2026, 5, 20, tzinfo=timezone.utc) < spec.due_at < datetime(2026, 6, 10, tzinfo=timezone.utc)


@pytest.mark.clause("Art. 20")
@pytest.mark.parametrize("event", [
    lambda: make("agreement.terminated", A_CAP, item_ref="QA-HOLDERA-CMOX-001",
                 payload={"terminated_on": "2026-08-31", "termination_reason": "contract expiry"}, by=holder()),
    lambda: make("licence.change_recorded", A_CAP, payload={"termination_date": "2026-08-31"}),
], ids=["agreement-terminated", "licence-event-with-termination-date"])
def test_termination_gives_both_parties_6_months_to_cancel(state, agreements, event):
    [outcome] = run(state, agreements, event())
    cancel = specs(outcome, "Art. 20")
    assert sorted((s.responsible_party_role, s.satisfier_role) for s in cancel) == [
        ("HOLDER", "HOLDER"), ("MANUFACTURER", "MANUFACTURER")]
    assert {s.due_at.isoformat() for s in cancel} == {f"2027-02-28T{CST_END}"}
    assert all(s.satisfied_by == ("licence.cancellation_applied",) for s in cancel)


@pytest.mark.clause("Art. 25")
def test_a_rectification_plan_is_due_by_30_december_2026(state, agreements):
    plan = make("licence.change_recorded", A_CAP, payload={"rectification_plan_ref": "RECT-2026-01"})
    [outcome] = run(state, agreements, plan)
    rectify = specs(outcome, "Art. 25")
    assert len(rectify) == 2
    assert {s.due_at.isoformat() for s in rectify} == {f"2026-12-30T{CST_END}"}
    assert all(s.satisfied_by == ("licence.rectification_completed",) for s in rectify)


@pytest.mark.clause("Art. 25")
def test_a_longer_justified_rectification_deadline_is_kept(state, agreements):
    plan = make("licence.change_recorded", A_CAP,
                payload={"rectification_plan_ref": "RECT-2", "rectification_deadline": "2027-06-30"})
    [outcome] = run(state, agreements, plan)
    assert {s.due_at.isoformat() for s in specs(outcome, "Art. 25")} == {f"2027-06-30T{CST_END}"}


@pytest.mark.clause("Art. 25")
def test_completing_the_rectification_opens_nothing(state, agreements):
    done = make("licence.rectification_completed", A_CAP, payload={"rectification_plan_ref": "RECT-2026-01"})
    [outcome] = run(state, agreements, done)
    assert specs(outcome, "Art. 25") == []
