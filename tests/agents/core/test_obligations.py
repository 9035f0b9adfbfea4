"""The obligation engine: open, satisfy, breach, escalate, restore (agents/core/obligations)."""
import argparse
import io
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agents.core.agreements import AgreementSet
from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.model import Kind, ObligationSpec, State
from agents.core.obligations.openers import default_openers
from agents.cli import obligations as obligations_cli
from agents.core.obligations.openers import ITEM_OPENING_EVENTS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "agreements"
SH = ZoneInfo("Asia/Shanghai")
AID = "QA-TEST-FAST"
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)   # Monday 2 Mar 2026, 10:00 Shanghai
CMO = {"system": "QMS", "instance": "qms-cmo-x", "party_id": "CMO-X", "party_role": "MANUFACTURER"}
HOLDER = {"system": "QMS", "instance": "qms-holder-a", "party_id": "HOLDER-A", "party_role": "HOLDER"}


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def agreements():
    return AgreementSet.load_dir(FIXTURES)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def engine(agreements, clock):
    return ObligationEngine(agreements, clock)


def event(event_type, item="DEV-1", *, source=CMO, occurred=T0, published=T0, classification=None, **extra):
    return {
        "event_id": extra.pop("event_id", str(uuid.uuid4())),
        "event_type": event_type,
        "occurred_at": occurred,
        "published_at": published,
        "source": source,
        "agreement_id": extra.pop("agreement_id", AID),
        "holder_id": "HOLDER-A",
        "manufacturer_id": "CMO-X",
        "site_id": "SITE-1",
        "product": {"code": "A-INJ-1", "generic_name": "Examplamide Injection", "dosage_form": "injection",
                    "sterile": True},
        "item_ref": item,
        "classification": classification,
        "payload": {},
        **extra,
    }


def s(seconds):
    return T0 + timedelta(seconds=seconds)


def by_kind(changes, kind):
    return [c for c in changes if c.obligation.kind == kind]


def summary(changes):
    return [(c.action, c.obligation.kind.value, c.escalation.step if c.escalation else None) for c in changes]


# -- opening and satisfying -------------------------------------------------------------------
def test_critical_deviation_opens_notify_acknowledge_close(engine):
    # The CMO reports a critical deviation 10 s after it happened: in time (notify 60 s).
    changes = engine.on_event(event("deviation.reported", occurred=s(-10), classification="CRITICAL"))
    assert summary(changes) == [("opened", "NOTIFY", None), ("satisfied", "NOTIFY", None),
                                ("opened", "ACKNOWLEDGE", None), ("opened", "CLOSE", None)]
    ack = by_kind(changes, Kind.ACKNOWLEDGE)[0].obligation
    assert ack.due_at == s(30) and ack.responsible_party_role == "HOLDER" and ack.responsible_party_id == "HOLDER-A"
    close = by_kind(changes, Kind.CLOSE)[0].obligation
    assert close.due_at == s(290)                         # 300 s from occurred_at
    assert close.responsible_party_id == "CMO-X"
    assert {o.kind for o in engine.open_obligations()} == {Kind.ACKNOWLEDGE, Kind.CLOSE}


def test_working_day_deadlines_follow_the_calendar(engine):
    # A major deviation on Friday 13 Feb 2026, 10:00: notify within 3wd -> Wed 25 Feb 23:59:59.
    occurred = datetime(2026, 2, 13, 10, 0, tzinfo=SH)
    changes = engine.on_event(event("deviation.reported", occurred=occurred, published=occurred + timedelta(days=12),
                                    classification="MAJOR"))
    notify = by_kind(changes, Kind.NOTIFY)[-1].obligation
    assert notify.due_at == datetime(2026, 2, 25, 23, 59, 59, tzinfo=SH)
    assert notify.state == State.SATISFIED and not notify.late
    assert "3 working days from occurred_at" in notify.basis


def test_late_notification_is_a_breach_at_once(engine):
    # Reported 2 minutes after it happened; critical allows 60 s.
    changes = engine.on_event(event("deviation.reported", occurred=s(-120), classification="CRITICAL"))
    notify = by_kind(changes, Kind.NOTIFY)
    assert [c.action for c in notify] == ["opened", "breached", "satisfied"]
    breach = notify[1]
    assert breach.breach == "late_notification" and breach.obligation.late
    assert "late notification" in breach.reason and "1m late" in breach.reason
    assert breach.obligation.rule == "Art. 7"
    assert not any(o.kind == Kind.NOTIFY for o in engine.open_obligations())


def test_acknowledgement_by_the_holder_satisfies_and_by_the_cmo_does_not(engine):
    engine.on_event(event("deviation.reported", classification="CRITICAL"))
    assert engine.on_event(event("deviation.acknowledged", published=s(5))) == []      # CMO's own ack
    changes = engine.on_event(event("deviation.acknowledged", source=HOLDER, published=s(6), event_id="ack-1"))
    assert summary(changes) == [("satisfied", "ACKNOWLEDGE", None)]
    assert changes[0].obligation.satisfied_by_event_id == "ack-1" and not changes[0].obligation.late
    # Another item's acknowledgement touches nothing.
    assert engine.on_event(event("deviation.closed", item="DEV-2", published=s(7))) == []
    assert summary(engine.on_event(event("deviation.closed", published=s(8)))) == [("satisfied", "CLOSE", None)]
    assert engine.open_obligations() == []


def test_change_proposal_needs_the_holders_decision(engine):
    changes = engine.on_event(event("change.proposed", item="CHG-1"))
    approve = by_kind(changes, Kind.APPROVE)[0].obligation
    assert approve.responsible_party_role == "HOLDER" and approve.due_at == s(60) and approve.rule == "Art. 9"
    # The holder's approval also shows it has taken the proposal in: both obligations satisfied.
    done = engine.on_event(event("change.approved", item="CHG-1", source=HOLDER, published=s(20)))
    assert sorted(c.obligation.kind.value for c in done) == ["ACKNOWLEDGE", "APPROVE"]


@pytest.mark.parametrize("event_type,category", sorted(ITEM_OPENING_EVENTS.items()))
def test_every_category_opening_event_opens_the_communication_list(engine, event_type, category):
    changes = engine.on_event(event(event_type, item=f"{category}-1"))
    kinds = {c.obligation.kind for c in changes}
    assert {Kind.NOTIFY, Kind.ACKNOWLEDGE} <= kinds
    assert all(c.obligation.category == category for c in changes)


def test_pharmacovigilance_request_runs_from_holder_to_cmo(engine):
    changes = engine.on_event(event("pharmacovigilance.request_sent", item="PV-1", source=HOLDER))
    assert by_kind(changes, Kind.NOTIFY)[0].obligation.responsible_party_role == "HOLDER"
    ack = by_kind(changes, Kind.ACKNOWLEDGE)[0].obligation
    assert ack.responsible_party_role == "MANUFACTURER" and ack.satisfier_role == "MANUFACTURER"


def test_replayed_event_opens_nothing_twice(engine):
    e = event("deviation.reported", classification="CRITICAL")
    first = engine.on_event(e)
    assert engine.on_event(dict(e)) == []
    assert len(engine) == 2 and len(first) == 4


def test_december_deadline_carries_the_calendar_note(engine):
    # Major: acknowledge within 2wd of publication on Thu 31 Dec 2026 -> into 2027 (estimated).
    late_dec = datetime(2026, 12, 31, 10, 0, tzinfo=SH)
    changes = engine.on_event(event("deviation.reported", occurred=late_dec, published=late_dec,
                                    classification="MAJOR"))
    ack_change = by_kind(changes, Kind.ACKNOWLEDGE)[0]
    ack = ack_change.obligation
    assert ack.due_at.astimezone(SH).year == 2027
    assert ack.calendar_note == ("2027 working days estimated from statutory holidays; "
                                 "official make-up days not yet known")
    assert ack_change.to_payload()["calendar_note"] == ack.calendar_note
    # Calendar-day deadlines do not depend on the holiday arrangement: no note.
    assert by_kind(changes, Kind.CLOSE)[0].obligation.calendar_note is None


def test_new_agreement_version_applies_from_its_effective_time(engine, agreements):
    v2_from = agreements.version(AID, 2).effective_from
    before = engine.on_event(event("deviation.reported", item="DEV-OLD", occurred=v2_from - timedelta(seconds=5),
                                   published=v2_from - timedelta(seconds=1), classification="CRITICAL"))
    after = engine.on_event(event("deviation.reported", item="DEV-NEW", occurred=v2_from,
                                  published=v2_from + timedelta(seconds=1), classification="CRITICAL"))
    old_ack = by_kind(before, Kind.ACKNOWLEDGE)[0].obligation
    new_ack = by_kind(after, Kind.ACKNOWLEDGE)[0].obligation
    assert (old_ack.agreement_version, old_ack.due_at - old_ack.start_at) == (1, timedelta(seconds=30))
    assert (new_ack.agreement_version, new_ack.due_at - new_ack.start_at) == (2, timedelta(seconds=15))
    # The old obligation keeps its own version's ladder: second step 10 s after, not 5 s.
    fired = engine.tick(old_ack.due_at + timedelta(seconds=7))
    old_steps = [c.escalation.step for c in fired if c.escalation and c.obligation.item_ref == "DEV-OLD"]
    assert old_steps == [1]


# -- escalation -------------------------------------------------------------------------------
def test_escalation_steps_fire_in_order_at_their_times(engine, clock):
    # Critical deviation at T0: the holder must acknowledge by T0+30 s. Ladder: 0 s, 10 s, 20 s.
    engine.on_event(event("deviation.reported", classification="CRITICAL"))
    assert engine.tick(s(29)) == []
    at_due = engine.tick(s(30))
    assert summary(at_due) == [("breached", "ACKNOWLEDGE", None), ("escalated", "ACKNOWLEDGE", 1)]
    assert at_due[1].at == s(30)
    first = at_due[1].escalation
    assert (first.role, first.channel, first.page) == ("communication", "email", False)
    assert [r["email"] for r in first.recipients] == ["liaison@holder-a.example"]   # the holder's liaison
    assert engine.tick(s(39)) == []
    second = engine.tick(s(40))
    assert summary(second) == [("escalated", "ACKNOWLEDGE", 2)]
    assert second[0].escalation.recipients[0]["email"] == "hoq@holder-a.example"
    third = engine.tick(s(55))
    assert summary(third) == [("escalated", "ACKNOWLEDGE", 3)]
    assert third[0].escalation.page and third[0].escalation.channel == "pagerduty"
    assert third[0].at == s(50)
    assert engine.get(third[0].obligation.obligation_id).state == State.ESCALATED
    # The acknowledgement's ladder is spent; only the close deadline (T0+300 s) is left to fire.
    rest = engine.tick(s(10_000))
    assert rest and all(c.obligation.kind == Kind.CLOSE for c in rest)


def test_a_late_tick_fires_every_missed_step_once_in_order(engine):
    engine.on_event(event("deviation.reported", classification="CRITICAL"))
    fired = [c for c in engine.tick(s(100)) if c.obligation.kind == Kind.ACKNOWLEDGE]
    assert summary(fired) == [("breached", "ACKNOWLEDGE", None), ("escalated", "ACKNOWLEDGE", 1),
                              ("escalated", "ACKNOWLEDGE", 2), ("escalated", "ACKNOWLEDGE", 3)]
    assert [c.at for c in fired] == [s(30), s(30), s(40), s(50)]


def test_acknowledgement_stops_the_ladder(engine):
    engine.on_event(event("deviation.reported", classification="CRITICAL"))
    assert [c.action for c in engine.tick(s(31))] == ["breached", "escalated"]
    done = engine.on_event(event("deviation.acknowledged", source=HOLDER, published=s(33)))
    assert done[0].action == "satisfied" and done[0].obligation.late
    assert [c for c in engine.tick(s(60)) if c.obligation.kind == Kind.ACKNOWLEDGE] == []


def test_no_step_ever_fires_twice(engine):
    engine.on_event(event("deviation.reported", classification="CRITICAL"))
    fired = []
    for second in (30, 30, 31, 40, 40, 45, 50, 51, 200, 200, 400):
        fired += engine.tick(s(second))
    keys = [(c.obligation.obligation_id, c.action, c.escalation.step if c.escalation else None) for c in fired]
    assert len(keys) == len(set(keys))
    assert engine.tick(s(10_000)) == []


# -- restore from the ledger ------------------------------------------------------------------
def test_restore_rebuilds_the_same_open_set_and_next_firing(agreements):
    original = ObligationEngine(agreements, Clock())
    ledger = []
    ledger += original.on_event(event("deviation.reported", item="DEV-1", classification="CRITICAL"))
    ledger += original.on_event(event("deviation.reported", item="DEV-2", classification="MAJOR"))
    ledger += original.on_event(event("change.proposed", item="CHG-1"))
    ledger += original.tick(s(41))                                   # DEV-1 ack at step 2, CHG-1 ack at step 2
    ledger += original.on_event(event("change.approved", item="CHG-1", source=HOLDER, published=s(42)))

    # A restarted worker reads the ledger (as JSON, as it would be stored) and rebuilds.
    restored = ObligationEngine(agreements, Clock())
    restored.restore(json.loads(c.to_json()) for c in ledger)

    def state(engine):
        return [(o.obligation_id, o.state, o.ladder_step, o.due_at) for o in engine.open_obligations()]

    assert state(restored) == state(original)
    assert restored.next_firing() == original.next_firing()
    assert restored.next_firing()[0] == s(50)                         # DEV-1's third step
    # From here both fire the same steps, and nothing that already fired fires again.
    later = lambda e: [(c.obligation.obligation_id, c.action, c.escalation and c.escalation.step)
                       for c in e.tick(s(400))]
    assert later(restored) == later(original)
    assert not any(step in (1, 2) for _, action, step in later(restored) if action == "escalated")


def test_a_crash_between_opened_and_satisfied_is_finished_on_replay(agreements):
    """The notification opens NOTIFY and satisfies it at once; if only 'opened' reached the
    ledger before a crash, replaying the event must satisfy it, not leave it open forever."""
    original = ObligationEngine(agreements, Clock())
    report = event("deviation.reported", item="DEV-9", classification="MAJOR")
    changes = original.on_event(report)
    notify_opened = [c for c in changes if c.obligation.kind is Kind.NOTIFY and c.action == "opened"]
    before_crash = [c for c in changes if not (c.obligation.kind is Kind.NOTIFY and c.action == "satisfied")]
    restored = ObligationEngine(agreements, Clock())
    restored.restore(json.loads(c.to_json()) for c in before_crash)
    assert Kind.NOTIFY in {o.kind for o in restored.open_obligations()}
    finished = restored.on_event(report)                                 # the replay after restart
    assert [(c.obligation.kind, c.action) for c in finished] == [(Kind.NOTIFY, "satisfied")]
    assert finished[0].obligation.obligation_id == notify_opened[0].obligation.obligation_id
    assert Kind.NOTIFY not in {o.kind for o in restored.open_obligations()}
    assert restored.on_event(report) == []                               # and only once


def test_restore_of_satisfied_obligations_keeps_them_closed(agreements):
    original = ObligationEngine(agreements, Clock())
    ledger = original.on_event(event("deviation.reported", classification="CRITICAL", event_id="open-1"))
    ledger += original.on_event(event("deviation.acknowledged", source=HOLDER, published=s(3)))
    restored = ObligationEngine(agreements, Clock())
    restored.restore(ledger)
    assert [o.kind for o in restored.open_obligations()] == [Kind.CLOSE]
    # A redelivered opening event after the restart does not reopen anything.
    assert restored.on_event(event("deviation.reported", classification="CRITICAL", event_id="open-1")) == []


# -- cost of a tick ---------------------------------------------------------------------------
def _load(engine, n, due_seconds, prefix):
    for i in range(n):
        engine.on_event(event("deviation.reported", item=f"{prefix}-{i}", classification="CRITICAL",
                              published=s(due_seconds - 30)))


@pytest.mark.parametrize("far_future", [10, 2000])
def test_tick_cost_is_independent_of_how_many_are_open(agreements, far_future):
    engine = ObligationEngine(agreements, Clock())
    _load(engine, 5, 30, "SOON")            # 5 acknowledgements due at T0+30 s
    # Many more open obligations, due next week (acknowledge 2wd for MAJOR).
    for i in range(far_future):
        engine.on_event(event("deviation.reported", item=f"LATER-{i}", classification="MAJOR"))
    before = engine.stats.heap_pops
    fired = engine.tick(s(30))
    # 5 deadlines + their first ladder step (0 s after): 10 entries taken off the heap, whatever is open.
    assert engine.stats.heap_pops - before == 10
    assert len(fired) == 10
    assert len(engine) >= 2 * far_future


def test_satisfied_obligations_cost_nothing_until_their_time(agreements):
    engine = ObligationEngine(agreements, Clock())
    _load(engine, 50, 30, "DEV")
    for i in range(50):
        engine.on_event(event("deviation.acknowledged", item=f"DEV-{i}", source=HOLDER, published=s(1)))
    assert engine.tick(s(29)) == [] and engine.stats.heap_pops == 0
    engine.tick(s(31))
    assert engine.stats.heap_pops == 50 and engine.stats.stale_pops == 50     # skipped lazily, once each


# -- extensibility and corrections ------------------------------------------------------------
def test_rules_can_register_openers_and_a_failing_one_does_not_stop_the_others(agreements, caplog):
    registry = default_openers()

    @registry.register
    def batch_release(event, agreement, calendar):   # e.g. Art. 12 records at factory release
        if event["event_type"] != "batch_release.factory_released":
            return []
        due, note = calendar.add(event["published_at"], 1, "wd")
        return [ObligationSpec(kind=Kind.SUBMIT, category="batch_release", responsible_party_role="MANUFACTURER",
                               due_at=due, deadline="1wd", starts_from="published_at",
                               start_at=event["published_at"], rule="Art. 12",
                               satisfied_by=("batch_release.records_submitted",), calendar_note=note,
                               description="The manufacturer must hand over the batch records")]

    @registry.register
    def broken(event, agreement, calendar):
        raise RuntimeError("boom")

    engine = ObligationEngine(agreements, Clock(), registry)
    changes = engine.on_event(event("batch_release.factory_released", item="B-001"))
    assert [(c.obligation.kind, c.obligation.rule) for c in changes] == [(Kind.SUBMIT, "Art. 12")]
    assert changes[0].obligation.description == "The manufacturer must hand over the batch records"
    assert "opener broken failed" in caplog.text
    # A restarted worker keeps the rule's wording and satisfying events.
    restored = ObligationEngine(agreements, Clock(), registry)
    restored.restore([json.loads(changes[0].to_json())])
    [again] = restored.open_obligations()
    assert again.description == "The manufacturer must hand over the batch records"
    assert again.satisfied_by == ("batch_release.records_submitted",)
    assert summary(engine.on_event(event("batch_release.records_submitted", item="B-001"))) == [
        ("satisfied", "SUBMIT", None)]


def test_a_correction_replaces_deadlines_without_a_second_notification(engine):
    engine.on_event(event("deviation.reported", classification="MAJOR", event_id="orig"))
    changes = engine.on_event(event("deviation.reported", classification="CRITICAL", event_id="fix",
                                    corrects_event_id="orig", published=s(2)))
    assert sorted((c.action, c.obligation.kind.value) for c in changes) == [
        ("cancelled", "ACKNOWLEDGE"), ("cancelled", "CLOSE"), ("opened", "ACKNOWLEDGE"), ("opened", "CLOSE")]
    ack = [o for o in engine.open_obligations() if o.kind == Kind.ACKNOWLEDGE][0]
    assert ack.due_at == s(32) and ack.classification == "CRITICAL"


def test_unknown_agreement_opens_nothing(engine):
    assert engine.on_event(event("deviation.reported", agreement_id="QA-NOPE")) == []


# -- payloads ---------------------------------------------------------------------------------
def test_change_payload_fields(engine):
    engine.on_event(event("deviation.reported", classification="CRITICAL"))
    escalation = [c for c in engine.tick(s(30)) if c.action == "escalated"][0]
    assert escalation.event_type == "escalation.raised"
    payload = escalation.to_payload()
    for name in ("obligation_id", "kind", "responsible_party_role", "responsible_party_id", "description",
                 "due_at", "basis", "calendar_note", "satisfied_by_event_id", "ladder_step", "rule",
                 "step", "role", "channel", "page", "reason"):
        assert name in payload, name
    assert payload["description"] == "The holder must acknowledge deviation DEV-1 (CRITICAL)"
    assert payload["due_at"] == s(30) and payload["step"] == 1 and payload["ladder_step"] == 1
    assert "overdue by" in payload["reason"]


def test_obligation_ids_are_deterministic(agreements):
    e = event("deviation.reported", classification="CRITICAL", event_id="same")
    a = ObligationEngine(agreements, Clock()).on_event(e)
    b = ObligationEngine(agreements, Clock()).on_event(dict(e))
    assert [c.obligation.obligation_id for c in a] == [c.obligation.obligation_id for c in b]


# -- the obligations CLI ----------------------------------------------------------------------
def test_format_table(engine):
    engine.on_event(event("deviation.reported", classification="CRITICAL"))
    engine.tick(s(45))
    table = obligations_cli.format_table(engine.open_obligations(), s(45), "Asia/Shanghai")
    header, ack_row, close_row = table.splitlines()
    assert header.split() == ["AGREEMENT", "ITEM", "KIND", "RESPONSIBLE", "DUE", "(LOCAL)", "STEP", "OVERDUE", "BY"]
    assert ack_row.split() == ["QA-TEST-FAST", "DEV-1", "ACKNOWLEDGE", "HOLDER", "HOLDER-A",
                               "2026-03-02", "10:00", "CST", "2", "15s"]
    assert close_row.split()[2] == "CLOSE" and close_row.split()[-1] == "-"
    assert obligations_cli.format_table([], s(0)) == "no open obligations"


def test_cli_reads_a_replay_file(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("QBUS_STATE_DIR", str(tmp_path / "no-ledger-here"))  # not the checkout's var/
    ledger = engine.on_event(event("deviation.reported", classification="CRITICAL"))
    ledger += engine.tick(s(45))
    replay = tmp_path / "replay.jsonl"
    replay.write_text("\n".join(json.dumps({"event_type": c.event_type, "payload": json.loads(c.to_json())})
                                for c in ledger) + "\n")
    parser = argparse.ArgumentParser(prog="qbus")
    obligations_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["obligations", "--from-file", str(replay), "--overdue", "--agreements",
                              str(FIXTURES), "--now", s(45).isoformat()])
    args.stdout = io.StringIO()
    assert args.func(args) == 0
    lines = args.stdout.getvalue().splitlines()
    assert len(lines) == 2 and "ACKNOWLEDGE" in lines[1]
    args = parser.parse_args(["obligations"])
    assert args.func(args) == 2


def test_closed_ids_are_forgotten_after_the_retention(agreements):
    engine = ObligationEngine(agreements, Clock(), closed_retention=timedelta(days=1))
    e = event("deviation.reported", classification="CRITICAL", event_id="old")
    notify_id = by_kind(engine.on_event(e), Kind.NOTIFY)[0].obligation.obligation_id
    assert engine.is_closed(notify_id)
    engine.tick(s(86_400 - 60))
    assert engine.is_closed(notify_id)
    engine.tick(s(86_400 + 60))
    assert not engine.is_closed(notify_id)


def test_cli_uses_an_installed_source(engine):
    engine.on_event(event("deviation.reported", classification="CRITICAL"))
    parser = argparse.ArgumentParser(prog="qbus")
    obligations_cli.register(parser.add_subparsers(dest="command"))
    obligations_cli.set_source(lambda args: engine.open_obligations())
    try:
        args = parser.parse_args(["obligations", "--agreement", AID, "--now", s(1).isoformat()])
        args.stdout = io.StringIO()
        assert args.func(args) == 0
        assert [l.split()[2] for l in args.stdout.getvalue().splitlines()[1:]] == ["ACKNOWLEDGE", "CLOSE"]
        args = parser.parse_args(["obligations", "--agreement", "OTHER"])
        args.stdout = io.StringIO()
        args.func(args)
        assert args.stdout.getvalue().strip() == "no open obligations"
    finally:
        obligations_cli.set_source(None)
