"""Quality figures against a quarter worked out by hand (agents/core/quality_metrics).

The quarter is 2026 Q4 in Shanghai, on the official calendar that `chinese-calendar` publishes for
2026: 1-7 October are the National Day holiday and Saturday 10 October is a make-up working day.
Every expected number below is counted in the comment beside it.
"""
import pytest

from agents.core.calendar import WorkingCalendar
from agents.core.quality_metrics import MetricsFold, Scope, compute, parse_period
from agents.core.quality_metrics.measures import nearest_rank, working_days_between
from tests.agents.core.quality_metrics.records import A, P2, Chain, end_of, local

CALENDAR = WorkingCalendar("Asia/Shanghai")
Q4 = parse_period("2026Q4", "Asia/Shanghai")
NOW = local("2026-12-31 12:00")   # the quarter has not ended: open items are counted as they stand now


def quarter() -> Chain:
    c = Chain()
    # DEV-1, major, product 1: occurred Fri 9 Oct 09:00, reported 10:00.
    c.event("deviation.reported", "DEV-1", local("2026-10-09 09:00"))
    # notify 3wd from 9 Oct: Sat 10 (make-up day), Mon 12, Tue 13 -> due 13 Oct; met at once.
    c.met("DEV-1", "D1-N", kind="NOTIFY", category="deviation", due=end_of("2026-10-13"),
          basis=local("2026-10-09 09:00"), done=local("2026-10-09 10:00"))
    # acknowledge 2wd from 10:00: Sat 10, Mon 12 -> due 12 Oct; acknowledged Sat 10 Oct 15:00 (29 h, 1 working day).
    c.met("DEV-1", "D1-A", kind="ACKNOWLEDGE", category="deviation", due=end_of("2026-10-12"),
          basis=local("2026-10-09 10:00"), done=local("2026-10-10 15:00"))
    # close 30d -> due 8 Nov; breached then, escalated twice, closed 20 Nov (late).
    c.obligation("opened", "DEV-1", "D1-C", kind="CLOSE", category="deviation", due=end_of("2026-11-08"),
                 basis=local("2026-10-09 09:00"), at=local("2026-10-09 10:00"), rule="Art. 5")
    c.obligation("breached", "DEV-1", "D1-C", kind="CLOSE", category="deviation", due=end_of("2026-11-08"),
                 basis=local("2026-10-09 09:00"), at=end_of("2026-11-08"), rule="Art. 5", breach="overdue",
                 reason="CLOSE for DEV-1 was due 2026-11-08")
    c.escalation("DEV-1", "D1-C", step=1, at=end_of("2026-11-08"), kind="CLOSE")
    c.escalation("DEV-1", "D1-C", step=2, at=local("2026-11-09 03:59:59"), kind="CLOSE")
    c.event("deviation.closed", "DEV-1", local("2026-11-20 16:00"))
    c.obligation("satisfied", "DEV-1", "D1-C", kind="CLOSE", category="deviation", due=end_of("2026-11-08"),
                 basis=local("2026-10-09 09:00"), at=local("2026-11-20 16:00"), rule="Art. 5", late=True)

    # DEV-2, minor, product 2 at another site: reported Mon 28 Sep (Q3), never acknowledged.
    where = {"product": P2, "site": "SITE-SZ-02"}
    c.event("deviation.reported", "DEV-2", local("2026-09-28 09:00"), classification="MINOR", **where)
    # notify 30d -> due 28 Oct (in Q4), met at once.
    c.met("DEV-2", "D2-N", kind="NOTIFY", category="deviation", due=end_of("2026-10-28"),
          basis=local("2026-09-28 09:00"), done=local("2026-09-28 10:00"), **where)
    # acknowledge 10wd from 28 Sep: 29, 30 Sep, (1-7 Oct off), 8, 9, Sat 10, 12, 13, 14, 15, 16 -> due Fri 16 Oct.
    c.obligation("opened", "DEV-2", "D2-A", kind="ACKNOWLEDGE", category="deviation", due=end_of("2026-10-16"),
                 basis=local("2026-09-28 10:00"), at=local("2026-09-28 10:00"), **where)
    c.obligation("breached", "DEV-2", "D2-A", kind="ACKNOWLEDGE", category="deviation", due=end_of("2026-10-16"),
                 basis=local("2026-09-28 10:00"), at=end_of("2026-10-16"), breach="overdue", **where)
    # a first acknowledgement deadline, replaced by a correction: no longer owed, counted nowhere.
    c.obligation("opened", "DEV-2", "D2-A0", kind="ACKNOWLEDGE", category="deviation", due=end_of("2026-10-05"),
                 basis=local("2026-09-28 10:00"), at=local("2026-09-28 10:00"), **where)
    c.obligation("cancelled", "DEV-2", "D2-A0", kind="ACKNOWLEDGE", category="deviation", due=end_of("2026-10-05"),
                 basis=local("2026-09-28 10:00"), at=local("2026-09-29 10:00"), **where)

    # CHG-1, major change, product 1: proposed Mon 2 Nov 09:00.
    c.event("change.proposed", "CHG-1", local("2026-11-02 09:00"))
    c.met("CHG-1", "C1-N", kind="NOTIFY", category="change", due=end_of("2026-11-09"),
          basis=local("2026-11-02 09:00"), done=local("2026-11-02 09:00"))
    # acknowledge 3wd -> due Thu 5 Nov; acknowledged Wed 4 Nov 15:00 (54 h, 2 working days).
    c.met("CHG-1", "C1-A", kind="ACKNOWLEDGE", category="change", due=end_of("2026-11-05"),
          basis=local("2026-11-02 09:00"), done=local("2026-11-04 15:00"))
    # decide 15wd -> due Mon 23 Nov; approved Wed 25 Nov (late, breached 23 Nov, Art. 9).
    c.met("CHG-1", "C1-D", kind="APPROVE", category="change", due=end_of("2026-11-23"),
          basis=local("2026-11-02 09:00"), done=local("2026-11-25 11:00"), rule="Art. 9")
    c.finding("CHG-1", "violation_recorded", article="Art. 9", rule_id="art9.change.implemented_before_approval",
              at=local("2026-11-24 09:00"))
    c.finding("CHG-1", "warning_raised", article="Art. 12", rule_id="art12.release.open_deviation",
              at=local("2026-11-24 09:00"))
    c.event("change.implemented", "CHG-1", local("2026-12-01 09:00"))

    # OOS-1, product 2 at the second site: reported Thu 10 Dec 09:00.
    c.event("oos_oot.reported", "OOS-1", local("2026-12-10 09:00"), **where)
    c.met("OOS-1", "O1-N", kind="NOTIFY", category="oos_oot", due=end_of("2026-12-11"),
          basis=local("2026-12-10 09:00"), done=local("2026-12-10 09:00"), **where)
    # acknowledge 1wd -> due Fri 11 Dec; acknowledged 11 Dec 17:00 (32 h, 1 working day).
    c.met("OOS-1", "O1-A", kind="ACKNOWLEDGE", category="oos_oot", due=end_of("2026-12-11"),
          basis=local("2026-12-10 09:00"), done=local("2026-12-11 17:00"), **where)
    # close 30d -> due 9 Jan 2027: after the quarter, so not rated in it.
    c.obligation("opened", "OOS-1", "O1-C", kind="CLOSE", category="oos_oot", due=end_of("2027-01-09"),
                 basis=local("2026-12-10 09:00"), at=local("2026-12-10 09:00"), **where)

    # PV-1: a pharmacovigilance request on 30 Dec; acknowledgement due 31 Dec 23:59:59, after NOW: pending.
    c.event("pharmacovigilance.request_sent", "PV-1", local("2026-12-30 10:00"), classification=None)
    c.obligation("opened", "PV-1", "P1-A", kind="ACKNOWLEDGE", category="pharmacovigilance",
                 due=end_of("2026-12-31"), basis=local("2026-12-30 10:00"), at=local("2026-12-30 10:00"))

    # The quarterly review the bus opened: its own item, counted through its obligation only (due 2027).
    c.obligation("opened", "PR-2026-Q4-HA-AMX-500", "PR", kind="PERFORM", category="periodic_review",
                 due=end_of("2027-01-30"), basis=end_of("2026-12-31"), at=local("2026-10-09 10:00"), rule="Art. 5")
    return c


@pytest.fixture(scope="module")
def metrics():
    fold = MetricsFold()
    fold.apply_all(quarter().records)
    return compute(fold.items.values(), Q4, now=NOW, calendars=lambda _: CALENDAR)


def refs(metrics, key):
    return [r.item_ref for r in metrics.figure(key).refs]


def test_items_opened_and_closed_in_the_quarter(metrics):
    # DEV-2 opened in Q3; the periodic review is the bus's own item, not a quality event.
    assert refs(metrics, "opened/all") == ["DEV-1", "CHG-1", "OOS-1", "PV-1"]
    assert metrics.value("opened/deviation") == 1
    assert refs(metrics, "closed/all") == ["DEV-1", "CHG-1"]    # closed 20 Nov; change implemented 1 Dec
    assert metrics.categories == ["deviation", "change", "oos_oot", "pharmacovigilance"]   # the review: nothing yet


@pytest.mark.clause("Art. 7")
def test_on_time_rates_follow_the_official_calendar(metrics):
    # Due in Q4: DEV-1 N A C(late), DEV-2 N A(missed), CHG-1 N A D(late), OOS-1 N A -> 7 of 10 on time.
    total = metrics.figure("on_time/all/all")
    assert (total.on_time, total.count, total.value) == (7, 10, 0.7)
    assert total.summary()["late"] == 2 and total.summary()["missed"] == 1
    ack = metrics.figure("on_time/ACKNOWLEDGE/all")
    assert (ack.on_time, ack.count) == (3, 4)
    assert [r.item_ref for r in ack.refs if r.outcome == "missed"] == ["DEV-2"]   # due 16 Oct, after National Day
    assert metrics.value("on_time/NOTIFY/all") == 1.0
    assert metrics.value("on_time/APPROVE/change") == 0.0
    assert metrics.value("on_time/CLOSE/deviation") == 0.0
    assert metrics.value("on_time/CLOSE/oos_oot") is None      # due in January: nothing rated
    assert refs(metrics, "pending/ACKNOWLEDGE/all") == ["PV-1"]
    assert metrics.figure("on_time/all/all").refs == metrics.figure("agreement/" + A + "/on_time").refs


def test_time_to_acknowledge_in_hours_and_working_days(metrics):
    durations = metrics.figure("time_to/ACKNOWLEDGE/all")
    # DEV-1 29 h (Sat 10 Oct is a working day: 1 wd), OOS-1 32 h (1 wd), CHG-1 54 h (2 wd).
    assert sorted((r.item_ref, r.hours, r.working_days) for r in durations.refs) == [
        ("CHG-1", 54.0, 2), ("DEV-1", 29.0, 1), ("OOS-1", 32.0, 1)]
    assert (durations.median_hours, durations.p90_hours) == (32.0, 54.0)   # ranks ceil(1.5)=2 and ceil(2.7)=3
    assert (durations.median_working_days, durations.p90_working_days) == (1, 2)
    assert refs(metrics, "ack_within/1wd") == ["DEV-1", "OOS-1"] and refs(metrics, "ack_within/2wd") == ["CHG-1"]
    # Time to close: DEV-1 from occurred 9 Oct 09:00 to 20 Nov 16:00.
    assert metrics.figure("time_to/CLOSE/all").median_hours == 42 * 24 + 7


def test_open_and_overdue_items_by_age(metrics):
    assert refs(metrics, "open/all") == ["DEV-2", "OOS-1", "PV-1"]
    assert refs(metrics, "open/age/over-90d") == ["DEV-2"]      # 28 Sep 09:00 to 31 Dec 12:00: 94 days
    assert refs(metrics, "open/age/8-30d") == ["OOS-1"]         # 21 days
    assert refs(metrics, "open/age/0-7d") == ["PV-1"]
    assert refs(metrics, "overdue/all") == ["DEV-2"] == refs(metrics, "overdue/age/over-90d")
    overdue = metrics.figure("overdue_for/over-10wd").refs
    # Working days after 16 Oct to 31 Dec: 10 in October, 21 in November, 23 in December.
    assert [(r.item_ref, r.kind, r.working_days) for r in overdue] == [("DEV-2", "ACKNOWLEDGE", 54)]


def test_escalations_breaches_and_violations_by_article(metrics):
    assert metrics.value("escalations/all") == 2
    assert metrics.value("escalations/step/1") == metrics.value("escalations/step/2") == 1
    assert metrics.value("escalations/month/2026-11/step/2") == 1
    assert refs(metrics, "escalated_items/step/2") == ["DEV-1"]        # once, at the highest step
    assert refs(metrics, "breaches/all") == ["DEV-2", "DEV-1", "CHG-1"]
    assert {a: metrics.value(f"breaches/{a}") for a in ("Art. 5", "Art. 7", "Art. 9")} == {
        "Art. 5": 1, "Art. 7": 1, "Art. 9": 1}
    assert refs(metrics, "violations/Art. 9") == ["CHG-1"] and metrics.value("warnings/Art. 12") == 1


def test_weekly_trend_buckets_by_deadline(metrics):
    assert metrics.trend_unit == "week" and metrics.buckets[0].key == "2026-W40"
    # Week 42 (12-18 Oct): DEV-1 acknowledge (12th) and notify (13th) met, DEV-2 acknowledge (16th) missed.
    week = metrics.figure("trend/2026-W42/all")
    assert (week.on_time, week.count) == (2, 3)
    assert metrics.figure("trend/2026-W42/deviation").refs == week.refs


def test_breakdowns_by_product_and_site(metrics):
    assert refs(metrics, "product/HA-AMX-500/opened") == ["DEV-1", "CHG-1", "PV-1"]
    assert refs(metrics, "site/SITE-SZ-02/open") == ["DEV-2", "OOS-1"]
    assert metrics.products == ["HA-AMX-500", "HA-ONS-2ML"]


def test_filters_keep_only_the_items_asked_for():
    fold = MetricsFold()
    fold.apply_all(quarter().records)
    only = compute(fold.items.values(), Q4, now=NOW, calendars=lambda _: CALENDAR,
                   scope=Scope(products=frozenset({"HA-ONS-2ML"})))
    assert [r.item_ref for r in only.figure("opened/all").refs] == ["OOS-1"]
    assert only.figure("on_time/all/all").count == 4      # DEV-2 N A, OOS-1 N A
    other = compute(fold.items.values(), Q4, now=NOW, calendars=lambda _: CALENDAR,
                    scope=Scope(agreements=("QA-OTHER",)))
    assert other.figures == {}


def test_a_past_quarter_is_counted_as_it_stood_at_its_end():
    fold = MetricsFold()
    fold.apply_all(quarter().records)
    q3 = compute(fold.items.values(), parse_period("2026Q3", "Asia/Shanghai"), now=NOW, calendars=lambda _: CALENDAR)
    assert q3.as_at == local("2026-10-01 00:00")
    assert [r.item_ref for r in q3.figure("opened/all").refs] == ["DEV-2"]
    # At the end of September DEV-2's acknowledgement was not yet due: open, not overdue.
    assert [r.outcome for r in q3.figure("open/all").refs] == ["open"] and q3.value("overdue/all") == 0


def test_working_days_count_make_up_days_and_skip_holidays():
    assert working_days_between(CALENDAR, local("2026-09-30 18:00"), local("2026-10-08 09:00")) == 1
    assert working_days_between(CALENDAR, local("2026-10-09 10:00"), local("2026-10-10 08:00")) == 1
    assert working_days_between(CALENDAR, local("2026-10-09 10:00"), local("2026-10-09 23:00")) == 0


def test_nearest_rank_percentiles_are_observed_values():
    assert nearest_rank([5, 1, 3, 2], 0.5) == 2 and nearest_rank([5, 1, 3, 2], 0.9) == 5
    assert nearest_rank([7], 0.9) == 7 and nearest_rank([], 0.5) is None


def test_the_json_carries_every_record_behind_a_figure(metrics):
    data = metrics.to_json()
    ack = data["figures"]["on_time/ACKNOWLEDGE/all"]
    assert (ack["on_time"], ack["count"], ack["rate"]) == (3, 4, 0.75)
    assert {r["item_ref"] for r in ack["records"]} == {"DEV-1", "DEV-2", "CHG-1", "OOS-1"}
    assert all(r["chain_seq"] > 0 and len(r["record_hash"]) == 64 for r in ack["records"])
    assert data["period"] == {"label": "2026Q4", "kind": "quarter", "first_day": "2026-10-01",
                              "last_day": "2026-12-31", "timezone": "Asia/Shanghai", "from": "2026-09-30T16:00:00Z",
                              "to": "2026-12-31T16:00:00Z", "end": "exclusive"}
