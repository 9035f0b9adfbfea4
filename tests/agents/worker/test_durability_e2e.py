"""Kill every process of the embedded stack mid-stream; the ledger brings everything back (issue 5).

The embedded broker keeps nothing in memory mode, so the ledger is the record: after a SIGKILL of
broker and worker and a restart, every event the ledger had accepted is still there once, the
chain verifies, and the open obligations are rebuilt. Events the broker had confirmed but the
worker had not yet recorded died with the broker's memory; the publisher's outbox re-sends those
(reconciled against the ledger), and then the counts match exactly.
"""
import threading
import time

import pytest

from agents.worker.rebuild import open_from_ledger
from streams.broker import EmbeddedBroker, free_port
from agents.record.ledger import open_ledger
from agents.cli.local import WorkerProcess
from streams.publisher import Publisher
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow]
N = 120


def major_deviation() -> dict:
    # MAJOR: notify within 3 working days (met at once), acknowledge and close stay open.
    return example("deviation", classification="MAJOR")


def test_sigkill_of_the_whole_stack_loses_no_accepted_event(bus_settings, tmp_path):
    port = free_port()
    settings = bus_settings.model_copy(update={
        "bootstrap_servers": f"127.0.0.1:{port}", "state_dir": tmp_path / "state", "app_id": "qbus-durable",
        "worker_web_port": free_port(), "metrics_port": free_port()})
    events = [major_deviation() for _ in range(N)]
    confirmed: list[str] = []

    broker = EmbeddedBroker(port=port, log_path=tmp_path / "broker1.log").start()
    worker = WorkerProcess(settings, tmp_path / "worker1.log").start()

    outbox = tmp_path / "mes-outbox.db"  # the publishing system's own record of what it sent

    def publish_until_the_broker_dies():
        try:
            with Publisher.from_settings(settings, outbox=outbox) as publisher:
                publisher.send_timeout_s = 3
                for event in events:
                    confirmed.append(publisher.publish(event))
                    time.sleep(0.02)
        except Exception:
            pass  # the broker was killed under us: expected

    sender = threading.Thread(target=publish_until_the_broker_dies, daemon=True)
    sender.start()
    # Mid-stream: once a third is confirmed, kill -9 everything.
    deadline = time.monotonic() + 60
    while len(confirmed) < N // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.kill()
    broker.process.kill()
    broker.process.wait()
    sender.join(30)
    assert not sender.is_alive(), "the publisher hung after the broker died"
    assert N // 3 <= len(confirmed) < N, "the kill did not land mid-stream"

    with open_ledger(settings.ledger) as ledger:
        before = {r.record_key for r in ledger.iter(kinds=["event"], event_types=["deviation.*"])}
        report = ledger.verify()
        assert report.ok, report.first_problem
    assert before <= set(confirmed)

    # Restart on the same ledger: a new, empty broker and a new worker.
    broker = EmbeddedBroker(port=port, log_path=tmp_path / "broker2.log").start()
    worker = WorkerProcess(settings, tmp_path / "worker2.log").start()
    try:
        # The publisher reconciles its outbox with the ledger and re-sends, unchanged, what the
        # ledger lacks: what died with the broker, and what was sent but never confirmed.
        with Publisher.from_settings(settings, outbox=outbox) as publisher, open_ledger(settings.ledger) as ledger:
            recorded, resent = publisher.reconcile(lambda event_id: ledger.get(event_id) is not None, grace_s=0)
        assert recorded == len(before) and recorded + resent >= len(confirmed)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open_ledger(settings.ledger) as ledger:
                after = [r.record_key for r in ledger.iter(kinds=["event"], event_types=["deviation.*"])]
            if len(after) >= recorded + resent:
                break
            time.sleep(0.5)
        time.sleep(2)  # let the obligations agent catch up
    finally:
        worker.stop()
        broker.stop()

    # Counts match: every event the publisher sent is in the ledger exactly once, nothing else
    # (at least every confirmed one; one sent as the broker died may have been unconfirmed).
    assert len(after) == len(set(after)) == recorded + resent
    assert set(confirmed) <= set(after) <= {e["event_id"] for e in events}
    with open_ledger(settings.ledger) as ledger:
        report = ledger.verify()
        assert report.ok, report
    # Open obligations are back: acknowledge + close for each accepted deviation.
    open_now = open_from_ledger(settings)
    by_kind = {}
    for obligation in open_now:
        if obligation.item_ref in {e["item_ref"] for e in events}:
            by_kind[obligation.kind.value] = by_kind.get(obligation.kind.value, 0) + 1
    assert by_kind == {"ACKNOWLEDGE": len(after), "CLOSE": len(after)}


def test_a_worker_killed_mid_stream_loses_nothing_and_records_nothing_twice(isolated_stack, tmp_path):
    """Faust failover has dropped messages upstream (BROKER.md). Here the broker lives on while the
    worker is SIGKILLed mid-stream and replaced: every published event ends up in the ledger
    exactly once (in = out), counted by reading the ledger, not from offsets."""
    settings = isolated_stack
    events = [major_deviation() for _ in range(N)]
    first = WorkerProcess(settings, tmp_path / "first.log").start()
    with Publisher.from_settings(settings) as publisher:
        publisher.publish_many(events[: N // 2])
        time.sleep(0.5)              # the worker is busy with the first half ...
        first.kill()                 # ... when it dies without committing
        publisher.publish_many(events[N // 2:])
    second = WorkerProcess(settings, tmp_path / "second.log").start()
    try:
        wanted = {e["event_id"] for e in events}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with open_ledger(settings.ledger) as ledger:
                recorded = [r.record_key for r in ledger.iter(kinds=["event"], event_types=["deviation.*"])]
                letters = [r.data for r in ledger.iter(kinds=["dead_letter"])]
            if set(recorded) >= wanted:
                break
            time.sleep(0.5)
    finally:
        second.stop()
    assert sorted(recorded) == sorted(wanted)            # all of them, once each
    assert [l["reason_code"] for l in letters] == []     # a redelivery is not a "duplicate"
