"""End to end through the real broker and a real Faust worker: in = accepted + dead-lettered."""
import uuid

import pytest
from kafka import KafkaProducer

from schemas import default_schemas
from streams.validation import validate_event
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_one_example_of_every_category_is_accepted(worker, publisher, read_topic, topics):
    events = [example(category) for category in sorted(default_schemas().examples())]
    ids = set(publisher.publish_many(events))
    accepted = read_topic(topics.accepted).collect(
        lambda found: {r.value["event_id"] for r in found} >= ids, timeout=60,
        where=lambda r: r.value is not None and r.value.get("event_id") in ids)
    assert {r.value["event_id"] for r in accepted} == ids
    assert {r.value["event_type"].split(".")[0] for r in accepted} == set(default_schemas().examples())


def test_bad_input_lands_in_the_dead_letter_topic_with_its_reason(worker, publisher, bus_settings, read_topic, topics):
    producer = KafkaProducer(bootstrap_servers=bus_settings.bootstrap_servers, acks="all")
    marker = uuid.uuid4().hex.encode()
    good = example("deviation")
    duplicate_of = example("deviation")
    wrong_action = example("deviation")
    _, wrong_action_avro = validate_event(wrong_action, publisher.codec.schemas)
    wrong_action_avro["event_type"] = "deviation.vanished"

    publisher.publish(good)
    publisher.publish(duplicate_of)
    publisher.publish(duplicate_of)                        # same event_id again
    topic = topics.intake("deviation")
    producer.send(topic, b"garbage " + marker).get(10)     # not Avro at all
    on_wrong_topic = example("deviation")
    producer.send(topics.intake("change"), publisher.codec.encode_event(
        validate_event(on_wrong_topic, publisher.codec.schemas)[1])).get(10)  # wrong topic
    producer.send(topic, publisher.codec.encode_event(wrong_action_avro)).get(10)
    producer.close()
    sent = 6

    ours = {good["event_id"], duplicate_of["event_id"], wrong_action["event_id"], on_wrong_topic["event_id"]}
    letters = read_topic(topics.dead_letters).collect(
        lambda found: len(found) >= 4, timeout=60,
        where=lambda r: r.value is not None and (r.value["event_id"] in ours or marker in r.value["original_value"]))
    reasons = sorted(r.value["reason_code"] for r in letters)
    assert reasons == ["DUPLICATE", "SCHEMA_VIOLATION", "UNDECODABLE", "UNKNOWN_EVENT_TYPE"]
    # The second publication of an event id is refused by the core stage, against the ledger.
    assert next(r.value for r in letters if r.value["reason_code"] == "DUPLICATE")["stage"] == "core"
    from agents.record.ledger import open_ledger

    with open_ledger(bus_settings.ledger) as ledger:
        recorded = {e for e in ours if ledger.event_state(e).status == "recorded"}
    assert recorded == {good["event_id"], duplicate_of["event_id"]}
    assert len(recorded) + len(letters) == sent  # nothing lost: every record is recorded or dead-lettered
    garbage = next(r.value for r in letters if r.value["reason_code"] == "UNDECODABLE")
    assert garbage["original_value"] == b"garbage " + marker and garbage["original_topic"] == topic


def test_worker_exports_metrics_for_prometheus(worker, publisher, bus_settings, read_topic, topics):
    import httpx

    event_id = publisher.publish(example("pharmacovigilance"))
    read_topic(topics.accepted).collect(lambda found: len(found) >= 1, timeout=60,
                                        where=lambda r: r.value and r.value["event_id"] == event_id)
    text = httpx.get(f"http://127.0.0.1:{bus_settings.metrics_port}/metrics", timeout=5).text
    line = next(l for l in text.splitlines()
                if l.startswith("qbus_events_total{") and 'category="pharmacovigilance"' in l and 'result="accepted"' in l)
    assert float(line.rsplit(" ", 1)[1]) >= 1
    assert "qbus_processing_seconds_bucket" in text


def test_worker_reports_consumer_lag_per_partition(worker, bus_settings):
    import time

    import httpx

    # The gauge is refreshed every 10 s for each partition the worker consumes.
    deadline = time.monotonic() + 25
    lines = []
    while time.monotonic() < deadline and not lines:
        text = httpx.get(f"http://127.0.0.1:{bus_settings.metrics_port}/metrics", timeout=5).text
        lines = [l for l in text.splitlines() if l.startswith("qbus_consumer_lag{") and "qc.accepted" in l]
        time.sleep(1)
    assert lines, "no consumer lag reported for qc.accepted"
    assert all(float(l.rsplit(" ", 1)[1]) >= 0 for l in lines)
