"""Outside Kafka clients, end to end against the session's real worker, as an integrator writes them:
confluent-kafka with its SchemaRegistryClient against the embedded registry, and kafka-python with
fastavro. No qbus code on the client side: the schema comes from the registry, the bytes are theirs.

Consumer settings that make a group join promptly on Tansu (measured, docs/wire-format.md):
``session.timeout.ms`` 6000 (the first assignment waits about half of it; librdkafka's default of
45 s made it ~23 s), a fresh group id per deployment or a member that leaves with ``close()``.
"""
import io
import json
import logging
import time
import uuid
from datetime import date, datetime

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from agents.record.ledger import open_ledger
from agents.web.api.registry import create_registry_app
from streams.topics import TopicCatalogue
from tests.agents.web.dashboard.server import ServerThread
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow]
log = logging.getLogger(__name__)

# What docs/wire-format.md tells integrators to set on Tansu (and what is harmless on Kafka).
PROMPT_GROUP_JOIN = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}


@pytest.fixture(scope="module")
def registry_url(bus_settings, topics):
    server = ServerThread(lambda: create_registry_app(bus_settings.registry_path,
                                                      TopicCatalogue.from_settings(bus_settings))).start()
    yield server.url
    server.stop()


def avro_ready(schema, value):
    """What an integrator hands an Avro serializer: the event's JSON, with ISO timestamps and dates
    turned into datetime and date objects where the registered schema says so."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return None if value is None else avro_ready(branches[0], value) if len(branches) == 1 else value
    if not isinstance(schema, dict):
        return value
    logical = schema.get("logicalType")
    if logical == "timestamp-millis" and isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if logical == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if schema.get("type") == "record":
        return {f["name"]: avro_ready(f["type"], value[f["name"]]) for f in schema["fields"] if f["name"] in value}
    if schema.get("type") == "array":
        return [avro_ready(schema["items"], v) for v in value]
    if isinstance(schema.get("type"), (dict, list)):
        return avro_ready(schema["type"], value)
    return value


def recorded(bus_settings, event_id: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        with open_ledger(bus_settings.ledger) as ledger:
            status = ledger.event_state(event_id).status
        if status != "unknown" or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def test_confluent_kafka_publishes_with_the_registry_and_reads_the_holder_inbox(worker, bus_settings, topics,
                                                                                registry_url):
    registry = SchemaRegistryClient({"url": registry_url})
    serializer = AvroSerializer(registry, conf={"auto.register.schemas": False, "use.latest.version": True})
    # A co-line change: the bus sends each holder with a product on that line a notice in its inbox (Art. 8).
    event = example("coline_change")
    topic = topics.intake("coline_change")
    schema = json.loads(registry.get_latest_version(f"{topic}-value").schema.schema_str)
    value = serializer(avro_ready(schema, event), SerializationContext(topic, MessageField.VALUE))
    # The framing: magic byte 0 and the id the registry has under the topic's subject, which is the bus's own.
    assert value[0] == 0
    assert int.from_bytes(value[1:5], "big") == registry.get_latest_version(f"{topic}-value").schema_id
    producer = Producer({"bootstrap.servers": bus_settings.bootstrap_servers, "acks": "all", "enable.idempotence": True})
    producer.produce(topic, key=f"{event['agreement_id']}|{event['item_ref']}".encode(), value=value)
    assert producer.flush(30) == 0
    assert recorded(bus_settings, event["event_id"]) == "recorded"

    # The holder's system reads its inbox with a consumer group and decodes by the id in each record.
    deserializer = AvroDeserializer(registry)
    consumer = Consumer({"bootstrap.servers": bus_settings.bootstrap_servers, "group.id": f"holder-a-qms-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **PROMPT_GROUP_JOIN})
    inbox = topics.inbox("HOLDER-A")
    started, first, found = time.monotonic(), None, None
    try:
        consumer.subscribe([inbox])
        while found is None and time.monotonic() - started < 90:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            first = first or time.monotonic() - started
            record = deserializer(message.value(), SerializationContext(inbox, MessageField.VALUE))
            if record["item_ref"] == event["item_ref"]:
                found = record
                consumer.commit(message, asynchronous=False)
    finally:
        consumer.close()
    log.info("confluent-kafka group: first record %.1f s after subscribe", first or -1)
    assert found is not None, f"the event never reached {inbox}"
    assert found["event_type"] == "coline_change.notified" and found["holder_id"] == "HOLDER-A"


def test_kafka_python_with_fastavro_as_the_wire_format_doc_shows(worker, bus_settings, topics, registry_url):
    import fastavro
    import httpx
    from kafka import KafkaProducer

    topic = topics.intake("deviation")
    latest = httpx.get(f"{registry_url}/subjects/{topic}-value/versions/latest").json()
    schema = fastavro.parse_schema(json.loads(latest["schema"]))
    event = example("deviation")
    body = io.BytesIO()
    body.write(b"\x00" + latest["id"].to_bytes(4, "big"))      # magic byte, schema id (big-endian)
    fastavro.schemaless_writer(body, schema, avro_ready(json.loads(latest["schema"]), event))
    producer = KafkaProducer(bootstrap_servers=bus_settings.bootstrap_servers, acks="all")
    producer.send(topic, key=f"{event['agreement_id']}|{event['item_ref']}".encode(), value=body.getvalue()).get(30)
    producer.close()
    assert recorded(bus_settings, event["event_id"]) == "recorded"
