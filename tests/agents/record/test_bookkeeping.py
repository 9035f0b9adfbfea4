"""The ledger's bookkeeping (agents/record/ledger/bookkeeping.py): stage positions move in the same
transaction as the records they cover, checkpoints keep their digest, a notification is marked once,
and a publisher can ask what became of its event. SQLite and PostgreSQL alike."""
import uuid

import pytest

from agents.record.ledger import Position
from tests.agents.record.test_ledger import AGREEMENT, make_dead_letter, make_event


def test_a_position_moves_with_the_records_of_its_step(ledger):
    first, second = make_event(), make_event(item_ref="DEV-2026-0043")
    results = ledger.append([first, second], positions=[Position("core", "qc.accepted", 2, 11, first["event_id"], (0, 1))])
    stored = ledger.position("core", "qc.accepted", 2)
    assert (stored.next_offset, stored.last_key) == (11, first["event_id"])
    assert stored.last_seqs == tuple(r.seq for r in results)
    assert [r.record_key for r in ledger.by_seqs(stored.last_seqs)] == [first["event_id"], second["event_id"]]
    # A step that only re-meets what is stored moves the position and names no seq to send again.
    ledger.append([first], positions=[Position("core", "qc.accepted", 2, 12, "k", (0,))])
    assert ledger.position("core", "qc.accepted", 2).last_seqs == ()
    assert ledger.position("core", "qc.accepted", 3) is None


def test_a_failed_append_moves_no_position(ledger):
    ledger.append([make_event()], positions=[Position("core", "qc.accepted", 0, 5, "a", (0,))])
    with pytest.raises(Exception):
        ledger.append([{"not": "a record"}], positions=[Position("core", "qc.accepted", 0, 9, "b", (0,))])
    assert ledger.position("core", "qc.accepted", 0).next_offset == 5


def test_checkpoints_keep_their_body_and_digest(ledger):
    body = bytes(range(256)) * 40
    ledger.save_checkpoint("core/qc.accepted/0", 17, body)
    loaded = ledger.load_checkpoint("core/qc.accepted/0")
    assert (loaded.upto_seq, loaded.body, loaded.intact) == (17, body, True)
    ledger.save_checkpoint("core/qc.accepted/0", 18, b"newer")
    assert ledger.load_checkpoint("core/qc.accepted/0").upto_seq == 18
    assert ledger.load_checkpoint("nothing") is None


def test_a_notification_is_marked_sent_once(ledger):
    assert not ledger.was_sent("obligation-1:step1")
    assert ledger.mark_sent("obligation-1:step1") is True
    assert ledger.mark_sent("obligation-1:step1") is False
    assert ledger.was_sent("obligation-1:step1")


def test_the_state_of_an_event_recorded_dead_lettered_or_unknown(ledger):
    event = make_event()
    ledger.append([event])
    assert ledger.event_state(event["event_id"]).status == "recorded"
    refused = str(uuid.uuid4())
    letter = {**make_dead_letter(reason_code="SCHEMA_VIOLATION", reason="payload.classification: 'majr' is not one of"
                                 " MINOR, MAJOR, CRITICAL"), "event_id": refused}
    ledger.append([letter])
    state = ledger.event_state(refused)
    assert state.status == "dead_lettered"
    assert state.to_json()["reason"].startswith("payload.classification")
    assert ledger.event_state(str(uuid.uuid4())).status == "unknown"


def test_records_of_several_agreements(ledger):
    mine, theirs = make_event(), make_event(agreement="QA-OTHER-1")
    ledger.append([mine, theirs])
    assert [r.record_key for r in ledger.iter(agreements=[AGREEMENT])] == [mine["event_id"]]
    assert list(ledger.iter(agreements=[])) == []
