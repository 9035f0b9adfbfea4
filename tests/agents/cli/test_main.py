"""`qbus publish`, `qbus topics` and `qbus tail` as an integrator uses them, against the real broker."""
import json

import pytest

from schemas import default_schemas
from agents.cli.main import main
from streams.validation import validate_event
from tests.support.events import example

pytestmark = pytest.mark.broker


@pytest.fixture
def env(bus_settings, topics, monkeypatch):
    monkeypatch.setenv("QBUS_BOOTSTRAP_SERVERS", bus_settings.bootstrap_servers)
    monkeypatch.setenv("QBUS_STATE_DIR", str(bus_settings.state_dir))
    return bus_settings


def test_publish_prints_one_line_per_event_and_fails_on_a_bad_one(env, tmp_path, capsys):
    good, bad = example("deviation"), example("change", classification="huge")
    events = tmp_path / "events.yaml"
    import yaml
    events.write_text(yaml.safe_dump([good, bad], allow_unicode=True), encoding="utf-8")
    assert main(["publish", str(events)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("sent") and good["event_id"] in lines[0]
    assert lines[1].startswith("REFUSED") and "classification: 'huge' is not one of" in lines[1]


def test_publish_names_a_broken_file(env, tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text('{"event_type": "deviation.reported",', encoding="utf-8")
    assert main(["publish", str(broken)]) == 1
    assert "not valid JSON: line 1" in capsys.readouterr().out


def test_publish_signs_with_a_key(env, tmp_path, capsys, read_topic, topics):
    from streams.signing import generate_keypair, private_key_pem

    private, _ = generate_keypair()
    key = tmp_path / "k.pem"
    key.write_bytes(private_key_pem(private))
    event = example("oos_oot")
    path = tmp_path / "e.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    assert main(["publish", str(path), "--sign-key", str(key), "--key-id", "lims-k1"]) == 0
    found = read_topic(topics.intake("oos_oot")).collect(
        lambda rs: len(rs) >= 1, where=lambda r: r.value and r.value["event_id"] == event["event_id"])
    assert found[0].value["signature"]["key_id"] == "lims-k1"


def test_topics_list_and_create(env, capsys):
    assert main(["topics", "list", "--holder", "HOLDER-Z"]) == 0
    assert "qc.inbox.HOLDER-Z" in capsys.readouterr().out
    assert main(["topics", "create"]) == 0
    assert "0 topics created" in capsys.readouterr().out  # the session already created them


def test_tail_prints_decoded_events(env, publisher, capsys):
    event = example("adverse_credit")
    publisher.publish(event)
    assert main(["tail", "intake.adverse_credit", "--from-beginning", "--idle-timeout", "2", "--max", "1000"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert event["event_id"] in {e["event_id"] for e in printed}


def test_publish_with_an_outbox_and_reconcile(env, tmp_path, capsys, monkeypatch):
    """The outbox keeps what was sent; reconcile re-sends what the ledger lacks, once."""
    from agents.record.ledger import open_ledger

    event = example("qualification_validation")
    path = tmp_path / "e.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    outbox = tmp_path / "outbox.db"
    assert main(["publish", str(path), "--outbox", str(outbox)]) == 0
    capsys.readouterr()
    # The session worker records into its ledger, as a real one would; here the ledger is a
    # fresh one that never saw the event (as after a memory broker lost it).
    env_ledger = tmp_path / "state" / "ledger.db"
    with open_ledger(f"sqlite:///{env_ledger}"):
        pass
    monkeypatch.setenv("QBUS_STATE_DIR", str(tmp_path / "state"))
    assert main(["reconcile", "--outbox", str(outbox), "--grace", "0"]) == 0
    assert "0 events found in the ledger, 1 sent again" in capsys.readouterr().out
    with open_ledger(f"sqlite:///{env_ledger}") as ledger:
        ledger.append([validate_event(event, default_schemas())[1]])  # now the ledger has it
    assert main(["reconcile", "--outbox", str(outbox), "--grace", "0"]) == 0
    assert "1 events found in the ledger, 0 sent again" in capsys.readouterr().out
    assert main(["reconcile", "--outbox", str(outbox), "--grace", "0"]) == 0
    assert "0 events found in the ledger, 0 sent again" in capsys.readouterr().out  # nothing left
