"""Obligation clocks at scale: memory for N open obligations, tick, gauge and snapshot costs.

    .venv/bin/python bench/obligations_bench.py [--n 1000000] [--replay-n N]

N obligations (two per item, as a critical deviation leaves acknowledge + close open) are built
through the real engine, the way a restarted worker does:

* plain: ``restore`` of their ``obligation.opened`` changes (no envelope context);
* context: ``restore_with_contexts`` of (change, envelope context) pairs, as ``ObligationsService``
  does from the ledger: one batch number per item, a handful of sites, lines and products.

Deadlines are spread one per 10 ms in a random order (a million span 2.8 hours). Reported: RSS
(each build in a fresh process, so one does not hide in the other's freed memory), ticks with
nothing due (the first of a minute moves that minute's timers, 6,000 here, into the ready heap)
and ticks letting 0.01 % and 1 % of N fall due (each due obligation breaches and fires its first
ladder step), ``counts()``, snapshot size, write and load time (plain and zlib), ``on_event``, and
a full replay of the ledger records as JSON for comparison. Every figure is checked; a bad one
stops the bench.
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.core.agreements import DEFAULT_TEMPLATE, Agreement, AgreementSet  # noqa: E402
from agents.core.agreements.lint import load_agreement  # noqa: E402
from agents.core.emitted import context_of  # noqa: E402
from agents.core.obligations.engine import ObligationEngine  # noqa: E402
from agents.core.obligations.events import change_events, change_from_event  # noqa: E402
from agents.core.obligations.model import Change, Kind, Obligation, _iso  # noqa: E402
from agents.core.obligations.openers import obligation_id  # noqa: E402

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
# Deadlines 10 ms apart: no slice reaches the second ladder step (4 h), so each due obligation
# costs exactly its breach and its first step.
SPACING_MS = 10
SITES, LINES, PRODUCTS = 4, 12, 20


class BenchFailed(SystemExit):
    pass


def check(ok: bool, what: str) -> None:
    if not ok:
        raise BenchFailed(f"bench failed: {what}")


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise BenchFailed("bench failed: no VmRSS in /proc/self/status (Linux only)")


def build(agreement: Agreement, n: int, seed: int = 134) -> Iterator[Change]:
    """Ledger records of n opened obligations, yielded one by one as a replay would read them."""
    rng = random.Random(seed)
    order = list(range(n))
    rng.shuffle(order)
    aid = sys.intern(agreement.agreement_id)
    for i in range(n):
        item = f"DEV-2026-{i // 2:07d}"
        event_id = str(uuid.UUID(int=i // 2))
        kind = Kind.ACKNOWLEDGE if i % 2 == 0 else Kind.CLOSE
        due = T0 + timedelta(milliseconds=SPACING_MS * (1 + order[i]))
        ob = Obligation(
            obligation_id=obligation_id(aid, item, kind, event_id), agreement_id=aid,
            agreement_version=agreement.version, item_ref=item, category="deviation", kind=kind,
            responsible_party_role="HOLDER" if kind == Kind.ACKNOWLEDGE else "MANUFACTURER",
            responsible_party_id=agreement.holder.id if kind == Kind.ACKNOWLEDGE else agreement.manufacturer.id,
            due_at=due, deadline="24h" if kind == Kind.ACKNOWLEDGE else "30d",
            starts_from="published_at" if kind == Kind.ACKNOWLEDGE else "occurred_at", start_at=T0,
            opened_by_event_id=event_id, opened_at=T0, rule="Art. 7",
            satisfied_by=("deviation.acknowledged",) if kind == Kind.ACKNOWLEDGE else ("deviation.closed",),
            satisfier_role="HOLDER" if kind == Kind.ACKNOWLEDGE else None, classification="CRITICAL")
        yield Change("opened", ob, T0)


def envelope(agreement: Agreement, i: int) -> dict:
    """The envelope context of the event that opened obligation i (one batch per item)."""
    item = i // 2
    p = item % PRODUCTS
    return {"agreement_id": agreement.agreement_id, "holder_id": agreement.holder.id,
            "manufacturer_id": agreement.manufacturer.id, "site_id": f"SITE-{item % SITES}",
            "product": {"code": f"P-{p:03d}", "generic_name": f"Examplamide {p}", "dosage_form": "injection",
                        "sterile": p % 2 == 0},
            "batch_no": f"B{item:08d}", "line_id": f"LINE-{item % LINES}", "item_ref": f"DEV-2026-{item:07d}",
            "classification": "CRITICAL"}


def build_with_contexts(agreement: Agreement, n: int) -> Iterator[tuple[Change, dict]]:
    for i, change in enumerate(build(agreement, n)):
        yield change, envelope(agreement, i)


def built_engine(agreements: AgreementSet, agreement: Agreement, n: int,
                 contexts: bool) -> tuple[ObligationEngine, float]:
    engine = ObligationEngine(agreements, clock=lambda: T0)
    started = time.perf_counter()
    if contexts:
        engine.restore_with_contexts(build_with_contexts(agreement, n))
    else:
        engine.restore(build(agreement, n))
    gc.collect()
    check(len(engine) == n, f"{len(engine):,} open after building {n:,}")
    return engine, time.perf_counter() - started


def memory_only(agreements: AgreementSet, agreement: Agreement, n: int, contexts: bool) -> None:
    """Child process: build, print one JSON line of RSS figures."""
    gc.collect()
    base = rss_mib()
    engine, seconds = built_engine(agreements, agreement, n, contexts)
    after = rss_mib()
    if contexts:
        check(engine.context_for(engine.open_obligations()[0])["batch_no"] is not None, "context lost")
    print(json.dumps({"base": base, "after": after, "seconds": seconds}))


def measure_in_child(n: int, contexts: bool) -> dict:
    out = subprocess.run([sys.executable, __file__, "--n", str(n), "--memory-only",
                          "context" if contexts else "plain"], capture_output=True, text=True)
    check(out.returncode == 0, f"memory child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(fn, *args):
    gc.disable()
    try:
        started = time.perf_counter()
        result = fn(*args)
        return result, time.perf_counter() - started
    finally:
        gc.enable()


def replay_seconds(agreements: AgreementSet, agreement: Agreement, n: int, chunk: int = 10_000) -> float:
    """A full rebuild from ledger records as the worker does it: JSON text -> event ->
    change_from_event -> restore_with_contexts. Only the replay is timed, not making the JSON."""
    engine = ObligationEngine(agreements, clock=lambda: T0)
    source = build_with_contexts(agreement, n)
    total, done = 0.0, 0
    while done < n:
        texts = []
        for change, context in (next(source) for _ in range(min(chunk, n - done))):
            [event] = change_events(change, context, T0)
            texts.append(json.dumps(event, default=lambda v: _iso(v) if isinstance(v, datetime) else str(v)))
        started = time.perf_counter()
        records = (json.loads(text) for text in texts)
        engine.restore_with_contexts((change_from_event(e), context_of(e)) for e in records)
        total += time.perf_counter() - started
        done += len(texts)
    check(len(engine) == n, f"replay left {len(engine):,} open of {n:,}")
    return total


def on_event_figure(agreements: AgreementSet, agreement: Agreement, count: int) -> None:
    """on_event through the communication-list openers, on a fresh engine."""
    engine = ObligationEngine(agreements, clock=lambda: T0)
    source = {"system": "QMS", "instance": "qms-cmo-01", "party_id": "CMO-EXAMPLE", "party_role": "MANUFACTURER"}
    events = [dict(envelope(agreement, 2 * i), event_id=str(uuid.uuid4()), event_type="deviation.reported",
                   occurred_at=T0, published_at=T0 + timedelta(minutes=5), source=source,
                   item_ref=f"DEV-B-{i}", classification="MAJOR") for i in range(count)]
    changes, elapsed = timed(lambda: [c for e in events for c in engine.on_event(e)])
    check(len(changes) == 4 * count and len(engine) == 2 * count, "on_event opened the wrong obligations")
    print(f"\non_event (major deviation, 3wd/2wd/30d): {elapsed * 1e6 / count:.0f} µs per event, "
          f"{count / elapsed:,.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="open obligations (default %(default)s)")
    parser.add_argument("--replay-n", type=int, default=None,
                        help="records for the full JSON replay figure (default: N)")
    parser.add_argument("--events", type=int, default=20_000, help="events for the on_event figure")
    parser.add_argument("--memory-only", choices=("plain", "context"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.n
    check(n >= 10_000, "--n must be at least 10,000 (the 0.01 % tick needs one obligation)")
    agreement = load_agreement(DEFAULT_TEMPLATE)
    agreements = AgreementSet([agreement])
    if args.memory_only:
        memory_only(agreements, agreement, n, args.memory_only == "context")
        return

    print(f"N = {n:,} open obligations ({n // 2:,} items), Python {sys.version.split()[0]}\n")
    for label, contexts in (("restore (plain)", False), ("restore + contexts", True)):
        m = measure_in_child(n, contexts)
        held = m["after"] - m["base"]
        check(held > 0, f"RSS did not grow building {label}")
        print(f"{label:<22} build {m['seconds']:6.1f} s   process RSS {m['after']:6.0f} MiB   engine "
              f"{held:5.0f} MiB ({held * 1048576 / n:.0f} bytes each; baseline {m['base']:.0f} MiB)")

    engine, _ = built_engine(agreements, agreement, n, contexts=True)

    counts, first = timed(engine.counts, T0)
    check(sum(c.open for c in counts.values()) == n, "counts() do not add up to N")
    _, steady = timed(engine.counts, T0 + timedelta(milliseconds=1))
    print(f"\ncounts()               first {first * 1000:.2f} ms, then {steady * 1000:.3f} ms "
          f"(was a walk over every open obligation)")

    for compress in (False, True):
        data, write_s = timed(engine.snapshot, compress)
        loaded, load_s = timed(ObligationEngine.from_snapshot, data, agreements, lambda: T0)
        check(len(loaded) == n and loaded.counts(T0) == engine.counts(T0), "snapshot did not load what was saved")
        check(loaded.next_firing() == engine.next_firing(), "snapshot changed the next firing")
        del loaded
        gc.collect()
        label = "snapshot (zlib)" if compress else "snapshot"
        print(f"{label:<23}{len(data) / 1048576:.0f} MiB ({len(data) / n:.0f} bytes each), "
              f"write {write_s:.2f} s, load {load_s:.2f} s")
        del data

    rows = []
    # The first tick of a minute moves that minute's timers into the ready heap (once each);
    # later ticks in the minute find them there.
    for label in ("0, minute begins", "0, same minute"):
        pops0 = engine.stats.heap_pops
        fired, elapsed = timed(engine.tick, T0)
        check(not fired, "a tick with nothing due fired something")
        rows.append((label, 0, engine.stats.heap_pops - pops0, len(fired), elapsed))
    upto = 0
    for share in (0.0001, 0.01):
        due = round(n * share)
        upto += due
        pops0 = engine.stats.heap_pops
        fired, elapsed = timed(engine.tick, T0 + timedelta(milliseconds=SPACING_MS * upto))
        check(len(fired) == 2 * due, f"{len(fired)} changes for {due} due obligations")
        rows.append((f"{share * 100:g} %", due, engine.stats.heap_pops - pops0, len(fired), elapsed))
        del fired
    print(f"\n{'due at tick':<16}{'obligations':>12}{'timer pops':>12}{'changes':>10}{'tick (ms)':>12}{'µs/due':>9}")
    for label, due, pops, nchanges, elapsed in rows:
        per = f"{elapsed * 1e6 / due:.1f}" if due else "-"
        print(f"{label:<16}{due:>12,}{pops:>12,}{nchanges:>10,}{elapsed * 1000:>12.2f}{per:>9}")
    del engine
    gc.collect()

    on_event_figure(agreements, agreement, args.events)
    replay_n = args.replay_n or n
    seconds = replay_seconds(agreements, agreement, replay_n)
    print(f"\nfull replay of {replay_n:,} ledger records as JSON: {seconds:.1f} s "
          f"({seconds * 1e6 / replay_n:.0f} µs each)")


if __name__ == "__main__":
    main()
