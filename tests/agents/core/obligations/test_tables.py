"""The compact building blocks against plain Python models (hypothesis): key tables with
backward-shift deletion, the interning pool, the minute-bucketed timers."""
from __future__ import annotations

import heapq

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.core.obligations.bytestable import BytesTable
from agents.core.obligations.idtable import FixedKeyTable
from agents.core.obligations.pools import InternPool
from agents.core.obligations.timers import BucketedTimers

MODEL = settings(max_examples=80, deadline=None)
# Few distinct keys, so that adds and releases meet, and enough to make the index grow.
KEYS = st.integers(0, 600).map(lambda i: i.to_bytes(2, "big") * (1 + i % 5))
FIXED_KEYS = st.integers(0, 600).map(lambda i: b"\x00" + i.to_bytes(16, "big"))


@MODEL
@given(st.lists(st.tuples(st.booleans(), KEYS), max_size=400))
def test_bytes_table_counts_references_like_a_dict(ops):
    table, model, ids = BytesTable(), {}, {}
    for add, key in ops:
        if add:
            ident = table.add(key)
            assert ids.setdefault(key, ident) == ident       # the same key keeps its id while held
            model[key] = model.get(key, 0) + 1
        elif key in model:
            table.release(ids[key])
            model[key] -= 1
            if not model[key]:
                del model[key], ids[key]
        assert len(table) == len(model)
    for key, ident in ids.items():
        assert table.find(key) == ident and table.key(ident) == key and table.refs(ident) == model[key]
    assert all(table.find(k.to_bytes(2, "big") * 7) == -1 for k in range(3))   # never added
    copy = BytesTable.from_export(table.export())
    assert all(copy.find(key) == ident for key, ident in ids.items())


@MODEL
@given(st.lists(st.tuples(st.booleans(), FIXED_KEYS), max_size=400))
def test_fixed_key_table_finds_what_a_dict_holds(ops):
    table, model = FixedKeyTable(17), {}
    for add, key in ops:
        if add and key not in model:
            assert table.find(key) == -1
            model[key] = table.add_new(key)
        elif not add and key in model:
            table.remove(model.pop(key))
        assert len(table) == len(model)
    assert all(table.find(key) == ident and table.key(ident) == key for key, ident in model.items())
    copy = FixedKeyTable.from_export(table.export())
    assert all(copy.find(key) == ident for key, ident in model.items())


def test_intern_pool_frees_a_value_with_its_last_reference():
    pool: InternPool[str] = InternPool()
    a, b = pool.add("x"), pool.add("x")
    assert a == b and pool.add(None) == 0 and len(pool) == 1
    pool.release(a)
    assert pool.get(a) == "x"
    pool.release(b)
    assert len(pool) == 0 and pool.find("x") is None
    assert pool.add("y") == a                                   # the freed id is reused


TIMES = st.integers(0, 10 * 60 * 1_000_000)                     # ten minutes of microseconds


@MODEL
@given(pushes=st.lists(st.tuples(TIMES, st.integers(0, 50)), max_size=120),
       nows=st.lists(TIMES, max_size=8), packed_only=st.booleans())
def test_timers_pop_in_time_order_once_each(pushes, nows, packed_only):
    # Each packed value stands for a slot with one timer at a known instant.
    fire = {}
    for fire_us, slot in pushes:
        fire.setdefault(slot, fire_us)
    timers = BucketedTimers(order_of=lambda packed: packed.to_bytes(8, "big"),
                            fire_of=(lambda packed: fire[packed]) if packed_only else None)
    model: list[tuple[int, int]] = []
    for slot, fire_us in fire.items():
        timers.push(fire_us, slot)
        heapq.heappush(model, (fire_us, slot))
    for now in sorted(nows):
        got = []
        while (entry := timers.pop_due(now)) is not None:
            got.append((entry[0], entry[2]))
        want = []
        while model and model[0][0] <= now:
            want.append(heapq.heappop(model))
        assert got == want
    assert len(timers) == len(model)
    if model:
        assert timers.first(lambda *entry: True)[::2] == model[0]


def test_a_timer_pushed_into_a_begun_minute_fires_in_order():
    timers = BucketedTimers()
    timers.push(30_000_000, 1)
    assert timers.pop_due(31_000_000) == (30_000_000, b"", 1)     # the minute has begun
    timers.push(30_500_000, 2)                                    # e.g. a ladder step at +0.5 s
    timers.push(45_000_000, 3)
    assert timers.pop_due(40_000_000) == (30_500_000, b"", 2)
    assert timers.pop_due(40_000_000) is None
    assert timers.pop_due(45_000_000) == (45_000_000, b"", 3)
