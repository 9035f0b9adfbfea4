"""A core partition restarts from a checkpoint plus the records since (agents/worker/partitions.py),
and ends up exactly where a full replay of the ledger would; a damaged, stale or foreign checkpoint is
noticed and the records are replayed instead (issue 12). No broker: the pipeline and a real ledger."""
import logging
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.core.agreements import AgreementSet
from agents.core.pipeline import Pipeline
from agents.record.ledger import open_ledger
from agents.worker import partitions
from tests.agents.core.rules.support import A_CAP, AGREEMENTS_DIR, T0, holder, make

TOPIC = "qc.accepted"
AGREEMENTS = AgreementSet.load_dir(AGREEMENTS_DIR)


def state_of(pipeline: Pipeline):
    key = lambda o: (o.obligation_id, o.state.value, o.ladder_step, o.due_at)  # noqa: E731
    later = T0 + timedelta(days=90)   # gauges at one moment after everything played
    return sorted(map(key, pipeline.engine.open_obligations())), pipeline.rules.state, pipeline.engine.counts(later)


class Partition:
    """One partition's worker loop without the broker: process, append, checkpoint when told."""

    def __init__(self, ledger):
        self.ledger = ledger
        self.part, _ = partitions.restore(ledger, AGREEMENTS, None, TOPIC, 1, 0)

    def step(self, records: list[dict]) -> None:
        if not records:
            return
        for record, result in zip(records, self.ledger.append(records)):
            self.part.saw(result.seq, result.record_key, result.hash)

    def event(self, event: dict, at) -> None:
        self.step(self.part.pipeline.process(event, at).records)

    def tick(self, at) -> None:
        self.step(self.part.pipeline.tick(at).records)

    def checkpoint(self) -> None:
        self.ledger.save_checkpoint(*partitions.snapshot(self.part, TOPIC, 1))


# A random day of one agreement: deviations and changes opened, acknowledged, closed, clocks ticking.
ACTIONS = st.lists(st.tuples(st.sampled_from(["report", "ack", "close", "propose", "approve", "tick"]),
                             st.integers(0, 4), st.integers(1, 72)), min_size=1, max_size=25)


def play(partition: Partition, actions, cut: int | None) -> None:
    at = T0
    for index, (action, item, hours) in enumerate(actions):
        at = at + timedelta(hours=hours)
        if index == cut:
            partition.checkpoint()
        if action == "tick":
            partition.tick(at)
            continue
        category = "change" if action in ("propose", "approve") else "deviation"
        event_type = {"report": "deviation.reported", "ack": "deviation.acknowledged", "close": "deviation.closed",
                      "propose": "change.proposed", "approve": "change.approved"}[action]
        by = holder() if action in ("ack", "approve") else None
        partition.event(make(event_type, A_CAP, item_ref=f"{category[:3].upper()}-{item}", at=at, by=by,
                             classification="MAJOR" if action in ("report", "propose") else None), at)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, cut=st.integers(0, 25))
def test_a_checkpoint_and_the_tail_give_the_state_a_full_replay_gives(tmp_path_factory, actions, cut):
    folder = tmp_path_factory.mktemp("ledger")
    with open_ledger(f"sqlite:///{folder / 'ledger.db'}") as ledger:
        live = Partition(ledger)
        play(live, actions, min(cut, len(actions) - 1))
        from_checkpoint, how = partitions.restore(ledger, AGREEMENTS, None, TOPIC, 1, 0)
        assert "checkpoint" in how
        full = Pipeline(AGREEMENTS)
        from agents.worker.rebuild import replayable
        full.replay(replayable(ledger.iter(kinds=["event"]), None))
        assert state_of(from_checkpoint.pipeline) == state_of(full) == state_of(live.part.pipeline)
        assert from_checkpoint.last_seq == live.part.last_seq


@pytest.fixture
def checkpointed(tmp_path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    live = Partition(ledger)
    live.event(make("deviation.reported", A_CAP, item_ref="DEV-1", classification="MAJOR"), T0)
    live.checkpoint()
    live.event(make("change.proposed", A_CAP, item_ref="CHG-1", classification="MINOR"), T0 + timedelta(hours=1))
    yield ledger, live
    ledger.close()


def test_a_damaged_checkpoint_is_named_and_the_records_replayed(checkpointed, caplog):
    ledger, live = checkpointed
    name, upto, body = partitions.snapshot(live.part, TOPIC, 1)
    ledger.save_checkpoint(name, upto, body)
    stored = ledger.load_checkpoint(name)
    # Someone edits one byte of the stored checkpoint (its digest no longer matches).
    ledger._rows("UPDATE checkpoints SET body = ? WHERE name = ?", (stored.body[:-1] + b"\x00", name))
    with caplog.at_level(logging.WARNING):
        part, how = partitions.restore(ledger, AGREEMENTS, None, TOPIC, 1, 0)
    assert "did not check out" in how and "digest does not match" in caplog.text
    assert state_of(part.pipeline) == state_of(live.part.pipeline)


def test_a_stale_checkpoint_of_another_ledger_is_not_trusted(checkpointed, tmp_path, caplog):
    ledger, live = checkpointed
    name, upto, body = partitions.snapshot(live.part, TOPIC, 1)
    with open_ledger(f"sqlite:///{tmp_path / 'other.db'}") as other:
        # A new, shorter ledger with the old checkpoint copied in (e.g. a restore from an old backup).
        Partition(other).event(make("deviation.reported", A_CAP, item_ref="DEV-9", classification="MAJOR"), T0)
        other.save_checkpoint(name, upto, body)
        with caplog.at_level(logging.WARNING):
            part, how = partitions.restore(other, AGREEMENTS, None, TOPIC, 1, 0)
    assert "did not check out" in how and "stale or edited" in caplog.text
    # The state is the other ledger's own (its deviation), nothing of the copied checkpoint's.
    items = {o.item_ref for o in part.pipeline.engine.open_obligations()}
    assert "DEV-9" in items and "DEV-1" not in items and "CHG-1" not in items


def test_a_checkpoint_of_other_agreements_is_not_trusted(checkpointed):
    ledger, live = checkpointed
    name, upto, body = partitions.snapshot(live.part, TOPIC, 1)
    live.part.agreement_ids = {"QA-ONLY-THIS-ONE"}
    foreign = partitions.snapshot(live.part, TOPIC, 1)[2]
    ledger.save_checkpoint(name, upto, foreign)
    part, how = partitions.restore(ledger, AGREEMENTS, None, TOPIC, 1, 0)
    assert "did not check out" in how


def test_every_kind_of_rule_fact_survives_a_checkpoint():
    """A checkpoint may hold any fact class the rules define (a new one needs no allow-list edit),
    and nothing else: each kind is written and read back equal."""
    import dataclasses
    from datetime import date

    from agents.core import pipeline_snapshot
    from agents.core.rules import state as rule_state

    facts = [v for v in vars(rule_state).values()
             if isinstance(v, type) and v.__module__ == rule_state.__name__ and dataclasses.is_dataclass(v)
             and v is not rule_state.RuleState]
    assert {f.__name__ for f in facts} >= {"ChangeFacts", "ItemFacts", "EvaluationFacts", "RectificationFacts"}
    source = Pipeline(AGREEMENTS, None)
    filler = {str: "x", "str": "x", bool: True, "bool": True, date: date(2026, 1, 5), "date": date(2026, 1, 5)}
    extra = {}
    for i, cls in enumerate(facts):
        values = {f.name: filler.get(f.type, filler.get(str(f.type), "x")) for f in dataclasses.fields(cls)
                  if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        extra[f"fact-{i}"] = cls(**values)
    source.rules.state.suspensions.update(extra)   # any container will do: the allow-list is what is tested
    body = pipeline_snapshot.encode(source, {"upto_seq": 0})
    target = Pipeline(AGREEMENTS, None)
    pipeline_snapshot.decode(body, target)
    assert target.rules.state.suspensions == extra
