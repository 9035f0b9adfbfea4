"""The ledger (Art. 14): append-only, idempotent, hash-chained per agreement, and verify catches
an edited, a deleted and a swapped record. Every test runs on SQLite and on the local PostgreSQL."""
import os
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from agents.record.ledger import open_ledger
from agents.cli.ledger import main as qbus
from agents.record.ledger.postgres import split_schema
from streams.signing import KeyRegistry, generate_keypair, sign_event, verify_event

AGREEMENT = "QA-HOLDERA-CMOX-001"
OTHER = "QA-HOLDERB-CMOX-002"
PG_SERVER = os.environ.get("QBUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
T0 = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)


def make_event(event_type="deviation.reported", item_ref="DEV-2026-0042", agreement=AGREEMENT, at=T0,
               role="MANUFACTURER", user=None, payload=None, instance="qms-cmox-01", product="P-001", **changes):
    event = {
        "event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
        "occurred_at": at, "published_at": at + timedelta(minutes=1),
        "source": {"system": "QMS", "instance": instance, "party_id": "HOLDERA" if role == "HOLDER" else "CMOX",
                   "party_role": role, "user": user},
        "agreement_id": agreement, "holder_id": "HOLDERA", "manufacturer_id": "CMOX", "site_id": "CMOX-SZ",
        "product": {"code": product, "generic_name": "注射用头孢曲松钠 ceftriaxone", "dosage_form": "injection",
                    "sterile": True},
        "batch_no": "B260301", "line_id": "L2", "item_ref": item_ref, "classification": "MAJOR",
        "significant_risk": False, "corrects_event_id": None, "confidential_fields": [],
        "payload": payload if payload is not None else {"title": "温度偏离 temperature excursion", "found_at": at},
        "signature": None,
    }
    event.update(changes)
    return event


def make_dead_letter(agreement=AGREEMENT, reason_code="MISSING_SIGNATURE", reason="missing signature"):
    return {"dead_letter_id": str(uuid.uuid4()), "reason_code": reason_code, "reason": reason,
            "original_topic": "qc.intake.deviation", "original_partition": 1, "original_offset": 42,
            "original_key": b"QA|DEV", "original_value": b"\x00\x00\x00\x00\x01garbage", "event_id": None,
            "agreement_id": agreement, "received_at": T0}


class Attacker:
    """Someone with direct write access to the database, who drops the append-only trigger first."""

    def __init__(self, url):
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            self.conn = sqlite3.connect(url[len("sqlite:///"):], isolation_level=None)
            self.conn.execute("DROP TRIGGER ledger_records_no_update")
            self.conn.execute("DROP TRIGGER ledger_records_no_delete")
        else:
            conninfo, schema = split_schema(url)
            self.conn = psycopg.connect(conninfo, autocommit=True)
            self.conn.execute(f"SET search_path TO {schema}")
            self.conn.execute("DROP TRIGGER ledger_records_append_only ON ledger_records")

    def run(self, statement, *params):
        self.conn.execute(statement if self.sqlite else statement.replace("?", "%s"), params)

    def swap_positions(self, key_a, key_b):
        # Two rows trade places in the chain (and in the global order), content untouched.
        a = self.fetch("SELECT seq, chain_seq FROM ledger_records WHERE record_key = ?", key_a)
        b = self.fetch("SELECT seq, chain_seq FROM ledger_records WHERE record_key = ?", key_b)
        self.run("UPDATE ledger_records SET seq = -1, chain_seq = -1 WHERE record_key = ?", key_a)
        self.run("UPDATE ledger_records SET seq = ?, chain_seq = ? WHERE record_key = ?", a[0], a[1], key_b)
        self.run("UPDATE ledger_records SET seq = ?, chain_seq = ? WHERE record_key = ?", b[0], b[1], key_a)

    def fetch(self, statement, *params):
        cursor = self.conn.execute(statement if self.sqlite else statement.replace("?", "%s"), params)
        return cursor.fetchone()

    def close(self):
        self.conn.close()


@pytest.fixture
def five_records(ledger):
    events = [make_event(item_ref=f"DEV-2026-{i:04d}") for i in range(1, 6)]
    ledger.append(events)
    return [e["event_id"] for e in events]


def tamper(ledger_url, action):
    attacker = Attacker(ledger_url)
    try:
        action(attacker)
    finally:
        attacker.close()


# --- appending and reading ---------------------------------------------------------------------

def test_records_come_back_in_the_order_they_were_appended(ledger):
    first = [make_event(item_ref="DEV-1"), make_event(agreement=OTHER, item_ref="DEV-2")]
    second = [make_dead_letter(), make_event("change.proposed", item_ref="CC-1")]
    results = ledger.append(first) + ledger.append(second)
    assert [r.status for r in results] == ["appended"] * 4
    stored = list(ledger.iter())
    assert [r.record_key for r in stored] == [first[0]["event_id"], first[1]["event_id"],
                                              second[0]["dead_letter_id"], second[1]["event_id"]]
    assert [r.seq for r in stored] == sorted(r.seq for r in stored)
    # One chain per agreement: positions count within the agreement.
    assert [(r.chain, r.chain_seq) for r in stored] == [(AGREEMENT, 1), (OTHER, 1), (AGREEMENT, 2), (AGREEMENT, 3)]


def test_filters_by_agreement_kind_type_and_position(ledger):
    ledger.append([make_event(), make_event(agreement=OTHER), make_dead_letter(),
                   make_event("change.approved", item_ref="CC-1"), make_event("obligation.opened")])
    assert ledger.count() == 5 and ledger.count(AGREEMENT) == 4
    assert [r.agreement_id for r in ledger.iter(agreement=OTHER)] == [OTHER]
    assert [r.kind for r in ledger.iter(kinds=["dead_letter"])] == ["dead_letter"]
    assert [r.event_type for r in ledger.iter(event_types=["change.*", "obligation.opened"])] == [
        "change.approved", "obligation.opened"]
    third = list(ledger.iter())[2].seq
    assert len(list(ledger.iter(since=third))) == 2


def test_time_range_reads_by_recording_time(ledger):
    ledger.append([make_event()])
    time.sleep(0.01)
    middle = datetime.now(timezone.utc)
    time.sleep(0.01)
    ledger.append([make_event(item_ref="DEV-LATER")])
    assert [r.item_ref for r in ledger.iter(since=middle)] == ["DEV-LATER"]
    assert [r.item_ref for r in ledger.iter(until=middle)] == ["DEV-2026-0042"]


def test_the_stored_body_is_the_event_and_its_index_columns_match(ledger):
    event = make_event(payload={"title": "偏差", "found_at": T0, "raw": b"\x01\x02"})
    ledger.append([event])
    record = ledger.get(event["event_id"])
    assert record.kind == "event" and record.event_type == "deviation.reported" and record.item_ref == "DEV-2026-0042"
    assert record.occurred_at == T0
    assert record.data["payload"] == {"title": "偏差", "found_at": "2026-03-02T01:30:00.000Z", "raw": "AQI="}
    assert ledger.get("no-such-key") is None


def test_dead_letters_keep_their_reason_and_original_bytes(ledger):
    letter = make_dead_letter(agreement=None, reason_code="UNDECODABLE", reason="cannot decode: bad magic byte")
    [result] = ledger.append([letter])
    record = ledger.get(letter["dead_letter_id"])
    assert result.chain == "-" and record.kind == "dead_letter"
    assert record.data["reason"] == "cannot decode: bad magic byte"
    assert record.data["original_value"] == "AAAAAAFnYXJiYWdl"  # base64 of the bytes received


def test_the_same_event_written_twice_is_stored_once(ledger):
    event = make_event()
    [first] = ledger.append([event])
    again = ledger.append([event, dict(event)])  # a redelivery, and a duplicate inside one batch
    assert first.status == "appended"
    assert [r.status for r in again] == ["duplicate", "duplicate"]
    assert {r.seq for r in again} == {first.seq}
    assert ledger.count() == 1


def test_same_event_id_with_different_content_is_a_conflict_not_an_overwrite(ledger):
    event = make_event()
    ledger.append([event])
    [result] = ledger.append([{**event, "payload": {"title": "changed"}}])
    assert result.status == "conflict" and not result.stored
    assert ledger.get(event["event_id"]).data["payload"]["title"] == "温度偏离 temperature excursion"
    assert ledger.count() == 1


def test_a_correction_is_a_new_record_pointing_at_the_old_one(ledger):
    wrong = make_event(payload={"title": "wrong lot"})
    fix = make_event("deviation.classified", corrects_event_id=wrong["event_id"], payload={"title": "lot B2"})
    ledger.append([wrong])
    ledger.append([fix])
    assert ledger.get(wrong["event_id"]).data["payload"]["title"] == "wrong lot"  # the old one is untouched
    assert ledger.get(fix["event_id"]).corrects_key == wrong["event_id"]
    assert ledger.verify().ok


@pytest.mark.clause("Art. 14")
def test_records_cannot_be_updated_or_deleted_through_the_database(ledger, ledger_url, five_records):
    # Art. 14: the schema itself refuses UPDATE and DELETE (an attacker must drop the trigger first).
    if ledger_url.startswith("sqlite"):
        conn = sqlite3.connect(ledger_url[len("sqlite:///"):])
        errors = (sqlite3.IntegrityError, sqlite3.DatabaseError)
    else:
        conninfo, schema = split_schema(ledger_url)
        conn = psycopg.connect(conninfo, autocommit=True)
        conn.execute(f"SET search_path TO {schema}")
        errors = (psycopg.Error,)
    try:
        for statement in ("UPDATE ledger_records SET body = '{}'", "DELETE FROM ledger_records"):
            with pytest.raises(errors, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()
    assert ledger.count() == 5


def test_schema_is_migrated_once_and_versioned(ledger_url):
    from agents.record.ledger.migrations import load_migrations

    newest = max(m.version for m in load_migrations("sqlite" if ledger_url.startswith("sqlite") else "postgres"))
    assert newest >= 2
    with open_ledger(ledger_url) as first:
        first.append([make_event()])
        assert first.schema_version() == newest
    with open_ledger(ledger_url) as again:  # reopening applies nothing twice and keeps the data
        assert again.schema_version() == newest and again.count() == 1


def test_concurrent_writers_keep_each_chain_gapless(ledger_url):
    # Several workers (own connections) append to the same two agreements at once, in batches that
    # name the agreements in either order (chain locks are taken in sorted order: no deadlock).
    open_ledger(ledger_url).close()

    def worker(n):
        with open_ledger(ledger_url) as own:
            for i in range(10):
                pair = [make_event(item_ref=f"W{n}-{i}"), make_event(item_ref=f"W{n}-{i}", agreement=OTHER)]
                own.append(pair if (n + i) % 2 else pair[::-1])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open_ledger(ledger_url) as ledger:
        report = ledger.verify()
        assert report.ok, report.summary()
        assert report.records == 80
        assert [c.last_chain_seq for c in report.chains.values()] == [40, 40]


# --- verification ------------------------------------------------------------------------------

def test_verify_reports_ok_with_counts(ledger):
    ledger.append([make_event(), make_event(), make_dead_letter(), make_event(agreement=OTHER),
                   make_dead_letter(agreement=None)])
    report = ledger.verify()
    assert report.ok, report.summary()
    assert report.records == 5
    assert dict(report.kinds) == {"event": 3, "dead_letter": 2}
    assert {c.chain: c.records for c in report.chains.values()} == {AGREEMENT: 3, OTHER: 1, "-": 1}
    assert report.summary().startswith("OK: 5 records in 3 chain(s)")
    assert ledger.verify(OTHER).records == 1


@pytest.mark.clause("Art. 14")
def test_an_edited_record_is_found(ledger, ledger_url, five_records):
    tamper(ledger_url, lambda db: db.run("UPDATE ledger_records SET body = replace(body, '温度', '湿度') "
                                         "WHERE record_key = ?", five_records[2]))
    report = ledger.verify()
    assert not report.ok
    problem = report.first_problem
    assert (problem.kind, problem.record_key, problem.chain_seq) == ("edited", five_records[2], 3)
    assert "does not match its hash" in problem.detail


@pytest.mark.clause("Art. 14")
def test_a_deleted_record_is_found(ledger, ledger_url, five_records):
    tamper(ledger_url, lambda db: db.run("DELETE FROM ledger_records WHERE record_key = ?", five_records[1]))
    problem = ledger.verify().first_problem
    assert problem.kind == "missing"
    assert problem.record_key == five_records[2]  # the record after the gap
    assert "#2 missing" in problem.detail


def test_a_deleted_and_renumbered_record_is_still_found(ledger, ledger_url, five_records):
    def delete_and_close_the_gap(db):
        db.run("DELETE FROM ledger_records WHERE record_key = ?", five_records[1])
        for position in (3, 4, 5):
            db.run("UPDATE ledger_records SET chain_seq = ? WHERE chain_seq = ?", position - 1, position)
        db.run("UPDATE ledger_chains SET last_chain_seq = 4")
    tamper(ledger_url, delete_and_close_the_gap)
    problem = ledger.verify().first_problem
    assert (problem.kind, problem.record_key) == ("missing", five_records[2])
    assert "matches no record" in problem.detail


def test_a_deleted_last_record_is_found_by_the_chain_head(ledger, ledger_url, five_records):
    tamper(ledger_url, lambda db: db.run("DELETE FROM ledger_records WHERE record_key = ?", five_records[4]))
    problem = ledger.verify().first_problem
    assert problem.kind == "missing" and "last records were deleted" in problem.detail


@pytest.mark.clause("Art. 14")
def test_swapped_records_are_found(ledger, ledger_url, five_records):
    tamper(ledger_url, lambda db: db.swap_positions(five_records[1], five_records[2]))
    problem = ledger.verify(AGREEMENT).first_problem
    assert problem.kind == "reordered"
    assert problem.record_key == five_records[2] and problem.chain_seq == 2
    assert f"links to {five_records[1]}" in problem.detail


def test_tampering_in_one_agreement_leaves_the_others_verifiable(ledger, ledger_url, five_records):
    ledger.append([make_event(agreement=OTHER)])
    tamper(ledger_url, lambda db: db.run("DELETE FROM ledger_records WHERE record_key = ?", five_records[0]))
    assert ledger.verify(OTHER).ok
    assert not ledger.verify(AGREEMENT).ok


def test_cli_verify_exit_codes(ledger, ledger_url, five_records, capsys):
    assert qbus(["ledger", "verify", "--ledger", ledger_url]) == 0
    assert "OK: 5 records" in capsys.readouterr().out
    assert qbus(["ledger", "verify", "--ledger", ledger_url, "--agreement", "QA-TYPO"]) == 2
    assert "no record of agreement QA-TYPO" in capsys.readouterr().err
    tamper(ledger_url, lambda db: db.run("UPDATE ledger_records SET recorded_at = occurred_at WHERE record_key = ?",
                                         five_records[3]))
    assert qbus(["ledger", "verify", "--ledger", ledger_url, "--agreement", AGREEMENT]) == 1
    out = capsys.readouterr().out
    assert out.startswith("BROKEN") and f"EDITED: chain {AGREEMENT}" in out and five_records[3] in out


# --- signed events -----------------------------------------------------------------------------

@pytest.fixture
def keys():
    private, public = generate_keypair()
    registry = KeyRegistry()
    registry.register("qms-cmox-01", "k1", public)
    return private, registry


def intake(ledger, registry, events, must_sign=frozenset({"qms-cmox-01"})):
    """What the bus does: a good or allowed-unsigned event is recorded, anything else dead-lettered."""
    batch = []
    for event in events:
        check = verify_event(event, registry, must_sign)
        batch.append(event if check.ok else {**make_dead_letter(reason_code=check.code, reason=check.reason),
                                             "event_id": event["event_id"]})
    return ledger.append(batch)


def test_signed_events_are_kept_with_key_id_and_signature(ledger, keys):
    private, registry = keys
    signed = sign_event(make_event(), private, "k1")
    intake(ledger, registry, [signed])
    record = ledger.get(signed["event_id"])
    assert record.key_id == "k1" and record.signature == signed["signature"]["value"]
    assert verify_event(record.data, registry).ok  # the stored body still verifies
    assert ledger.verify(keys=registry).ok


def test_bad_and_missing_signatures_are_refused_with_the_reason(ledger, keys):
    private, registry = keys
    forged = sign_event(make_event(), private, "k1")
    forged["payload"] = {"title": "nothing happened"}
    unsigned = make_event()
    intake(ledger, registry, [forged, unsigned])
    refused = [r.data for r in ledger.iter(kinds=["dead_letter"])]
    assert [(d["event_id"], d["reason_code"]) for d in refused] == [
        (forged["event_id"], "BAD_SIGNATURE"), (unsigned["event_id"], "MISSING_SIGNATURE")]
    assert refused[0]["reason"] == "signature does not match the event's content (key k1)"
    assert refused[1]["reason"] == f"missing signature, source qms-cmox-01 must sign under agreement {AGREEMENT}"
    assert ledger.count() == 2 and ledger.get(forged["event_id"]) is None


def test_verify_with_keys_finds_a_signed_event_whose_signature_was_replaced(ledger, ledger_url, keys):
    # A record can hash perfectly and still carry a signature that is not the source's over this content
    # (here: one copied from another event, recorded by a path that skipped the intake check).
    # verify with the key registry names it.
    private, registry = keys
    signed = sign_event(make_event(), private, "k1")
    bogus = {**signed, "signature": {**signed["signature"], "value": sign_event(make_event(), private, "k1")["signature"]["value"]}}
    ledger.append([bogus])  # recorded without the intake check
    report = ledger.verify(keys=registry)
    assert (report.first_problem.kind, report.first_problem.record_key) == ("signature", bogus["event_id"])
    assert "does not match the event's content" in report.first_problem.detail


def test_records_hashed_by_version_1_still_verify_and_an_edit_of_one_is_caught():
    # Records written before hash version 2 (the body escaped into the JSON) stay valid.
    from dataclasses import replace

    from agents.record.ledger.chain import GENESIS_HASH, LedgerRecord, compute_hash, verify_records
    from streams.canonical import canonical_json

    first = LedgerRecord(1, AGREEMENT, 1, "event", "e1", "deviation.reported", AGREEMENT, "DEV-1", None, T0, T0,
                         canonical_json({"x": "温度偏离"}), None, None, GENESIS_HASH, "")
    first = replace(first, hash=compute_hash(first, 1))
    second = LedgerRecord(2, AGREEMENT, 2, "event", "e2", "deviation.closed", AGREEMENT, "DEV-1", None, T0, T0,
                          canonical_json({"y": 1}), None, None, first.hash, "")
    second = replace(second, hash=compute_hash(second))       # the current version
    assert verify_records([first, second]).ok
    edited = replace(first, body=canonical_json({"x": "edited"}))
    assert verify_records([edited, second]).first_problem.kind == "edited"
