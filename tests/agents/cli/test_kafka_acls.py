"""``qbus kafka acls``: each principal may write only what its own sources publish (Art. 10, 14)."""
import json

from agents.cli.kafka_acls import acl_plan
from agents.cli.main import main as qbus
from agents.core.agreements import AgreementSet
from streams.topics import TopicCatalogue
from tests.conftest import ROOT
from tests.agents.core.test_admission import agreements


def test_a_source_writes_only_its_categories_and_a_holder_subscriber_writes_nothing():
    def narrow(data):
        next(s for s in data["sources"] if s["instance"] == "qms-holdera-01")["categories"] = ["deviation", "change"]
    plan = acl_plan(agreements(narrow), TopicCatalogue())
    qms = [a for a in plan if a.principal == "qms-holdera-01" and a.resource == "topic"]
    assert [a.name for a in qms] == ["qc.intake.change", "qc.intake.deviation"]
    assert all(a.operations == ("Write", "Describe") for a in qms)
    subscriber = [a for a in plan if a.principal == "sub-HOLDER-A"]
    assert {(a.resource, a.name) for a in subscriber} == {("topic", "qc.inbox.HOLDER-A"), ("group", "sub-HOLDER-A")}
    assert not any("Write" in a.operations for a in subscriber)
    # No principal but the worker's gets a prefix on qc. topics: nobody writes intake topics wholesale.
    assert [a.principal for a in plan if a.resource == "topic" and a.pattern == "prefixed"] == ["qbus-worker"]


def test_the_command_prints_a_script_or_json(capsys, monkeypatch):
    monkeypatch.setenv("QBUS_AGREEMENTS_DIR", str(ROOT / "deploy/demo/agreements"))
    assert qbus(["kafka", "acls"]) == 0
    script = capsys.readouterr().out
    assert script.startswith("#!/usr/bin/env bash") and "User:qms-holdera-01" in script
    assert qbus(["kafka", "acls", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    holders = AgreementSet.load_dir(ROOT / "deploy/demo/agreements").ids()
    assert len({a["name"] for a in plan if a["name"].startswith("qc.inbox.")}) == len(holders)
