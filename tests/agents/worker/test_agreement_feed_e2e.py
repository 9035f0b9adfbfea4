"""Art. 15 through the real broker: an agreement revision published on the agreements topic is taken
into force at its date by the running worker, and what was opened before keeps the old terms."""
import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from agents.cli.local import WorkerProcess
from agents.cli.main import main as qbus
from agents.record.ledger import open_ledger
from streams.publisher import Publisher
from tests.conftest import ROOT
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.clause("Art. 15")]
AID = "QA-HOLDERA-CMOX-001"


def acknowledge_deadline(settings, item_ref: str, timeout: float = 60) -> tuple[str, int]:
    """(deadline text, agreement version) of the ACKNOWLEDGE obligation opened for an item."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open_ledger(settings.ledger) as ledger:
            for record in ledger.iter(agreement=AID, kinds=["event"], event_types=["obligation.opened"]):
                payload = record.data["payload"]
                if record.item_ref == item_ref and payload["kind"] == "ACKNOWLEDGE":
                    return payload["deadline"], payload["agreement_version"]
        time.sleep(0.3)
    raise AssertionError(f"no ACKNOWLEDGE obligation for {item_ref}")


def test_a_revision_on_the_agreements_topic_applies_from_its_date(isolated_stack, tmp_path, monkeypatch):
    settings = isolated_stack
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        # Version 1 (the folder's) is in force: a major deviation gets its acknowledge deadline.
        with Publisher.from_settings(settings) as publisher:
            publisher.publish(example("deviation", classification="MAJOR", item_ref="DEV-BEFORE"))
        before, version_before = acknowledge_deadline(settings, "DEV-BEFORE")
        # The parties agree version 2 with a shorter deadline, in force from now, and publish it.
        data = yaml.safe_load((ROOT / "deploy/demo/agreements" / f"{AID}.yaml").read_text(encoding="utf-8"))
        data["version"] = version_before + 1
        data["effective_from"] = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
        data["communication_list"]["deviation"]["major"]["acknowledge"] = "7h"
        revision = tmp_path / "v2.yaml"
        revision.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        for name, value in {"QBUS_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
                            "QBUS_TOPIC_PREFIX": settings.topic_prefix}.items():
            monkeypatch.setenv(name, value)
        assert qbus(["agreement", "publish", str(revision)]) == 0
        # The worker takes it in (and records that it did) ...
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open_ledger(settings.ledger) as ledger:
                revised = [r for r in ledger.iter(agreement=AID, event_types=["agreement.revised"])]
            if revised:
                break
            time.sleep(0.3)
        assert revised and revised[0].data["payload"]["version"] == str(version_before + 1)
        # ... and a deviation reported now gets the new terms; the first keeps the old ones.
        with Publisher.from_settings(settings) as publisher:
            publisher.publish(example("deviation", classification="MAJOR", item_ref="DEV-AFTER"))
        after, version_after = acknowledge_deadline(settings, "DEV-AFTER")
        assert (after, version_after) == ("7h", version_before + 1)
        assert acknowledge_deadline(settings, "DEV-BEFORE") == (before, version_before) and before != "7h"
    finally:
        worker.stop()


def test_a_file_that_does_not_check_out_is_not_published(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("agreement_id: QA-X\nversion: 1\n", encoding="utf-8")
    assert qbus(["agreement", "publish", str(broken)]) == 1
    assert "REFUSED" in capsys.readouterr().err
