"""Snapshots of the obligation engine: what they keep, what they refuse, and the clocks after a
restart (agents/core/obligations/snapshot.py)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.core.agreements import AgreementSet
from agents.core.obligations import snapshot as snapshot_module
from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.model import Change, Kind, ObligationSpec, State
from agents.core.obligations.openers import default_openers
from agents.core.obligations.snapshot import SnapshotInvalid
from tests.agents.core.obligations.scenario import FIXTURES, HOLDER, Clock, agreements, event, fired, s, state


def critical_deviation_ledger(item: str = "DEV-1") -> tuple[ObligationEngine, list[Change]]:
    # Critical: the holder acknowledges within 30 s; ladder at +0 s, +10 s, +20 s; close in 300 s.
    live = ObligationEngine(agreements(), Clock())
    return live, live.on_event(event("deviation.reported", item, classification="CRITICAL", batch_no="B-7"))


@pytest.mark.clause("Art. 7")
@pytest.mark.parametrize("rebuild", ["restore", "snapshot"])
def test_a_timer_due_while_the_worker_was_down_fires_once(rebuild):
    live, ledger = critical_deviation_ledger()
    # The worker stops at T0 + 1 s and comes back at T0 + 100 s.
    if rebuild == "restore":
        back = ObligationEngine(agreements(), Clock(s(100)))
        back.restore(ledger)
    else:
        back = ObligationEngine.from_snapshot(live.snapshot(), agreements(), Clock(s(100)))
    missed = [c for c in back.tick(s(100)) if c.obligation.kind == Kind.ACKNOWLEDGE]
    # The deadline and every ladder step that passed meanwhile, each once, at their own times.
    assert [(c.action, c.escalation and c.escalation.step, c.at) for c in missed] == [
        ("breached", None, s(30)), ("escalated", 1, s(30)), ("escalated", 2, s(40)), ("escalated", 3, s(50))]
    assert back.tick(s(100)) == [] and back.tick(s(101)) == []
    # The close deadline (T0 + 300 s) is still to come, and climbs its own ladder once.
    assert [(c.obligation.kind, c.action, c.at) for c in back.tick(s(400))] == [
        (Kind.CLOSE, "breached", s(300)), (Kind.CLOSE, "escalated", s(300)), (Kind.CLOSE, "escalated", s(310)),
        (Kind.CLOSE, "escalated", s(320))]
    assert back.tick(s(10_000)) == []


def test_ladder_steps_recorded_before_the_snapshot_never_fire_again():
    live, _ = critical_deviation_ledger()
    live.tick(s(41))                                              # breached, steps 1 and 2
    back = ObligationEngine.from_snapshot(live.snapshot(), agreements(), Clock(s(41)))
    assert back.next_firing() == live.next_firing()
    assert [c.escalation.step for c in back.tick(s(60)) if c.escalation] == [3]


def test_a_snapshot_keeps_ids_wording_contexts_and_closed_ids():
    registry = default_openers()

    @registry.register
    def records_due(e, agreement, calendar):   # a rule's own wording, on an id that is no UUID
        if e["event_type"] != "batch_release.factory_released":
            return []
        return [ObligationSpec(kind=Kind.SUBMIT, category="batch_release", responsible_party_role="MANUFACTURER",
                               due_at=e["published_at"] + timedelta(hours=1), deadline="1h",
                               starts_from="published_at", start_at=e["published_at"], rule="Art. 12",
                               satisfied_by=("batch_release.records_submitted",),
                               description=f"Hand over the records of batch {e['batch_no']}")]

    live = ObligationEngine(agreements(), Clock(), registry)
    live.on_event(event("batch_release.factory_released", "B-001", batch_no="B-001", event_id="release-1"))
    live.on_event(event("deviation.reported", "DEV-9", classification="CRITICAL", event_id="dev-9"))
    live.on_event(event("deviation.acknowledged", "DEV-9", source=HOLDER, published=s(3)))
    back = ObligationEngine.from_snapshot(live.snapshot(), agreements(), Clock(), registry)
    assert state(back, s(5)) == state(live, s(5))
    [release] = [o for o in back.open_obligations() if o.kind == Kind.SUBMIT]
    assert release.description == "Hand over the records of batch B-001"
    assert release.opened_by_event_id == "release-1"
    assert back.context_for(release)["batch_no"] == "B-001"
    # The acknowledged obligation is remembered as closed: its opening event, redelivered, opens nothing.
    assert back.on_event(event("deviation.reported", "DEV-9", classification="CRITICAL", event_id="dev-9")) == []


def test_a_snapshot_loaded_into_a_running_engine_replaces_its_state():
    live, _ = critical_deviation_ledger("DEV-1")
    other, _ = critical_deviation_ledger("DEV-2")
    assert other.load_snapshot(live.snapshot()) == 2
    assert {o.item_ref for o in other.open_obligations()} == {"DEV-1"}
    assert fired(other.tick(s(400))) == fired(live.tick(s(400)))


def test_an_empty_engine_round_trips():
    empty = ObligationEngine(agreements(), Clock())
    back = ObligationEngine.from_snapshot(empty.snapshot(), agreements(), Clock())
    assert len(back) == 0 and back.next_firing() is None and back.counts(s(1)) == {}


def test_a_snapshot_counted_over_another_due_soon_window_is_refused():
    live, _ = critical_deviation_ledger()
    with pytest.raises(SnapshotInvalid, match="due soon"):
        ObligationEngine.from_snapshot(live.snapshot(), agreements(), Clock(), due_soon=timedelta(hours=1))


def test_other_formats_and_byte_orders_are_refused(monkeypatch):
    live, _ = critical_deviation_ledger()
    data = live.snapshot()
    with pytest.raises(SnapshotInvalid, match="format 99"):
        live.load_snapshot(data[:8] + (99).to_bytes(2, "big") + data[10:])
    with pytest.raises(SnapshotInvalid, match="magic"):
        live.load_snapshot(b"NOTASNAP" + data[8:])
    monkeypatch.setattr(snapshot_module.sys, "byteorder", "big" if snapshot_module.sys.byteorder == "little"
                        else "little")
    with pytest.raises(SnapshotInvalid, match="endian"):
        live.load_snapshot(data)


def test_a_compressed_snapshot_loads_the_same():
    live, _ = critical_deviation_ledger()
    live.tick(s(31))
    data = snapshot_module.encode(live, compress=True)
    back = ObligationEngine.from_snapshot(data, agreements(), Clock(s(31)))
    assert state(back, s(31)) == state(live, s(31))
    assert all(o.state in (State.OPEN, State.ESCALATED) for o in back.open_obligations())


@pytest.fixture
def working_day_ladder(tmp_path):
    # The fast agreement with its later ladder steps one and two working days after the deadline.
    text = (FIXTURES / "fast_v1.yaml").read_text(encoding="utf-8")
    text = text.replace("{after: 10s, role: head_of_quality", "{after: 1wd, role: head_of_quality")
    text = text.replace("{after: 20s, role: qa_on_call", "{after: 2wd, role: qa_on_call")
    (tmp_path / "fast.yaml").write_text(text, encoding="utf-8")
    return AgreementSet.load_dir(tmp_path)


@pytest.mark.parametrize("rebuild", ["restore", "snapshot"])
def test_a_working_day_ladder_step_keeps_its_calendar_time(working_day_ladder, rebuild):
    live = ObligationEngine(working_day_ladder, Clock())
    ledger = live.on_event(event("deviation.reported", classification="CRITICAL"))
    ledger += live.tick(s(31))                                   # breached, step 1
    if rebuild == "restore":
        back = ObligationEngine(working_day_ladder, Clock(s(31)))
        back.restore(ledger)
    else:
        back = ObligationEngine.from_snapshot(live.snapshot(), working_day_ladder, Clock(s(31)))
    # Due Monday 2 Mar 10:00:30 Shanghai; one working day later ends Tuesday 23:59:59 local.
    step_two = datetime(2026, 3, 3, 23, 59, 59, tzinfo=ZoneInfo("Asia/Shanghai"))

    def acks(changes):
        return [c for c in changes if c.obligation.kind == Kind.ACKNOWLEDGE]

    assert acks(back.tick(step_two - timedelta(seconds=1))) == []
    [second] = acks(back.tick(step_two))
    assert (second.escalation.step, second.at) == (2, step_two)
