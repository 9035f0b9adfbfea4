"""The embedded Schema Registry: a standard client finds each topic's schema, with the bus's own ids."""
import json

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from agents.web.api.registry import create_registry_app
from schemas import default_schemas
from streams.codec import Codec
from streams.registry import FileRegistry
from streams.topics import TopicCatalogue
from streams.validation import validate_event
from tests.agents.web.dashboard.server import ServerThread
from tests.support.events import example

SCHEMAS = default_schemas()


@pytest.fixture
def registry_file(tmp_path):
    return tmp_path / "schema-registry.json"


@pytest.fixture
def served(registry_file):
    server = ServerThread(lambda: create_registry_app(registry_file)).start()
    yield server
    server.stop()


@pytest.fixture
def client(served):
    return SchemaRegistryClient({"url": served.url.rstrip("/")})


def test_every_single_schema_topic_has_a_subject_with_the_bus_id(client, registry_file):
    # The bus encodes an event as it always does (record-name subject, the file registry)...
    _, event = validate_event(example("deviation"), SCHEMAS)
    data = Codec(FileRegistry(registry_file), SCHEMAS).encode_event(event)
    wire_id = int.from_bytes(data[1:5], "big")
    # ... and a standard client finds that id under the topic's subject.
    latest = client.get_latest_version("qc.intake.deviation-value")
    assert latest.schema_id == wire_id
    assert client.get_latest_version("qbus.events.DeviationEvent").schema_id == wire_id
    assert json.loads(client.get_schema(wire_id).schema_str)["name"] == "DeviationEvent"


def test_subjects_listed_and_the_many_schema_topics_have_none(client):
    subjects = client.get_subjects()
    catalogue = TopicCatalogue()
    for category in SCHEMAS.intake_categories:
        assert f"{catalogue.intake(category)}-value" in subjects
    assert {"qc.deadletter-value", "qc.obligations-value", "qbus.DeadLetter"} <= set(subjects)
    assert "qc.accepted-value" not in subjects
    assert not any(s.startswith("qc.inbox.") for s in subjects)


def test_lookup_by_schema_finds_the_id_and_ignores_docs(client):
    schema = SCHEMAS.categories["change"]
    registered = client.lookup_schema("qc.intake.change-value", Schema(json.dumps(schema.event), "AVRO"))
    stripped = json.loads(json.dumps(schema.event))
    stripped.pop("doc")
    again = client.lookup_schema("qc.intake.change-value", Schema(json.dumps(stripped), "AVRO"))
    assert registered.schema_id == again.schema_id and registered.version == 1


def test_errors_come_in_the_registrys_shape(client):
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_latest_version("qc.intake.nothing-value")
    assert (missing.value.http_status_code, missing.value.error_code) == (404, 40401)
    with pytest.raises(SchemaRegistryError) as no_id:
        client.get_schema(99999)
    assert no_id.value.error_code == 40403
    with pytest.raises(SchemaRegistryError) as other:
        client.lookup_schema("qc.intake.change-value", Schema('{"type": "string"}', "AVRO"))
    assert other.value.error_code == 40403


def test_it_is_read_only_but_answers_a_schema_already_there(client):
    schema = SCHEMAS.categories["oos_oot"]
    same = client.register_schema("qc.intake.oos_oot-value", Schema(json.dumps(schema.event), "AVRO"))
    assert same == client.get_latest_version("qc.intake.oos_oot-value").schema_id
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema("qc.intake.oos_oot-value", Schema('{"type": "string"}', "AVRO"))
    assert refused.value.error_code == 42205 and "read-only" in refused.value.error_message


def test_config_versions_and_raw_schema(served, client):
    import httpx

    assert client.get_compatibility() == "FULL"
    assert client.get_versions("qc.deadletter-value") == [1]
    base = served.url.rstrip("/")
    latest = httpx.get(f"{base}/subjects/qc.deadletter-value/versions/latest").json()
    raw = httpx.get(f"{base}/schemas/ids/{latest['id']}/schema").json()
    assert raw["name"] == "DeadLetter"
    assert httpx.get(f"{base}/config/qc.nothing-value").json()["error_code"] == 40401
    assert httpx.get(f"{base}/subjects/qc.deadletter-value/versions/zero").json()["error_code"] == 42202
    assert httpx.get(f"{base}/no/such/route").json() == {"error_code": 404, "message": "HTTP 404 Not Found"}


def test_file_registry_lists_a_known_schema_under_a_second_subject(registry_file):
    registry = FileRegistry(registry_file)
    first = registry.register("a", '{"type": "string"}')
    assert registry.register("b", '{"type":"string"}') == first
    assert FileRegistry(registry_file).read()["subjects"] == {"a": [first], "b": [first]}
