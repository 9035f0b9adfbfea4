"""Wire format, the embedded registry and the HTTP registry client."""
import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from schemas import default_schemas
from streams.codec import Codec, DecodeError
from streams.registry import FileRegistry, HttpRegistry, RegistryError
from streams.validation import validate_event
from tests.support.events import example

SCHEMAS = default_schemas()


@pytest.fixture
def codec(tmp_path):
    return Codec(FileRegistry(tmp_path / "registry.json"), SCHEMAS)


@pytest.mark.parametrize("category", sorted(SCHEMAS.examples()))
def test_round_trip_of_every_example(codec, category):
    _, event = validate_event(example(category), SCHEMAS)
    data = codec.encode_event(event)
    assert data[0] == 0  # Confluent magic byte
    decoded = codec.decode(data)
    assert decoded.record_name == SCHEMAS.categories[category].name
    assert decoded.value == event


def test_file_registry_ids_are_stable_and_shared(tmp_path):
    first = FileRegistry(tmp_path / "r.json")
    a = first.register("s", '{"type": "string"}')
    b = first.register("t", '{"type": "long"}')
    assert (a, b) == (1, 2)
    second = FileRegistry(tmp_path / "r.json")  # another process on the same machine
    assert second.register("s", '{"type":"string"}') == a
    assert json.loads(second.schema_by_id(b)) == {"type": "long"}
    with pytest.raises(RegistryError, match="schema id 99 is not in the registry"):
        second.schema_by_id(99)


@pytest.mark.parametrize("data, reason", [
    (b"", "too short"),
    (b"\x01\x00\x00\x00\x01abc", "not the Confluent magic byte"),
    (b"\x00\x00\x00\x03\xe7abc", "schema id 999 is not in the registry"),
    (b"\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff", "does not match schema id 1"),
])
def test_garbage_is_refused_with_a_reason(codec, data, reason):
    _, event = validate_event(example("deviation"), SCHEMAS)
    codec.encode_event(event)  # registers schema id 1
    with pytest.raises(DecodeError, match=reason):
        codec.decode(data)


def test_old_writer_schema_is_read_with_todays_schema(tmp_path):
    """An event written before a field was added decodes, with the new field's default."""
    category = SCHEMAS.categories["deviation"]
    old = copy.deepcopy(category.event)
    old["fields"] = [f for f in old["fields"] if f["name"] != "significant_risk"]
    registry = FileRegistry(tmp_path / "r.json")
    old_id = registry.register(category.name, json.dumps(old))
    import fastavro
    import io
    import struct
    _, event = validate_event(example("deviation"), SCHEMAS)
    event.pop("significant_risk")
    out = io.BytesIO()
    out.write(struct.pack(">bI", 0, old_id))
    fastavro.schemaless_writer(out, fastavro.parse_schema(old), event)
    decoded = Codec(registry, SCHEMAS).decode(out.getvalue())
    assert decoded.value["significant_risk"] is False


class _FakeConfluentRegistry(BaseHTTPRequestHandler):
    """Speaks the two calls of the Confluent Schema Registry API that qbus uses."""
    schemas: dict = {}

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self.path.startswith("/subjects/") or "schema" not in body:
            return self._reply(422, {"error_code": 42201, "message": "Invalid schema"})
        for sid, text in self.schemas.items():
            if text == body["schema"]:
                return self._reply(200, {"id": sid})
        sid = len(self.schemas) + 1
        self.schemas[sid] = body["schema"]
        self._reply(200, {"id": sid})

    def do_GET(self):
        sid = int(self.path.rsplit("/", 1)[1])
        if sid not in self.schemas:
            return self._reply(404, {"error_code": 40403, "message": "Schema not found"})
        self._reply(200, {"schema": self.schemas[sid]})

    def log_message(self, *args):
        pass


def test_http_registry_client_speaks_the_confluent_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeConfluentRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        codec = Codec(HttpRegistry(url), SCHEMAS)
        _, event = validate_event(example("change"), SCHEMAS)
        data = codec.encode_event(event)
        # a second client (another process) decodes by fetching the schema by id
        assert Codec(HttpRegistry(url), SCHEMAS).decode(data).value == event
        with pytest.raises(RegistryError, match="HTTP 404 40403: Schema not found"):
            HttpRegistry(url).schema_by_id(77)
    finally:
        server.shutdown()
