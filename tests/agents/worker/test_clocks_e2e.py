"""Clocks across restarts through the real broker (issue 12): a clean stop leaves a checkpoint of
the core partition, the next worker rebuilds from it rather than from the records, and an
obligation that fell due while no worker ran is breached once after the restart, and not again
after the one that follows."""
import time
from datetime import datetime, timedelta, timezone

import pytest

from agents.cli.local import WorkerProcess
from agents.core.obligations.model import Change
from agents.core.obligations.openers import obligation_id
from agents.core.pipeline import Pipeline
from agents.core.pipeline_snapshot import decode, encode
from agents.record.ledger import open_ledger
from agents.worker.bus import load_agreements
from agents.worker.partitions import checkpoint_name
from schemas import default_schemas
from streams.publisher import Publisher
from streams.topics import TopicCatalogue, partition_for
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def breaches(settings, ob_id: str) -> int:
    with open_ledger(settings.ledger) as ledger:
        return sum(r.data["payload"]["obligation_id"] == ob_id
                   for r in ledger.iter(kinds=["event"], event_types=["obligation.breached"]))


def wait_until(check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.3)


@pytest.mark.clause("Art. 7")
def test_a_timer_due_while_no_worker_ran_fires_once_after_the_restart(isolated_stack, tmp_path):
    settings = isolated_stack
    event = example("deviation", classification="MAJOR")
    first = WorkerProcess(settings, tmp_path / "first.log").start()
    try:
        with Publisher.from_settings(settings) as publisher:
            publisher.publish(event)

        def opened() -> bool:
            with open_ledger(settings.ledger) as ledger:
                return any(r.item_ref == event["item_ref"]
                           for r in ledger.iter(kinds=["event"], event_types=["obligation.opened"]))
        wait_until(opened)
    finally:
        first.stop()

    # The clean stop wrote the partition's checkpoint; into it goes one more open obligation of
    # the deviation, due in two seconds: it falls due while no worker runs.
    catalogue = TopicCatalogue.from_settings(settings)
    name = checkpoint_name(catalogue.accepted, settings.partitions,
                           partition_for(event["manufacturer_id"], settings.partitions))
    with open_ledger(settings.ledger) as ledger:
        checkpoint = ledger.load_checkpoint(name)
        assert checkpoint is not None, "a clean stop left no checkpoint of the partition"
        pipeline = Pipeline(load_agreements(settings), default_schemas())
        header = decode(checkpoint.body, pipeline)
        ob = next(o for o in pipeline.engine.open_obligations() if o.item_ref == event["item_ref"])
        now = datetime.now(timezone.utc)
        soon = ob._replace(obligation_id=obligation_id(ob.agreement_id, ob.item_ref, ob.kind, ob.opened_by_event_id,
                                                       "downtime"), due_at=now + timedelta(seconds=2))
        pipeline.engine.restore_with_contexts([(Change("opened", soon, now), pipeline.engine.context_for(ob))])
        ledger.save_checkpoint(name, checkpoint.upto_seq, encode(pipeline, header))
    time.sleep(3)

    second = WorkerProcess(settings, tmp_path / "second.log").start()
    try:
        wait_until(lambda: breaches(settings, soon.obligation_id) >= 1)
    finally:
        second.stop()
    assert "from the checkpoint of seq" in (tmp_path / "second.log").read_text()

    third = WorkerProcess(settings, tmp_path / "third.log").start()
    try:
        time.sleep(3)   # a few ticks of the restarted clocks
    finally:
        third.stop()
    assert "from the checkpoint of seq" in (tmp_path / "third.log").read_text()
    assert breaches(settings, soon.obligation_id) == 1
