"""Properties of the compact engine over random event / tick sequences (hypothesis).

(a) a snapshot plus the changes recorded after it rebuilds exactly what a full restore does;
(b) the kept counts always equal a count over the open obligations;
(c) a snapshot that was damaged in any byte, cut short or padded is refused.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.snapshot import SnapshotInvalid
from tests.agents.core.obligations.scenario import Clock, Driver, agreements, brute_counts, fired, state

DEVIATIONS = st.sampled_from(["DEV-1", "DEV-2", "DEV-3"])
CHANGES = st.sampled_from(["CHG-1", "CHG-2"])
CLASSES = st.sampled_from(["CRITICAL", "MAJOR", "MINOR"])
REPORT = st.tuples(st.just("report"), DEVIATIONS, CLASSES, st.integers(0, 120), st.integers(0, 2))
TICK = st.tuples(st.just("tick"), st.integers(0, 70))
OPERATIONS = st.one_of(
    REPORT, REPORT, REPORT, TICK, TICK, TICK,          # weighted: deadlines must open and pass often
    st.tuples(st.just("correct"), DEVIATIONS, CLASSES),
    st.tuples(st.just("ack"), DEVIATIONS, st.booleans()),
    st.tuples(st.just("close"), DEVIATIONS),
    st.tuples(st.just("propose"), CHANGES),
    st.tuples(st.just("approve"), CHANGES),
    st.tuples(st.just("replay"), st.integers(0, 40)),
    st.tuples(st.just("jump"), st.integers(0, 12)),
    st.tuples(st.just("count"), st.integers(0, 70)),
)
SEQUENCES = st.lists(OPERATIONS, min_size=6, max_size=40)
# A due-soon window the fast agreement's seconds-long deadlines cross, and the default one.
WINDOWS = st.sampled_from([timedelta(seconds=45), timedelta(hours=24)])
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def played(ops: list[tuple], window: timedelta) -> Driver:
    driver = Driver(window)
    for op in ops:
        driver.play(op)
    return driver


def restored(records, window: timedelta) -> ObligationEngine:
    engine = ObligationEngine(agreements(), Clock(), due_soon=window)
    engine.restore_with_contexts(records)
    return engine


@PROPERTY
@given(ops=SEQUENCES, window=WINDOWS, cut=st.floats(0, 1))
def test_snapshot_and_tail_rebuild_what_a_full_restore_does(ops, window, cut):
    driver = played(ops, window)
    ledger, now = driver.ledger, driver.now
    at = int(len(ledger) * cut)
    # A worker that restored the ledger up to `at`, wrote a snapshot and stopped ...
    before = restored(ledger[:at], window)
    resumed = ObligationEngine.from_snapshot(before.snapshot(), agreements(), Clock(), due_soon=window)
    # ... comes back from the snapshot and the records written since.
    resumed.restore_with_contexts(ledger[at:])
    full = restored(ledger, window)

    assert state(resumed, now) == state(full, now)
    ids = {change.obligation.obligation_id for change, _ in ledger}
    assert {i for i in ids if resumed.is_closed(i)} == {i for i in ids if full.is_closed(i)}
    # From here both fire the same timers, once each, in the same order.
    later = now + timedelta(days=40)
    assert fired(resumed.tick(later)) == fired(full.tick(later))
    assert state(resumed, later) == state(full, later)


@PROPERTY
@given(ops=SEQUENCES, window=WINDOWS)
def test_counts_equal_a_count_over_the_open_obligations(ops, window):
    driver = Driver(window)
    for op in ops:
        driver.play(op)
        assert driver.engine.counts(driver.now) == brute_counts(driver.engine, driver.now, window)
    # And on engines rebuilt from the ledger, restored or loaded.
    rebuilt = restored(driver.ledger, window)
    assert rebuilt.counts(driver.now) == brute_counts(rebuilt, driver.now, window)
    loaded = ObligationEngine.from_snapshot(driver.engine.snapshot(), agreements(), Clock(), due_soon=window)
    later = driver.now + timedelta(hours=30)
    assert loaded.counts(later) == brute_counts(loaded, later, window)


@pytest.fixture(scope="module")
def snapshot_bytes() -> bytes:
    driver = played([("report", "DEV-1", "CRITICAL", 0, 1), ("report", "DEV-2", "MAJOR", 0, 2),
                     ("propose", "CHG-1"), ("tick", 41), ("ack", "DEV-1", True)], timedelta(hours=24))
    return driver.engine.snapshot()


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_damaged_snapshot_is_refused(snapshot_bytes, data):
    kind = data.draw(st.sampled_from(["flip", "cut", "pad"]))
    blob = bytearray(snapshot_bytes)
    if kind == "flip":
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] ^= data.draw(st.integers(1, 255))
    elif kind == "cut":
        del blob[data.draw(st.integers(0, len(blob) - 1)):]
    else:
        blob += data.draw(st.binary(min_size=1, max_size=16))
    engine = played([("report", "DEV-3", "CRITICAL", 0, 0)], timedelta(hours=24)).engine
    before = state(engine, engine.clock())
    with pytest.raises(SnapshotInvalid):
        engine.load_snapshot(bytes(blob))
    assert state(engine, engine.clock()) == before      # a refused snapshot changes nothing
