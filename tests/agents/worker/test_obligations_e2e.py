"""The clocks, end to end through the real broker and a real worker (issue 3).

Agreement QA-TEST-E2E (tests/fixtures/e2e_agreements/e2e.yaml): a critical deviation must be acknowledged
by the holder within 3 s of publication; the ladder then steps at +0 s, +4 s and +8 s.
"""
import time
from datetime import datetime, timezone

import pytest

from streams.publisher import Publisher
from streams.topics import partition_for
from streams.subscriber import TopicReader
from streams.topics import TopicCatalogue
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def critical_deviation(**changes) -> dict:
    event = example("deviation", agreement_id="QA-TEST-E2E", classification="CRITICAL",
                    source={"system": "QMS", "instance": "qms-cmo-x", "party_id": "CMO-X",
                            "party_role": "MANUFACTURER"}, site_id="SITE-1", line_id="LINE-1",
                    occurred_at=datetime.now(timezone.utc).isoformat(), **changes)
    event["product"] = {"code": "A-INJ-1", "generic_name": "Examplamide Injection",
                        "dosage_form": "injection", "sterile": True}
    event["published_at"] = datetime.now(timezone.utc).isoformat()
    return event


def acknowledgement_of(event: dict) -> dict:
    ack = dict(event, event_type="deviation.acknowledged", event_id=None)
    ack.pop("event_id")
    ack["source"] = {"system": "QMS", "instance": "qms-holder-a", "party_id": "HOLDER-A", "party_role": "HOLDER"}
    ack["published_at"] = datetime.now(timezone.utc).isoformat()
    ack["payload"] = {"responds_to_event_id": event["event_id"]}
    return ack


def unique(records: list) -> list:
    """One record per event id: sends after a commit are at least once (a restarted worker sends its
    last step again, with the same ids), so readers dedupe, as the bus's own subscribers do."""
    seen, out = set(), []
    for record in records:
        if record.value["event_id"] not in seen:
            seen.add(record.value["event_id"])
            out.append(record)
    return out


def steps_for(reader: TopicReader, item_ref: str, want: int, timeout: float) -> list:
    return unique(reader.collect(lambda found: len(unique(found)) >= want, timeout=timeout,
                                 where=lambda r: r.value and r.value["item_ref"] == item_ref))


@pytest.mark.clause("Art. 7")
def test_unacknowledged_critical_deviation_climbs_the_ladder_on_time(worker, publisher, read_topic, topics):
    # A critical deviation is published; nobody at the holder acknowledges it.
    event = critical_deviation()
    publisher.publish(event)
    published = time.time()
    # Step 1 comes when the 3 s acknowledgement deadline passes, step 2 four seconds later.
    found = steps_for(read_topic(topics.bus("escalation")), event["item_ref"], want=2, timeout=30)
    arrived = time.time()  # when the second step reached us
    steps = [r.value["payload"]["step"] for r in found]
    assert steps[:2] == [1, 2]
    due = found[0].value["payload"]["due_at"].timestamp()
    assert abs(due - (published + 3)) < 2
    fired = [r.value["occurred_at"].timestamp() for r in found[:2]]
    assert abs(fired[0] - due) < 2 and abs(fired[1] - (due + 4)) < 2
    assert arrived - (due + 4) < 5
    assert found[0].value["payload"]["role"] == "communication"
    assert found[1].value["payload"]["role"] == "head_of_quality"


@pytest.mark.clause("Art. 7")
def test_an_acknowledgement_stops_the_ladder(worker, publisher, read_topic, topics):
    event = critical_deviation()
    publisher.publish(event)
    escalations = read_topic(topics.bus("escalation"))
    # Step 1 fires at the deadline ...
    assert [r.value["payload"]["step"] for r in steps_for(escalations, event["item_ref"], 1, 20)] == [1]
    # ... then the holder acknowledges, before step 2 (4 s later) is due.
    publisher.publish(acknowledgement_of(event))
    satisfied = read_topic(topics.bus("obligation")).collect(
        lambda found: len(found) >= 1, timeout=20,
        where=lambda r: r.value and r.value["item_ref"] == event["item_ref"]
        and r.value["event_type"] == "obligation.satisfied" and r.value["payload"]["kind"] == "ACKNOWLEDGE")
    assert satisfied, "the acknowledgement did not satisfy the obligation"
    # No step 2, even well after it would have been due.
    later = escalations.collect(lambda found: False, timeout=8,
                                where=lambda r: r.value and r.value["item_ref"] == event["item_ref"])
    assert later == []


def test_a_killed_worker_restarts_and_fires_the_next_step_once(isolated_stack, tmp_path):
    from agents.cli.local import WorkerProcess

    settings = isolated_stack
    catalogue = TopicCatalogue.from_settings(settings)
    first = WorkerProcess(settings, tmp_path / "first.log").start()
    with Publisher.from_settings(settings) as publisher, \
            TopicReader.from_settings(settings, catalogue.bus("escalation")) as escalations:
        event = critical_deviation()
        publisher.publish(event)
        # Step 1 fires; then the worker dies without warning.
        step1 = steps_for(escalations, event["item_ref"], 1, 30)
        assert step1[0].value["payload"]["step"] == 1
        first.kill()
        due_step2 = step1[0].value["payload"]["due_at"].timestamp() + 4
        # A new worker rebuilds its clocks from the ledger and fires step 2 (and 3), once each.
        second = WorkerProcess(settings, tmp_path / "second.log").start()
        try:
            later = steps_for(escalations, event["item_ref"], 2, 40)
            # keep reading a little: a step fired twice would show up here
            later += escalations.collect(lambda found: False, timeout=3,
                                         where=lambda r: r.value and r.value["item_ref"] == event["item_ref"])
        finally:
            second.stop()
    steps = [r.value["payload"]["step"] for r in unique(step1 + later)]
    assert steps == [1, 2, 3], f"steps seen: {steps}"
    # "At most a few seconds late": the restart itself takes a few seconds on this machine.
    lateness = later[0].value["occurred_at"].timestamp() - due_step2
    assert lateness < 15, f"step 2 fired {lateness:.1f} s late"


def _last_ownership(log_path, partition: int) -> str:
    """When this worker last gained the partition ('' if never), from its log's timestamps."""
    lines = [line for line in log_path.read_text(errors="replace").splitlines()
             if f"core: partition {partition} gained" in line]
    return lines[-1][1:24] if lines else ""


def test_two_workers_one_killed_the_other_takes_over_the_clocks(isolated_stack, tmp_path):
    """N workers share one group; qc.accepted is partitioned by manufacturer, so one of them runs
    the rules and clocks of the event's manufacturer. Kill that one: the other gains its partition,
    rebuilds from the shared ledger and fires the remaining steps, each once."""
    from streams.broker import free_port
    from agents.cli.local import WorkerProcess

    # Two workers on one host: one state folder, so one ledger and one schema registry (on a
    # cluster: the PostgreSQL ledger and the Schema Registry); each its own ports.
    settings = [isolated_stack.model_copy(update={"worker_web_port": free_port(), "metrics_port": free_port()})
                for _ in ("a", "b")]
    catalogue = TopicCatalogue.from_settings(settings[0])
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    workers = [WorkerProcess(s, log).start() for s, log in zip(settings, logs)]
    try:
        with Publisher.from_settings(settings[0]) as publisher, \
                TopicReader.from_settings(settings[0], catalogue.bus("escalation")) as escalations:
            event = critical_deviation()
            publisher.publish(event)
            step1 = steps_for(escalations, event["item_ref"], 1, 40)
            assert step1, "no step fired before the kill"
            partition = partition_for(event["manufacturer_id"], settings[0].partitions)
            owner = max((0, 1), key=lambda i: _last_ownership(logs[i], partition))
            assert _last_ownership(logs[owner], partition), "no worker took the clocks"
            workers[owner].kill()                      # the owner of the rules and clocks dies
            later = steps_for(escalations, event["item_ref"], 2, 60)
            later += escalations.collect(lambda found: False, timeout=3,
                                         where=lambda r: r.value and r.value["item_ref"] == event["item_ref"])
            first = {r.value["event_id"] for r in step1}
            later = [r for r in unique(later) if r.value["event_id"] not in first]
        survivor = 1 - owner
        assert _last_ownership(logs[survivor], partition), "the survivor never took over the clocks"
    finally:
        for worker in workers:
            worker.stop()
    assert [r.value["payload"]["step"] for r in step1 + later] == [1, 2, 3]
