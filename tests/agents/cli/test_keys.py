"""``qbus keys generate|show`` (Art. 14): a source's key pair, the lines that register it in the
agreement, and the fingerprints of the bus's own keys."""
import json
import stat

import pytest

from agents.cli.main import main as qbus
from streams.signing import KeyRegistry, load_private_key, load_public_key, sign_event, verify_event
from tests.agents.core.test_admission import admission, agreements, event

pytestmark = pytest.mark.clause("Art. 14")


def test_generate_writes_a_private_key_only_its_owner_can_read_and_prints_the_agreement_lines(tmp_path, capsys):
    prefix = tmp_path / "qms-cmox-01"
    assert qbus(["keys", "generate", "--source", "qms-cmox-01", "--out", str(prefix), "--valid-from", "2026-01-01"]) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(prefix.with_suffix(".key").stat().st_mode) == 0o600
    assert "keys:" in out and "valid_from: 2026-01-01" in out and "key_id: qms-cmox-01-" in out
    # Never overwrite a private key.
    assert qbus(["keys", "generate", "--out", str(prefix)]) == 2


def test_the_generated_key_registered_in_the_agreement_signs_accepted_events(tmp_path, capsys):
    assert qbus(["keys", "generate", "--source", "qms-cmox-01", "--out", str(tmp_path / "k"),
                 "--valid-from", "2026-01-01", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    private = load_private_key(tmp_path / "k.key")

    def register(data):
        source = next(s for s in data["sources"] if s["instance"] == "qms-cmox-01")
        source["keys"] = [{k: made[k] for k in ("key_id", "public_key", "valid_from")}]
    check = admission(agreements(register), require_signatures=True)
    check(sign_event(event(), private, made["key_id"]))
    registry = KeyRegistry()
    registry.register("qms-cmox-01", made["key_id"], load_public_key(tmp_path / "k.pub"))
    assert verify_event(sign_event(event(), private, made["key_id"]), registry).ok


def test_show_names_a_key_files_id_and_the_bus_key(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QBUS_STATE_DIR", str(tmp_path / "state"))
    assert qbus(["keys", "generate", "--out", str(tmp_path / "k"), "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert qbus(["keys", "show", str(tmp_path / "k.key"), "--bus", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown[0]["what"].startswith("bus") and shown[0]["key_id"].startswith("ed25519:")
    assert (tmp_path / "state" / "bus-signing-key.pem").exists()
    assert shown[1]["key_id"] == made["fingerprint"] and shown[1]["public_key"] == made["public_key"]
    assert qbus(["keys", "show"]) == 2
