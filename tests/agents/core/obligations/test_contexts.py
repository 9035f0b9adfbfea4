"""The envelope context the engine keeps for each open obligation: what its events copy from the
event that opened it (agents/core/obligations/contexts.py, ObligationEngine.context_for)."""
from __future__ import annotations

from agents.core.emitted import context_of
from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.model import Kind
from agents.core.pipeline import Pipeline
from tests.agents.core.obligations.scenario import HOLDER, Clock, agreements, event, s


def reported(engine: ObligationEngine, item: str = "DEV-1", **fields) -> dict:
    e = event("deviation.reported", item, classification="CRITICAL", **fields)
    engine.on_event(e)
    return e


def test_every_change_carries_the_opening_events_envelope():
    engine = ObligationEngine(agreements(), Clock())
    report = event("deviation.reported", "DEV-1", classification="CRITICAL", batch_no="B-7", site_id="SITE-1")
    opened = engine.on_event(report)
    expected = context_of(report)
    assert all(c.context == expected for c in opened)
    [ack] = [o for o in engine.open_obligations() if o.kind == Kind.ACKNOWLEDGE]
    assert engine.context_for(ack) == expected == engine.context_for(ack.obligation_id)
    # Timer changes and the satisfying change carry it too, not the satisfier's envelope.
    assert all(c.context == expected for c in engine.tick(s(31)))
    done = engine.on_event(event("deviation.acknowledged", "DEV-1", source=HOLDER, published=s(32),
                                 batch_no=None, site_id="SITE-OTHER"))
    assert [c.context for c in done] == [expected]
    assert engine.context_for(ack) == {}                # closed: no longer held


def test_contexts_are_held_once_and_let_go_with_their_obligations():
    engine = ObligationEngine(agreements(), Clock())
    for item in ("DEV-1", "DEV-2", "DEV-3"):
        reported(engine, item, batch_no="B-SAME")
    reported(engine, "DEV-4", batch_no="B-OTHER")
    assert len(engine) == 8
    assert len(engine._store.contexts) == 2             # one per distinct envelope, not per obligation
    for item in ("DEV-1", "DEV-2", "DEV-3", "DEV-4"):
        engine.on_event(event("deviation.acknowledged", item, source=HOLDER, published=s(1)))
        engine.on_event(event("deviation.closed", item, published=s(2)))
    assert len(engine) == 0 and len(engine._store.contexts) == 0


def test_a_context_handed_out_is_the_callers_to_change():
    engine = ObligationEngine(agreements(), Clock())
    reported(engine)
    ob = engine.open_obligations()[0]
    engine.context_for(ob)["product"]["code"] = "CHANGED"
    assert engine.context_for(ob)["product"]["code"] == "A-INJ-1"


def test_restore_keeps_the_latest_recorded_context_and_none_when_not_given():
    live = ObligationEngine(agreements(), Clock())
    ledger = live.on_event(event("deviation.reported", "DEV-1", classification="CRITICAL", batch_no="B-1"))
    plain = ObligationEngine(agreements(), Clock())
    plain.restore(ledger)
    assert all(plain.context_for(o) == {} for o in plain.open_obligations())
    assert all(c.context is None for c in plain.tick(s(31)))
    with_contexts = ObligationEngine(agreements(), Clock())
    later = dict(context_of(ledger[0].context or {}), batch_no="B-1-CORRECTED")
    with_contexts.restore_with_contexts([(c, c.context) for c in ledger] + [(ledger[2], later)])
    [ack] = [o for o in with_contexts.open_obligations() if o.kind == Kind.ACKNOWLEDGE]
    assert with_contexts.context_for(ack)["batch_no"] == "B-1-CORRECTED"


def test_the_pipeline_emits_obligation_events_with_the_opening_envelope():
    pipeline = Pipeline(agreements(), engine_factory=lambda a, openers: ObligationEngine(a, Clock(), openers=openers))
    opening = event("deviation.reported", "DEV-1", classification="CRITICAL", batch_no="B-42")
    pipeline.engine.on_event(opening)
    escalations = [e for e in pipeline.tick(s(31)).records if e["event_type"] == "escalation.raised"]
    assert escalations and all(e["batch_no"] == "B-42" and e["site_id"] == "SITE-1" for e in escalations)
    assert pipeline.engine.counts(s(31))[("QA-TEST-FAST", "deviation")].overdue == 1
