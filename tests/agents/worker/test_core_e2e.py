"""The worker's core through the real broker (issue 17): a significant risk is taken ahead of a
backlog, two workers share the partitions and lose nothing when one is killed, and every stage's
failure ends in a counted, recorded dead letter, a 5 MB record included."""
import time
import uuid

import httpx
import pytest
from kafka import KafkaProducer

from agents.cli.local import WorkerProcess
from agents.record.ledger import open_ledger
from streams.broker import free_port
from streams.publisher import Publisher
from streams.subscriber import TopicReader
from streams.topics import TopicCatalogue, partition_for
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def routine(n: int) -> list[dict]:
    return [example("deviation", classification="MINOR", item_ref=f"DEV-R-{uuid.uuid4().hex[:10]}") for _ in range(n)]


def critical() -> dict:
    event = example("deviation", classification="CRITICAL", item_ref=f"DEV-C-{uuid.uuid4().hex[:8]}")
    event["payload"]["product_impact"] = True
    return event


def recorded(settings, ids: set[str], timeout: float = 120) -> dict[str, int]:
    """event_id -> ledger seq, once all of them are recorded (or whatever is there at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        with open_ledger(settings.ledger) as ledger:
            found = {k: r.seq for k, r in ledger.get_many(ids).items()}
        if found.keys() >= ids or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


@pytest.mark.clause("Art. 5")
def test_a_critical_deviation_is_decided_ahead_of_a_backlog(isolated_stack, tmp_path):
    settings = isolated_stack
    backlog, urgent = routine(1500), critical()
    # The end-of-batch upload is on the broker before the worker starts; the critical one comes last.
    with Publisher.from_settings(settings) as publisher:
        publisher.publish_many(backlog)
        publisher.publish(urgent)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        seqs = recorded(settings, {e["event_id"] for e in backlog} | {urgent["event_id"]})
        with open_ledger(settings.ledger) as ledger:
            directive = next(r for r in ledger.iter(kinds=["event"], event_types=["directive.issued"])
                             if r.data["payload"]["triggered_by_event_id"] == urgent["event_id"])
    finally:
        worker.stop()
    # Art. 5: the suspension is decided before most of the routine events queued ahead of it.
    ahead = sum(seq < directive.seq for key, seq in seqs.items() if key != urgent["event_id"])
    assert ahead < len(backlog) // 2, f"{ahead} of {len(backlog)} routine events were recorded before the directive"


def test_two_workers_share_the_partitions_and_one_killed_loses_nothing(isolated_stack, tmp_path):
    """Faust has dropped records on failover (BROKER.md); the stages consume with manual offsets and
    the core continues from the ledger's position. Count in = out across a SIGKILL, three times."""
    catalogue = TopicCatalogue.from_settings(isolated_stack)
    for run in range(3):
        settings = [isolated_stack.model_copy(update={"worker_web_port": free_port(), "metrics_port": free_port()})
                    for _ in ("a", "b")]
        workers = [WorkerProcess(s, tmp_path / f"run{run}-{i}.log").start() for i, s in enumerate(settings)]
        events = routine(600)
        try:
            with Publisher.from_settings(settings[0]) as publisher:
                publisher.publish_many(events[:300])
                time.sleep(1.0)
                victim = workers[run % 2]
                victim.kill()                                   # mid-stream, no warning
                publisher.publish_many(events[300:])
            ids = {e["event_id"] for e in events}
            found = recorded(settings[0], ids, timeout=150)
        finally:
            for worker in workers:
                worker.stop()
        assert found.keys() == ids, f"run {run + 1}: {len(ids - found.keys())} events never recorded"
        with open_ledger(isolated_stack.ledger) as ledger:
            letters = [r.data for r in ledger.iter(kinds=["dead_letter"]) if r.data.get("event_id") in ids]
        assert letters == [], f"run {run + 1}: {[l['reason_code'] for l in letters]}"
    assert catalogue.accepted  # the stack's own topics, never the session's


def dead_letters(settings, where, want: int, timeout: float = 60) -> list[dict]:
    with TopicReader.from_settings(settings, TopicCatalogue.from_settings(settings).dead_letters, True) as reader:
        found = reader.collect(lambda f: len(f) >= want, timeout=timeout, where=lambda r: r.value is not None and where(r.value))
    return [r.value for r in found]


def stage_failures(settings) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=5).text
    out = {}
    for line in text.splitlines():
        if line.startswith("qbus_stage_failures_total{"):
            stage = line.split('stage="')[1].split('"')[0]
            out[stage] = float(line.rsplit(" ", 1)[1])
    return out


def test_every_stage_dead_letters_what_it_cannot_process_and_counts_it(isolated_stack, tmp_path):
    settings = isolated_stack
    catalogue = TopicCatalogue.from_settings(settings)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        # A producer that lets 5 MB through, as a misconfigured MES client might.
        producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", max_request_size=8 << 20)
        marker = uuid.uuid4().hex.encode()
        # The core stage: bytes on qc.accepted that are no event (only intake writes there, so a bug).
        partition = partition_for("CMO-X", settings.partitions)
        producer.send(catalogue.accepted, b"\x00\x00\x00\x00\x01 not an event " + marker, partition=partition).get(10)
        # The notify stage: bytes on qc.escalations that are no escalation.
        producer.send(catalogue.bus("escalation"), b"\x00\x00\x00\x00\x01 not an escalation " + marker).get(10)
        # Intake: a 5 MB record (Tansu takes any size; the bus does not).
        producer.send(catalogue.intake("deviation"), b"\x00" * (5 * 1024 * 1024) + marker,
                      key=b"huge").get(30)
        producer.close()
        letters = dead_letters(settings, lambda v: marker in (v["original_value"] or b"")
                               or v["reason_code"] == "TOO_LARGE", 3)
        by_stage = {v["stage"]: v for v in letters}
        assert by_stage["core"]["reason_code"] == "STAGE_FAILED" and "no longer decodes" in by_stage["core"]["reason"]
        assert by_stage["notify"]["reason_code"] == "STAGE_FAILED"
        huge = by_stage["intake"]
        assert huge["reason_code"] == "TOO_LARGE" and huge["original_size"] == 5 * 1024 * 1024 + len(marker)
        assert len(huge["original_value"]) == 64 * 1024 and huge["original_sha256"]
        # Recorded in the ledger, each once, and counted.
        with open_ledger(settings.ledger) as ledger:
            stored = {r.data["dead_letter_id"] for r in ledger.iter(kinds=["dead_letter"])}
        assert {v["dead_letter_id"] for v in letters} <= stored
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not {"core", "notify"} <= stage_failures(settings).keys():
            time.sleep(0.5)
        assert {"core", "notify"} <= stage_failures(settings).keys()
    finally:
        worker.stop()
