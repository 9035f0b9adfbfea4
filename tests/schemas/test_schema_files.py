"""Checks on the committed Avro schema files and example events.

Deliberately uses only json + fastavro (not the schemas loader), so a broken loader
cannot hide a broken schema file, and vice versa.
"""
from __future__ import annotations

import copy
import datetime as dt
import io
import json
import re
from pathlib import Path

import fastavro
import pytest
from fastavro.validation import validate

ROOT = Path(__file__).resolve().parents[2] / "schemas"
ENVELOPE_PATH = ROOT / "envelope.avsc"
PAYLOAD_DIR = ROOT / "payloads"
BUS_DIR = ROOT / "bus"
EXAMPLE_DIR = ROOT / "examples"
DEAD_LETTER_PATH = ROOT / "dead_letter.avsc"

ART7 = [
    "deviation", "change", "oos_oot", "qualification_validation", "retention_stability",
    "pharmacovigilance", "regulatory_inspection", "adverse_credit",
]
INTAKE = ART7 + [
    "batch_release", "coline_change", "technical_transfer_issue", "holder_audit",
    "periodic_review", "production", "agreement", "licence",
]
BUS = ["obligation", "escalation", "directive", "finding", "delivery"]

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def load(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


ENVELOPE = load(ENVELOPE_PATH)


def payload_path(name: str) -> Path:
    return (BUS_DIR if name in BUS else PAYLOAD_DIR) / f"{name}.avsc"


def compose(payload: dict) -> dict:
    """The event schema of a payload file, as the loader (schemas/__init__.py) composes it."""
    from schemas import default_schemas

    return default_schemas().categories[payload.get("category") or payload["name"]].event


def parse_event(name: str):
    return fastavro.parse_schema(compose(load(payload_path(name))), named_schemas={})


# ---------------------------------------------------------------- raw schema walking

def _fullname(schema: dict, ns: str | None) -> tuple[str, str | None]:
    name = schema["name"]
    if "." in name:
        return name, name.rsplit(".", 1)[0]
    ns = schema.get("namespace", ns)
    return (f"{ns}.{name}" if ns else name), ns


def walk_named(schema, ns=None, out=None):
    """Collect {fullname: definition} for every record/enum/fixed defined in a raw schema."""
    out = {} if out is None else out
    if isinstance(schema, list):
        for branch in schema:
            walk_named(branch, ns, out)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "error", "enum", "fixed"):
            full, ns = _fullname(schema, ns)
            assert full not in out, f"named type defined twice: {full}"
            out[full] = (schema, ns)
            for f in schema.get("fields", []):
                walk_named(f["type"], ns, out)
        elif t == "array":
            walk_named(schema["items"], ns, out)
        elif t == "map":
            walk_named(schema["values"], ns, out)
        elif isinstance(t, (dict, list)):
            walk_named(t, ns, out)
    return out


def walk_fields(schema, path="", ns=None):
    """Yield (dotted path, field dict) for every field in every record of a raw schema."""
    if isinstance(schema, list):
        for branch in schema:
            yield from walk_fields(branch, path, ns)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "error"):
            _, ns = _fullname(schema, ns)
            for f in schema["fields"]:
                p = f"{path}.{f['name']}" if path else f["name"]
                yield p, f
                yield from walk_fields(f["type"], p, ns)
        elif t == "array":
            yield from walk_fields(schema["items"], path, ns)
        elif t == "map":
            yield from walk_fields(schema["values"], path, ns)
        elif isinstance(t, (dict, list)):
            yield from walk_fields(t, path, ns)


def is_logical(schema, logical: str) -> bool:
    return isinstance(schema, dict) and schema.get("logicalType") == logical


def branches(schema) -> list:
    return schema if isinstance(schema, list) else [schema]


OWN_FILES = (
    [PAYLOAD_DIR / f"{c}.avsc" for c in INTAKE]
    + [BUS_DIR / f"{b}.avsc" for b in BUS]
    + [DEAD_LETTER_PATH]
)
OWN_IDS = [p.relative_to(ROOT).as_posix() for p in OWN_FILES]


# ---------------------------------------------------------------- presence

def test_all_schema_files_exist():
    assert ENVELOPE_PATH.is_file()
    assert sorted(p.stem for p in PAYLOAD_DIR.glob("*.avsc")) == sorted(INTAKE)
    assert sorted(p.stem for p in BUS_DIR.glob("*.avsc")) == sorted(BUS)
    assert DEAD_LETTER_PATH.is_file()


def test_every_intake_category_has_an_example():
    assert sorted(p.stem for p in EXAMPLE_DIR.glob("*.json")) == sorted(INTAKE)


def test_named_types_unique_across_all_files():
    seen: dict[str, str] = {}
    for path in [ENVELOPE_PATH] + OWN_FILES:
        for full in walk_named(load(path)):
            assert full not in seen, f"{full} defined in both {seen[full]} and {path.name}"
            seen[full] = path.name


# ---------------------------------------------------------------- per-file conventions

@pytest.mark.parametrize("path", OWN_FILES, ids=OWN_IDS)
def test_docs_enums_and_field_conventions(path):
    schema = load(path)
    for full, (named, _) in walk_named(schema).items():
        assert isinstance(named.get("doc"), str) and named["doc"].strip(), f"{full} has no doc"
        if named["type"] == "enum":
            assert named["symbols"][0] == "UNKNOWN", f"{full}: first symbol must be UNKNOWN"
            assert named.get("default") == "UNKNOWN", f"{full}: enum default must be UNKNOWN"
            assert len(set(named["symbols"])) == len(named["symbols"])
    for fpath, field in walk_fields(schema):
        assert isinstance(field.get("doc"), str) and field["doc"].strip(), f"{fpath} has no doc"
        assert SNAKE.match(field["name"]), f"{fpath}: field names are snake_case"
        t = field["type"]
        if isinstance(t, list) and "null" in t:
            assert t[0] == "null", f"{fpath}: optional fields are ['null', T]"
            assert "default" in field and field["default"] is None, f"{fpath}: optional default is null"
        for b in branches(t):
            if isinstance(b, dict) and b.get("type") == "long" and "logicalType" in b:
                assert b["logicalType"] == "timestamp-millis", f"{fpath}: timestamps are timestamp-millis"
        if field["name"].endswith("_at"):
            assert any(is_logical(b, "timestamp-millis") for b in branches(t)), (
                f"{fpath}: *_at fields are timestamps"
            )
        if field.get("confidential") is not None:
            assert field["confidential"] is True
            # a redacted copy must still be a valid event: confidential fields are optional
            assert isinstance(t, list) and t[0] == "null", f"{fpath}: confidential fields must be nullable"


@pytest.mark.parametrize("name", INTAKE + BUS)
def test_payload_attributes(name):
    schema = load(payload_path(name))
    assert schema["type"] == "record"
    assert schema["namespace"] == "qbus.payloads"
    assert schema["category"] == name
    assert re.match(r"^Art\. \d+(, Art\. \d+)*$", schema["article"]), schema["article"]
    actions = schema["actions"]
    assert actions and len(set(actions)) == len(actions)
    assert all(SNAKE.match(a) for a in actions)
    if name in INTAKE:
        assert "acknowledged" in actions and "corrected" in actions
    n_fields = len(schema["fields"])
    # Bus records are full state snapshots (a restart rebuilds from them), so they may be wider.
    limit = 16 if name in INTAKE else 32
    assert 3 <= n_fields <= limit, f"{name}: {n_fields} fields; keep payloads practical"


@pytest.mark.parametrize("name", INTAKE + BUS)
def test_payload_parses_alone_against_envelope_types(name):
    named: dict = {}
    fastavro.parse_schema(copy.deepcopy(ENVELOPE), named_schemas=named)
    fastavro.parse_schema(load(payload_path(name)), named_schemas=named)
    assert f"qbus.payloads.{load(payload_path(name))['name']}" in named


@pytest.mark.parametrize("name", INTAKE + BUS)
def test_composed_event_schema_parses(name):
    parsed = parse_event(name)
    assert "payload" in [f["name"] for f in parsed["fields"]]


def test_dead_letter_schema():
    schema = load(DEAD_LETTER_PATH)
    assert schema["name"] == "DeadLetter" and schema["namespace"] == "qbus"
    parsed = fastavro.parse_schema(schema, named_schemas={})
    names = [f["name"] for f in schema["fields"]]
    for required in ("dead_letter_id", "reason_code", "reason", "original_topic", "original_partition",
                     "original_offset", "original_key", "original_value", "event_id", "agreement_id",
                     "received_at"):
        assert required in names
    codes = next(f for f in schema["fields"] if f["name"] == "reason_code")["type"]["symbols"]
    # Symbols are only ever appended (UNKNOWN first, the default), so older readers stay compatible.
    assert codes[:11] == ["UNKNOWN", "UNDECODABLE", "SCHEMA_VIOLATION", "UNKNOWN_EVENT_TYPE", "UNKNOWN_AGREEMENT",
                          "OUT_OF_TENANT", "DUPLICATE", "BAD_SIGNATURE", "MISSING_SIGNATURE", "TOO_LARGE",
                          "RULE_REFUSED"]
    assert {"UNKNOWN_SOURCE", "SOURCE_PARTY_MISMATCH", "FUTURE_EVENT", "STAGE_FAILED"} <= set(codes)
    record = {
        "dead_letter_id": "0b6f5a70-8e43-4c1e-9a55-3d2f1e000001", "reason_code": "UNDECODABLE",
        "reason": "Not in Confluent wire format: first byte is 0x7b, expected 0x00.",
        "original_topic": "qbus.intake.deviation", "original_partition": 0, "original_offset": 17,
        "original_key": None, "original_value": b"{\"x\": 1}", "schema_id": None, "event_id": None,
        "agreement_id": None, "received_at": dt.datetime(2026, 11, 20, 8, 30, tzinfo=dt.timezone.utc),
    }
    assert validate(record, parsed, raise_errors=True)


def test_coline_change_has_confidential_fields():
    schema = load(PAYLOAD_DIR / "coline_change.avsc")
    confidential = [f["name"] for f in schema["fields"] if f.get("confidential") is True]
    assert confidential, "Art. 8: co-line notices must be able to carry fields other holders do not see"
    risk = next(f for f in schema["fields"] if f["name"] == "risk_assessment_conclusion")
    assert risk["type"] == ["null", "string"]


def test_change_references_envelope_classification():
    schema = load(PAYLOAD_DIR / "change.avsc")
    types = {f["name"]: f["type"] for f in schema["fields"]}
    assert types["manufacturer_classification"] == ["null", "qbus.Classification"]
    assert types["holder_classification"] == ["null", "qbus.Classification"]


# ---------------------------------------------------------------- examples

def _to_datetime(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def convert(value, schema, named, ns=None):
    """JSON example -> Python datum: ISO strings become datetime/date where the schema says so."""
    if value is None:
        return None
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return value
        full = schema if "." in schema else (f"{ns}.{schema}" if ns else schema)
        if full in named:
            definition, def_ns = named[full]
            return convert(value, definition, named, def_ns)
        return value
    if isinstance(schema, list):
        for branch in schema:
            if branch == "null":
                continue
            target = branch
            if isinstance(branch, str) and branch not in PRIMITIVES:
                full = branch if "." in branch else (f"{ns}.{branch}" if ns else branch)
                target = named.get(full, (branch, ns))[0]
            if isinstance(value, dict) and isinstance(target, dict) and target.get("type") in ("record", "map"):
                return convert(value, branch, named, ns)
            if isinstance(value, str) and (is_logical(target, "timestamp-millis") or is_logical(target, "date")):
                return convert(value, branch, named, ns)
            if isinstance(value, list) and isinstance(target, dict) and target.get("type") == "array":
                return convert(value, branch, named, ns)
        return value
    t = schema.get("type")
    if is_logical(schema, "timestamp-millis") and isinstance(value, str):
        return _to_datetime(value)
    if is_logical(schema, "date") and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if t in ("record", "error"):
        _, ns = _fullname(schema, ns)
        out = dict(value)
        for f in schema["fields"]:
            if f["name"] in value:
                out[f["name"]] = convert(value[f["name"]], f["type"], named, ns)
        return out
    if t == "array":
        return [convert(v, schema["items"], named, ns) for v in value]
    if t == "map":
        return {k: convert(v, schema["values"], named, ns) for k, v in value.items()}
    if isinstance(t, (dict, list)):
        return convert(value, t, named, ns)
    return value


def load_example(name: str) -> tuple[dict, dict, dict]:
    raw_payload = load(PAYLOAD_DIR / f"{name}.avsc")
    composed = compose(raw_payload)
    example = load(EXAMPLE_DIR / f"{name}.json")
    datum = convert(example, composed, walk_named(composed))
    return raw_payload, example, datum


@pytest.mark.parametrize("name", INTAKE)
def test_example_is_valid_and_complete(name):
    raw_payload, example, datum = load_example(name)
    parsed = parse_event(name)
    # strict: every field written out, none left to defaults
    assert validate(datum, parsed, raise_errors=True, strict=True)
    # and it really encodes and decodes
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, datum)
    buf.seek(0)
    back = fastavro.schemaless_reader(buf, parsed, parsed)
    assert str(back["event_id"]) == example["event_id"]
    assert set(example) == {f["name"] for f in compose(raw_payload)["fields"]}, "no unknown envelope keys"
    assert set(example["payload"]) == {f["name"] for f in raw_payload["fields"]}, "no unknown payload keys"


@pytest.mark.parametrize("name", INTAKE)
def test_example_envelope_conventions(name):
    raw_payload, example, _ = load_example(name)
    category, _, action = example["event_type"].partition(".")
    assert category == name
    assert action in raw_payload["actions"]
    assert example["agreement_id"] == "QA-HOLDERA-CMOX-001"
    assert example["holder_id"] == "HOLDER-A"
    assert example["manufacturer_id"] == "CMO-X"
    assert example["site_id"] == "SITE-SZ-01"
    for key in ("occurred_at", "published_at"):
        assert example[key].endswith("Z")
        _to_datetime(example[key])
    assert _to_datetime(example["occurred_at"]) <= _to_datetime(example["published_at"])
    role = example["source"]["party_role"]
    party = {"HOLDER": "HOLDER-A", "MANUFACTURER": "CMO-X"}.get(role)
    assert example["source"]["party_id"] == party


def test_example_event_ids_unique():
    ids = [load(EXAMPLE_DIR / f"{c}.json")["event_id"] for c in INTAKE]
    assert len(set(ids)) == len(ids)


def test_batch_release_example_has_qp_and_records():
    example = load(EXAMPLE_DIR / "batch_release.json")
    assert example["event_type"] == "batch_release.factory_released"
    p = example["payload"]
    assert p["qp"] and p["qp"]["name"] and p["qp"]["signed_at"]
    assert p["batch_record_ref"] and p["test_record_ref"] and p["deviation_record_ref"]
