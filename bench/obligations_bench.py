"""Obligation timers at scale: memory for N open obligations and the cost of one tick.

    .venv/bin/python bench/obligations_bench.py [--n 1000000] [--events 20000]

N obligations (two per item, as a critical deviation leaves acknowledge + close open) are loaded
through ``restore`` (the path a restarted worker takes), with deadlines spread one per second in a
random order, 10 ms apart. Then three successive ticks each let a slice fall due: 0.01 %, 1 % and 10 % of N.
Each due obligation is breached and fires its first ladder step (0 h after the deadline), so a tick
takes two timer entries per due obligation off the heap. A tick with nothing due is timed too.
Also: the cost of ``on_event`` for a critical deviation through the real communication list.
"""
from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.core.agreements import DEFAULT_TEMPLATE, Agreement, AgreementSet  # noqa: E402
from agents.core.agreements.lint import load_agreement  # noqa: E402
from agents.core.obligations.engine import ObligationEngine  # noqa: E402
from agents.core.obligations.model import Change, Kind, Obligation  # noqa: E402
from agents.core.obligations.openers import obligation_id  # noqa: E402

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)
# Deadlines 10 ms apart: a million span 2.8 hours, so no slice reaches the second ladder step (4 h)
# and each due obligation costs exactly its breach and its first step.
SPACING_MS = 10


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(agreement: Agreement, n: int, seed: int = 134) -> Iterator[Change]:
    """Ledger records of n opened obligations, yielded one by one as a replay would be read."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="open obligations (default %(default)s)")
    parser.add_argument("--events", type=int, default=20_000, help="events for the on_event figure")
    args = parser.parse_args()
    n = args.n

    agreement = load_agreement(DEFAULT_TEMPLATE)
    agreements = AgreementSet([agreement])
    gc.collect()
    base = rss_mib()

    started = time.perf_counter()
    engine = ObligationEngine(agreements, clock=lambda: T0)
    engine.restore(build(agreement, n))
    gc.collect()
    load_s = time.perf_counter() - started
    held = rss_mib() - base
    print(f"open obligations      {len(engine):>12,}")
    print(f"build + restore       {load_s:>12.1f} s")
    print(f"RSS for them          {held:>12.0f} MiB  ({held * 1048576 / max(n, 1):.0f} bytes each)")
    print()

    rows = []
    t = time.perf_counter()
    fired = engine.tick(T0)
    rows.append(("0 (nothing due)", 0, engine.stats.heap_pops, len(fired), time.perf_counter() - t))
    upto = 0
    for share in (0.0001, 0.01, 0.10):
        due = max(1, round(n * share))
        upto += due
        pops0 = engine.stats.heap_pops
        gc.disable()
        t = time.perf_counter()
        fired = engine.tick(T0 + timedelta(milliseconds=SPACING_MS * upto))
        elapsed = time.perf_counter() - t
        gc.enable()
        rows.append((f"{share * 100:g} %", due, engine.stats.heap_pops - pops0, len(fired), elapsed))
        del fired
    print(f"{'due at tick':<16}{'obligations':>12}{'heap pops':>12}{'changes':>10}{'tick (ms)':>12}{'µs/due':>9}")
    for label, due, pops, nchanges, elapsed in rows:
        per = f"{elapsed * 1e6 / due:.1f}" if due else "-"
        print(f"{label:<16}{due:>12,}{pops:>12,}{nchanges:>10,}{elapsed * 1000:>12.2f}{per:>9}")
    print(f"(open when ticking: {n:,} down to {len(engine):,}; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")

    # on_event through the communication-list openers, on a fresh engine.
    fresh = ObligationEngine(agreements, clock=lambda: T0)
    source = {"system": "QMS", "instance": "qms-cmo-01", "party_id": "CMO-EXAMPLE", "party_role": "MANUFACTURER"}
    events = [{"event_id": str(uuid.uuid4()), "event_type": "deviation.reported", "occurred_at": T0,
               "published_at": T0 + timedelta(minutes=5), "source": source,
               "agreement_id": agreement.agreement_id, "item_ref": f"DEV-B-{i}", "classification": "MAJOR"}
              for i in range(args.events)]
    t = time.perf_counter()
    for e in events:
        fresh.on_event(e)
    elapsed = time.perf_counter() - t
    print(f"\non_event (major deviation, 3wd/2wd/30d): {elapsed * 1e6 / max(len(events), 1):.0f} µs per event, "
          f"{len(events) / elapsed:,.0f} events/s")


if __name__ == "__main__":
    main()
