"""`qbus schemas register`, `qbus topics list --json`: the subjects and the inboxes, as a script reads them."""
import json
from pathlib import Path

from agents.cli.main import main
from agents.web.api.registry import create_registry_app
from streams.registry import FileRegistry
from tests.agents.web.dashboard.server import ServerThread

DEMO_AGREEMENTS = Path(__file__).resolve().parents[3] / "deploy/demo/agreements"


def test_register_puts_every_schema_under_both_subjects_in_the_file_registry(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QBUS_STATE_DIR", str(tmp_path))
    assert main(["schemas", "register", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["subjects"]
    ids = {row["subject"]: row["id"] for row in rows}
    assert ids["qc.intake.deviation-value"] == ids["qbus.events.DeviationEvent"]
    assert ids["qc.deadletter-value"] == ids["qbus.DeadLetter"]
    assert FileRegistry(tmp_path / "schema-registry.json").read()["subjects"]["qc.intake.deviation-value"] == [
        ids["qbus.events.DeviationEvent"]]


def test_register_in_a_registry_over_http_gets_the_same_ids(tmp_path, monkeypatch, capsys):
    served = ServerThread(lambda: create_registry_app(tmp_path / "served.json")).start()
    try:
        monkeypatch.setenv("QBUS_SCHEMA_REGISTRY_URL", served.url)
        assert main(["schemas", "register", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)["subjects"]
    finally:
        served.stop()
    # A real registry answers a schema it has with its id: the same ids the served file holds.
    latest = {subject: ids[-1] for subject, ids in FileRegistry(tmp_path / "served.json").read()["subjects"].items()}
    assert {row["subject"]: row["id"] for row in rows} == latest


def test_topics_list_shows_the_inboxes_of_the_loaded_agreements_and_each_subject(monkeypatch, capsys):
    monkeypatch.setenv("QBUS_AGREEMENTS_DIR", str(DEMO_AGREEMENTS))
    assert main(["topics", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    topics = {t["topic"]: t for t in listing["topics"]}
    assert {"qc.inbox.HOLDER-A", "qc.inbox.HOLDER-B"} <= set(topics)
    assert topics["qc.intake.deviation"]["subject"] == "qc.intake.deviation-value"
    assert topics["qc.inbox.HOLDER-A"]["subject"] is None and topics["qc.accepted"]["subject"] is None
    assert "findings" in listing["inbox_note"]
    assert main(["topics", "list"]) == 0
    text = capsys.readouterr().out
    assert "qc.inbox.HOLDER-B" in text and "decode by the schema id" in text
