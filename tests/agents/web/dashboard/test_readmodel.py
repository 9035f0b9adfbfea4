"""The read model: ledger records folded into counts, lifecycles, work queues and batch readiness."""
from datetime import timedelta

import pytest

from agents.web.dashboard.readmodel import OVERVIEW_CATEGORIES, ReadModel
from tests.agents.web.dashboard.factory import A, B, dead_letter, escalation, event, later, now, obligation


@pytest.fixture
def fold(ledger):
    """fold(*events) appends them to a real ledger and returns a model that has read it all."""
    model = ReadModel()

    def run(*items):
        ledger.append(items)
        model.apply_all(ledger.iter(since=model.last_seq))
        return model
    return run


def count(model, agreement, category, at=None):
    return next(c for c in model.counts(agreement, at or now()) if c.category == category)


def test_overview_counts_open_due_soon_and_overdue_per_category(fold):
    # Three deviations: one with an acknowledgement due in 2 h, one overdue, one closed.
    soon, late, done = (event("deviation", "reported") for _ in range(3))
    model = fold(soon, obligation("opened", soon, due_at=later(2)),
                 late, obligation("opened", late, due_at=later(-1)),
                 done, event("deviation", "closed", item_ref=done["item_ref"]))
    deviations = count(model, A, "deviation")
    assert (deviations.open, deviations.due_soon, deviations.overdue) == (2, 1, 1)
    assert deviations.level == "overdue"
    # Every overview category has a row, the empty ones at zero.
    assert [c.category for c in model.counts(A, now())] == list(OVERVIEW_CATEGORIES)
    assert count(model, A, "oos_oot").level == "none"


def test_an_item_counts_once_in_its_worst_state(fold):
    dev = event("deviation", "reported")
    model = fold(dev, obligation("opened", dev, due_at=later(-3), obligation_id="ack"),
                 obligation("opened", dev, kind="CLOSE", responsible="MANUFACTURER", due_at=later(5),
                            obligation_id="close"))
    row = count(model, A, "deviation")
    assert (row.open, row.due_soon, row.overdue) == (1, 0, 1)


def test_item_lifecycle_keeps_events_obligations_escalations_and_acknowledgements(fold):
    dev = event("deviation", "reported", item_ref="DEV-1")
    due = later(-2)
    opened = obligation("opened", dev, due_at=due, obligation_id="OB-1")
    model = fold(dev, opened,
                 obligation("breached", dev, due_at=due, obligation_id="OB-1"),
                 escalation(dev, "OB-1", step=1, due_at=due),
                 event("deviation", "acknowledged", item_ref="DEV-1", by="HOLDER", user="zhang.min"),
                 obligation("satisfied", dev, due_at=due, obligation_id="OB-1"))
    item = model.item(A, "DEV-1")
    assert [e.event_type for e in item.entries] == [
        "deviation.reported", "obligation.opened", "obligation.breached", "escalation.raised",
        "deviation.acknowledged", "obligation.satisfied"]
    assert [e.seq for e in item.entries] == sorted(e.seq for e in item.entries)
    ob = item.obligations["OB-1"]
    assert ob.state == "SATISFIED" and ob.ladder_step == 1 and not ob.is_open
    assert item.escalations[0].role == "holder.head_of_quality"
    assert item.acknowledged_by["HOLDER"].user == "zhang.min"
    assert all(len(e.hash) == 64 for e in item.entries)


def test_obligation_records_in_the_engine_shape_are_read_too(fold):
    dev = event("deviation", "reported")
    record = obligation("opened", dev, due_at=later(3), obligation_id="ENG-1")
    payload = record["payload"]
    payload["responsible_party_role"] = payload.pop("responsible_role")
    payload.update(state="OPEN", category="deviation")
    model = fold(dev, record)
    ob = model.item(A, dev["item_ref"]).obligations["ENG-1"]
    assert ob.responsible_role == "HOLDER" and ob.urgency(now()) == "due_soon"


def test_a_late_duplicate_never_reopens_a_finished_obligation(fold):
    dev = event("deviation", "reported")
    opened = obligation("opened", dev, due_at=later(1), obligation_id="OB-2")
    satisfied = obligation("satisfied", dev, due_at=later(1), obligation_id="OB-2")
    replay = dict(opened, event_id="replayed-" + opened["event_id"])
    model = fold(dev, opened, satisfied, replay)
    assert model.item(A, dev["item_ref"]).obligations["OB-2"].state == "SATISFIED"


def test_change_waits_for_the_holder_decision_until_approved(fold):
    change = event("change", "proposed")
    model = fold(change)
    assert [i.item_ref for i in model.approvals([A])] == [change["item_ref"]]
    model = fold(event("change", "approved", item_ref=change["item_ref"], by="HOLDER"))
    assert model.approvals([A]) == []
    assert model.item(A, change["item_ref"]).decision.event_type == "change.approved"


def test_acknowledgement_queue_follows_obligations_when_there_are_any(fold):
    # Without obligation records: anything the manufacturer opened waits for the holder.
    plain = event("oos_oot", "reported")
    # With one: the obligation decides (here the manufacturer must act, so not the holder's queue).
    tracked = event("deviation", "reported")
    model = fold(plain, tracked, obligation("opened", tracked, due_at=later(5), responsible="MANUFACTURER"))
    assert [i.item_ref for i in model.acknowledgements([A], "HOLDER")] == [plain["item_ref"]]
    model = fold(event("oos_oot", "acknowledged", item_ref=plain["item_ref"], by="HOLDER"))
    assert model.acknowledgements([A], "HOLDER") == []


def test_holder_requests_wait_for_the_manufacturer(fold):
    request = event("pharmacovigilance", "request_sent", by="HOLDER")
    model = fold(request)
    assert [i.item_ref for i in model.acknowledgements([A], "MANUFACTURER")] == [request["item_ref"]]
    assert model.acknowledgements([A], "HOLDER") == []


def test_coline_notice_waits_for_holder_feedback(fold):
    notice = event("coline_change", "notified")
    model = fold(notice)
    assert [i.item_ref for i in model.coline_feedback([A])] == [notice["item_ref"]]
    model = fold(event("coline_change", "feedback_given", item_ref=notice["item_ref"], by="HOLDER"))
    assert model.coline_feedback([A]) == []


def test_batch_is_blocked_while_a_deviation_on_it_is_open(fold):
    release = event("batch_release", "factory_released", item_ref="BR-2611-03", batch_no="2611-03")
    dev = event("deviation", "reported", batch_no="2611-03", payload={"affected_batches": ["2611-03"]})
    model = fold(release, dev)
    (row,) = model.batch_readiness(A)
    assert row.status == "blocked" and [i.item_ref for i in row.open_issues] == [dev["item_ref"]]
    assert row.batch.qp_name and row.missing_records == []
    model = fold(event("deviation", "closed", item_ref=dev["item_ref"], batch_no="2611-03"))
    (row,) = model.batch_readiness(A)
    assert row.status == "ready" and row.open_issues == []


def test_batch_with_missing_records_is_blocked(fold):
    release = event("batch_release", "factory_released", batch_no="2611-09", payload={"test_record_ref": None})
    (row,) = fold(release).batch_readiness(A)
    assert row.status == "blocked" and row.missing_records == ["test_record"]


def test_each_party_sees_only_its_own_agreements(fold):
    model = fold(event("deviation", "reported", A), event("deviation", "reported", B))
    assert model.visible_agreements("HOLDER-A", "HOLDER") == [A]
    assert model.visible_agreements("HOLDER-B", "HOLDER") == [B]
    assert model.visible_agreements("CMO-X", "MANUFACTURER") == [A, B]
    # A holder role never sees an agreement through the manufacturer side, nor the other way round.
    assert model.visible_agreements("CMO-X", "HOLDER") == []
    assert model.visible_agreements("HOLDER-A", None) == [A]
    assert not model.can_see("HOLDER-B", "HOLDER", A)


def test_ownership_is_not_changed_by_a_later_event(fold):
    model = fold(event("deviation", "reported", A))
    stray = event("deviation", "reported", A)
    stray["holder_id"] = "HOLDER-B"
    model = fold(stray)
    assert model.visible_agreements("HOLDER-B", "HOLDER") == []


def test_time_alone_moves_an_obligation_into_due_soon_and_overdue(fold):
    dev = event("deviation", "reported")
    model = fold(dev, obligation("opened", dev, due_at=later(30)))
    start = now()
    assert model.crossed(start, start + timedelta(hours=1)) == set()
    assert model.crossed(start + timedelta(hours=1), start + timedelta(hours=7)) == {A}     # due within 24 h
    assert model.crossed(start + timedelta(hours=7), start + timedelta(hours=31)) == {A}    # overdue
    assert count(model, A, "deviation", start + timedelta(hours=31)).overdue == 1


def test_a_refused_event_is_noted_by_its_event_id(fold):
    model = fold(dead_letter("evt-123", A, reason="payload.decision_reason: too long"))
    assert model.dead_letters["evt-123"].reason == "payload.decision_reason: too long"


def test_folding_twice_changes_nothing(ledger):
    dev = event("deviation", "reported")
    ledger.append([dev])
    model = ReadModel()
    model.apply_all(ledger.iter())
    assert model.apply_all(ledger.iter()) == set()
    assert len(model.item(A, dev["item_ref"]).entries) == 1


def test_reads_what_the_obligation_engine_records(ledger):
    # The obligation agent's own records (agents/core/obligations/events.py), not hand-made ones.
    events = pytest.importorskip("agents.core.obligations.events")
    from agents.core.obligations.engine import ObligationEngine
    from tests.agents.web.dashboard.factory import agreements

    clock = [now()]
    engine = ObligationEngine(agreements(), clock=lambda: clock[0])
    dev = event("deviation", "reported", A, "DEV-ENG-1", at=clock[0])
    records = [dev]
    for change in engine.on_event(dev):
        records += events.change_events(change, dev, clock[0])
    ledger.append(records)
    model = ReadModel()
    model.apply_all(ledger.iter())
    item = model.item(A, "DEV-ENG-1")
    assert {o.kind for o in item.open_obligations()} >= {"ACKNOWLEDGE", "CLOSE"}
    assert all(o.responsible_role in ("HOLDER", "MANUFACTURER") for o in item.obligations.values())
    assert [i.item_ref for i in model.acknowledgements([A], "HOLDER")] == ["DEV-ENG-1"]
    # Weeks later nobody has acknowledged: the engine records breaches and escalations.
    clock[0] += timedelta(days=30)
    later_records = []
    for change in engine.tick(clock[0]):
        later_records += events.change_events(change, dev, clock[0])
    ledger.append(later_records)
    model.apply_all(ledger.iter(since=model.last_seq))
    assert count(model, A, "deviation", clock[0]).overdue == 1
    assert item.escalations and any(o.state == "ESCALATED" for o in item.obligations.values())


def test_a_change_waiting_for_decision_is_listed_once(fold):
    change = event("change", "proposed")
    model = fold(change, obligation("opened", change, due_at=later(2)),
                 obligation("opened", change, kind="APPROVE", due_at=later(40), obligation_id="approve"))
    assert [i.item_ref for i in model.approvals([A])] == [change["item_ref"]]
    assert model.acknowledgements([A], "HOLDER") == []
    # The queue row carries the earliest deadline: the acknowledgement, due in 2 h.
    assert model.approvals([A])[0].next_due().kind == "ACKNOWLEDGE"


def test_an_event_delivered_twice_is_shown_once(fold, ledger):
    from dataclasses import replace

    dev = event("deviation", "reported", item_ref="DEV-TWICE")
    model = fold(dev)
    (stored,) = [r for r in ledger.iter() if r.item_ref == "DEV-TWICE"]
    # The same event again at a later position (a redelivery the ledger did not catch).
    model.apply(replace(stored, seq=stored.seq + 1000, chain_seq=stored.chain_seq + 1))
    assert [e.event_id for e in model.item(A, "DEV-TWICE").entries] == [dev["event_id"]]
    assert model.last_seq == stored.seq + 1000


def test_chain_positions_map_to_ledger_positions(fold):
    model = fold(event("deviation", "reported", A), event("deviation", "reported", B), event("change", "proposed", A))
    assert [model.seq_at(A, n) for n in (0, 1, 2, 9)] == [0, 1, 3, 3]
    assert model.agreements[A].last_chain_seq == 2 and model.agreements[B].last_chain_seq == 1
