"""Clocks at a million, through the running worker (issue 12).

    .venv/bin/python bench/clocks_bench.py [--n 1000000] [--rate 50] [--seconds 30] [--replay-n 100000]

1. A worker runs once on a fresh broker and ledger, takes one signed deviation per agreement and
   stops cleanly, leaving a checkpoint of each core partition in the ledger, as in production.
2. Into those checkpoints go N open obligations (two per deviation: acknowledge and close, spread
   over the agreements), built through the real engine (``restore_with_contexts``, as a restart
   does) with each item's envelope context, and the rules' facts for each item (its batch and
   classification) plus a full window of recent event ids. Most fall due in days; a stream of
   them falls due one every 100 ms from shortly after the seeding, on the wall clock.
3. A worker starts on that ledger: time from start to ready (every partition rebuilt from its
   checkpoint and verified against the ledger), and its RSS.
4. Under a steady intake of signed events, each obligation of the stream that falls due is
   watched for on the obligations topic: lateness (due -> breach record read by an outside
   consumer) p50 / p99 / max, and the events' publish -> inbox latency beside it.
5. The worker is stopped (it checkpoints a million obligations at stop) and started again after a
   pause: rebuild time again, and the obligations that fell due while it was down fire after the
   restart, promptly, and the ledger holds exactly one breach for every obligation due so far.
6. A full rebuild from the ledger's records, without a checkpoint, in process through the same
   function the worker runs (``agents.worker.partitions.restore``) at --replay-n obligations,
   and scaled to N.

Tick cost at 0 / 0.01 % / 1 % due and the engine's own memory are in bench/obligations_bench.py.
Every figure is checked; one that cannot be measured fails the run with its reason.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline_bench import Bench  # noqa: E402
from bench.support import Arrivals, BenchFailed, Process, percentile, temp_folder  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

from agents.core.obligations.model import Change, Kind, Obligation  # noqa: E402
from agents.core.obligations.openers import obligation_id  # noqa: E402
from agents.core.pipeline import Pipeline  # noqa: E402
from agents.core.pipeline_snapshot import decode, encode  # noqa: E402
from agents.record.ledger import open_ledger  # noqa: E402
from agents.worker import partitions  # noqa: E402
from agents.worker.bus import load_agreements  # noqa: E402
from schemas import default_schemas  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.topics import partition_for  # noqa: E402

STREAM_SPACING_S = 0.1          # the stream falls due one obligation every 100 ms
STREAM_LEAD_S = 45.0            # ... starting this long after the seeding (the worker is starting)
STREAM_LENGTH = 6000            # ten minutes of it: more than the run needs
REBUILT = re.compile(r"partition (\d+) gained \((\d+) agreements\); state rebuilt (.+?) in ([\d.]+) s")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise BenchFailed(f"no {field} for process {pid} (Linux only)")


# -- the state --------------------------------------------------------------------------------
def opened(agreement, number: int, i: int, due: datetime, now: datetime) -> tuple[Change, dict]:
    """Obligation i of agreement number ``number``: deviation i // 2's acknowledge or close."""
    aid = sys.intern(agreement.agreement_id)
    item = f"DEV-BENCH-{i // 2:07d}"
    event_id = str(uuid.UUID(int=(number << 64) | (i // 2)))
    kind = Kind.ACKNOWLEDGE if i % 2 == 0 else Kind.CLOSE
    holder, cmo = agreement.holder.id, agreement.manufacturer.id
    ob = Obligation(
        obligation_id=obligation_id(aid, item, kind, event_id), agreement_id=aid,
        agreement_version=agreement.version, item_ref=item, category="deviation", kind=kind,
        responsible_party_role="HOLDER" if kind == Kind.ACKNOWLEDGE else "MANUFACTURER",
        responsible_party_id=holder if kind == Kind.ACKNOWLEDGE else cmo, due_at=due,
        deadline="24h" if kind == Kind.ACKNOWLEDGE else "30d",
        starts_from="published_at" if kind == Kind.ACKNOWLEDGE else "occurred_at", start_at=now - timedelta(hours=1),
        opened_by_event_id=event_id, opened_at=now - timedelta(hours=1), rule="Art. 7",
        satisfied_by=("deviation.acknowledged",) if kind == Kind.ACKNOWLEDGE else ("deviation.closed",),
        satisfier_role="HOLDER" if kind == Kind.ACKNOWLEDGE else None, classification="MAJOR")
    product = agreement.products[0]
    context = {"agreement_id": aid, "holder_id": holder, "manufacturer_id": cmo, "site_id": product.site_id,
               "product": {"code": product.code, "generic_name": product.generic_name,
                           "dosage_form": product.dosage_form, "sterile": bool(product.sterile)},
               "batch_no": f"B{number}{i // 2:08d}", "line_id": None, "item_ref": item, "classification": "MAJOR"}
    return Change("opened", ob, now), context


def seed(settings, catalogue, n: int, stream_start: float) -> dict[str, float]:
    """Put n open obligations and their items' facts into the partitions' checkpoints. Returns the
    stream: obligation id -> when it falls due (epoch seconds)."""
    agreements = load_agreements(settings)
    ids = sorted(agreements.ids())
    per = n // len(ids)
    if per < 2:
        raise BenchFailed(f"--n {n} is too small for {len(ids)} agreements")
    rng = random.Random(134)
    now = datetime.now(timezone.utc)
    stream: dict[str, float] = {}
    total = 0
    with open_ledger(settings.ledger) as ledger:
        for number in range(settings.partitions):
            name = partitions.checkpoint_name(catalogue.accepted, settings.partitions, number)
            checkpoint = ledger.load_checkpoint(name)
            if checkpoint is None:
                continue
            pipeline = Pipeline(agreements, default_schemas())
            header = decode(checkpoint.body, pipeline)
            changes: list[tuple[Change, dict]] = []
            for aid in header["agreement_ids"]:
                agreement = agreements.latest(aid)
                index = ids.index(aid)
                for i in range(per):
                    item = i // 2
                    if i % 2 == 0 and item < STREAM_LENGTH // len(ids):
                        # the stream: round robin over the agreements, one every STREAM_SPACING_S
                        due_epoch: float | None = stream_start + STREAM_SPACING_S * (item * len(ids) + index)
                        due = datetime.fromtimestamp(due_epoch, timezone.utc)
                    else:
                        due, due_epoch = now + timedelta(days=2, seconds=rng.randrange(30 * 86400)), None
                    change, context = opened(agreement, index, i, due, now)
                    changes.append((change, context))
                    if due_epoch is not None:
                        stream[change.obligation.obligation_id] = due_epoch
                    if i % 2 == 0:
                        facts = pipeline.rules.state.item(aid, context["item_ref"], "deviation")
                        facts.batches.add(context["batch_no"])
                        facts.classification = "MAJOR"
                    if len(changes) >= 50_000:
                        pipeline.engine.restore_with_contexts(changes)
                        changes = []
            pipeline.engine.restore_with_contexts(changes)
            seen = pipeline.rules.state.seen
            while len(seen) < seen.capacity:          # a long-running worker's window of recent ids
                seen.add(str(uuid.uuid4()))
            total += len(pipeline.engine)
            ledger.save_checkpoint(name, checkpoint.upto_seq, encode(pipeline, header))
            print(f"  partition {number}: {len(pipeline.engine):,} open obligations, "
                  f"{len(pipeline.rules.state.items):,} items' facts", flush=True)
    if total < n - len(ids) * 2 or not stream:
        raise BenchFailed(f"seeded {total:,} open obligations ({len(stream)} in the stream), wanted {n:,}")
    return stream


# -- watching ---------------------------------------------------------------------------------
class Breaches:
    """Reads the obligations topic from the start in a thread: when each obligation's breach
    record was first read (epoch seconds)."""

    def __init__(self, bootstrap: str, topic: str):
        self.first: dict[str, float] = {}
        self._stop = threading.Event()
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10,
                                      max_poll_records=5000)
        parts = [TopicPartition(topic, p) for p in (self.consumer.partitions_for_topic(topic) or ())]
        if not parts:
            raise BenchFailed(f"no partitions for {topic}")
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for messages in self.consumer.poll(timeout_ms=20).values():
                now = time.time()
                for message in messages:
                    if dict(message.headers or ()).get("qbus-event-type") == b"obligation.breached" and message.key:
                        self.first.setdefault(message.key.decode(), now)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.consumer.close()


def rebuilds(log: Path) -> list[tuple[int, str, float]]:
    text = log.read_text(errors="replace")
    return [(int(m[1]), m[3], float(m[4])) for m in REBUILT.finditer(text)]


def start(settings, log: Path) -> tuple[Process, float]:
    """A worker on its own log; seconds from start to ready (every partition rebuilt)."""
    started = time.monotonic()
    process = Process([sys.executable, "-m", "agents.cli.main", "worker"], settings, log, timeout=600)
    return process, time.monotonic() - started


def steady(bench: Bench, settings, catalogue, rate: float, seconds: float) -> list[float]:
    """Publish signed events at ``rate`` for ``seconds``; publish -> inbox latency of each (ms)."""
    records = bench.encoded(settings, int(rate * seconds))
    inboxes = Arrivals(bench.bootstrap, [catalogue.inbox(h) for h in bench.fleet.holders])
    producer = KafkaProducer(bootstrap_servers=bench.bootstrap, acks="all", linger_ms=0)
    sent: dict[str, float] = {}
    began = time.monotonic()
    for i, (topic, key, data, event_id) in enumerate(records):
        pause = began + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        producer.send(topic, key=key, value=data).get(10)
        sent[event_id] = time.monotonic()
    producer.close()
    inboxes.wait_for(sent, timeout=120)
    inboxes.close()
    return [(inboxes.seen[i] - t) * 1000 for i, t in sent.items()]


def lateness(stream: dict[str, float], breaches: Breaches, start: float, end: float) -> list[float]:
    due = {ob: at for ob, at in stream.items() if start <= at <= end}
    if len(due) < 20:
        raise BenchFailed(f"only {len(due)} obligations of the stream fell due in the window")
    deadline = time.time() + 30
    while time.time() < deadline and not due.keys() <= breaches.first.keys():
        time.sleep(0.1)
    missing = due.keys() - breaches.first.keys()
    if missing:
        raise BenchFailed(f"{len(missing)} of {len(due)} obligations due in the window never breached")
    return [(breaches.first[ob] - at) * 1000 for ob, at in due.items()]


def exactly_once(settings, stream: dict[str, float], upto: float) -> int:
    """Every stream obligation due by ``upto`` has exactly one breach record in the ledger."""
    due = {ob for ob, at in stream.items() if at <= upto}
    counts: dict[str, int] = {}
    with open_ledger(settings.ledger) as ledger:
        for record in ledger.iter(kinds=["event"], event_types=["obligation.breached"]):
            ob = record.data.get("payload", {}).get("obligation_id")
            counts[ob] = counts.get(ob, 0) + 1
    twice = [ob for ob in due if counts.get(ob, 0) > 1]
    never = [ob for ob in due if ob not in counts]
    if twice or never:
        raise BenchFailed(f"of {len(due)} obligations due, {len(never)} have no breach in the ledger and "
                          f"{len(twice)} have more than one")
    return len(due)


def replay_figure(folder: Path, bench: Bench, n: int) -> float:
    """Seconds for ``partitions.restore`` to rebuild n open obligations from the ledger's records
    alone (no checkpoint): what a worker does the first time, or when a checkpoint fails."""
    from agents.core.obligations.events import change_events

    settings = bench.settings()
    agreements = load_agreements(settings)
    aid = sorted(agreements.ids())[0]
    agreement = agreements.latest(aid)
    now = datetime.now(timezone.utc)
    with open_ledger(f"sqlite:///{folder / 'replay.db'}") as ledger:
        batch: list[dict] = []
        for i in range(n):
            change, context = opened(agreement, 0, i, now + timedelta(days=3), now)
            batch += change_events(change, context, now)
            if len(batch) >= 5000:
                ledger.append(batch)
                batch = []
        ledger.append(batch)
        number = partition_for(agreement.manufacturer.id, settings.partitions)
        began = time.perf_counter()
        part, how = partitions.restore(ledger, agreements, default_schemas(), "bench.accepted", settings.partitions,
                                       number)
        seconds = time.perf_counter() - began
    if len(part.pipeline.engine) != n or "all its records" not in how:
        raise BenchFailed(f"the replay rebuilt {len(part.pipeline.engine):,} of {n:,} ({how})")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="open obligations")
    parser.add_argument("--rate", type=float, default=50.0, help="events/s of the steady intake")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the steady window")
    parser.add_argument("--down", type=float, default=5.0, help="seconds the worker is down before the restart")
    parser.add_argument("--replay-n", type=int, default=100_000, help="obligations for the full-replay figure")
    args = parser.parse_args()

    folder = temp_folder("qbus-clocks-")
    rows: list[tuple[str, str, str]] = []
    with EmbeddedBroker(log_path=folder / "tansu.log") as broker:
        bench = Bench(broker.bootstrap, folder, manufacturers=4)
        settings = bench.settings()
        catalogue = bench.provision(settings)
        print("a first worker takes one deviation per agreement and stops (leaving checkpoints) ...", flush=True)
        first, _ = start(settings, folder / "worker-1.log")
        steady(bench, settings, catalogue, rate=10, seconds=0.4)
        first.stop()
        print(f"{args.n:,} open obligations into the checkpoints, through the real engine ...", flush=True)
        began = time.monotonic()
        stream = seed(settings, catalogue, args.n, time.time() + STREAM_LEAD_S)
        print(f"  seeded in {time.monotonic() - began:.0f} s; the stream falls due from "
              f"{min(stream.values()) - time.time():.0f} s from now, one every {STREAM_SPACING_S * 1000:.0f} ms",
              flush=True)

        breaches = Breaches(bench.bootstrap, catalogue.bus("obligation"))
        w2, ready2 = start(settings, folder / "worker-2.log")
        rss2 = rss_mib(w2.process.pid)
        built = rebuilds(folder / "worker-2.log")
        if not built or any("checkpoint" not in how for _, how, _ in built):
            raise BenchFailed(f"the worker did not rebuild from the checkpoints: {built}")
        print(f"  worker ready in {ready2:.1f} s, RSS {rss2:.0f} MiB", flush=True)
        rows += [("worker start -> ready, rebuilt from the checkpoints", f"{ready2:.1f} s", "(target < 10 s)"),
                 ("  of which the partitions' rebuilds (each)", " / ".join(f"{s:.1f}" for _, _, s in built) + " s", ""),
                 (f"worker RSS with {args.n:,} open (rules' facts included)", f"{rss2:.0f} MiB", "(target < 400 MB)")]

        wait = min(stream.values()) - time.time()
        if wait > 0:
            print(f"  waiting {wait:.0f} s for the stream to start falling due ...", flush=True)
            time.sleep(wait)
        window_start = time.time()
        print(f"steady intake at {args.rate:.0f} events/s for {args.seconds:.0f} s while obligations fall due ...",
              flush=True)
        latencies = steady(bench, settings, catalogue, args.rate, args.seconds)
        late = lateness(stream, breaches, window_start, time.time() - 1)
        rss_after = rss_mib(w2.process.pid)
        rows += [(f"escalation lateness under {args.rate:.0f} ev/s intake: p50 / p99 / max",
                  f"{percentile(late, 50):.0f} / {percentile(late, 99):.0f} / {max(late):.0f} ms",
                  f"(target p99 <= 1000 ms; {len(late)} obligations)"),
                 ("  the intake beside it, publish -> inbox: p50 / p99",
                  f"{percentile(latencies, 50):.0f} / {percentile(latencies, 99):.0f} ms", ""),
                 ("  worker RSS after the window", f"{rss_after:.0f} MiB", "")]

        print(f"restart: a clean stop, {args.down:.0f} s down, a start ...", flush=True)
        stopped = time.time()
        began = time.monotonic()
        w2.stop()
        stop_s = time.monotonic() - began
        time.sleep(args.down)
        w3, ready3 = start(settings, folder / "worker-3.log")
        ready_at = time.time()
        built3 = rebuilds(folder / "worker-3.log")
        if not built3 or any("checkpoint" not in how for _, how, _ in built3):
            raise BenchFailed(f"the restarted worker did not rebuild from its own checkpoints: {built3}")
        down = {ob: at for ob, at in stream.items() if stopped < at < ready_at}
        deadline = time.time() + 30
        while time.time() < deadline and not down.keys() <= breaches.first.keys():
            time.sleep(0.1)
        if len(down) < 5 or not down.keys() <= breaches.first.keys():
            raise BenchFailed(f"of {len(down)} obligations due while the worker was down, "
                              f"{len(down.keys() - breaches.first.keys())} never breached after the restart")
        after = max(breaches.first[ob] for ob in down) - ready_at
        time.sleep(2)
        checked = exactly_once(settings, stream, time.time() - 2)
        rss3, peak3 = rss_mib(w3.process.pid), rss_mib(w3.process.pid, "VmHWM")
        w3.stop()
        breaches.close()
        rows += [("clean stop with a checkpoint of every partition", f"{stop_s:.1f} s", ""),
                 ("restart -> ready, from the worker's own checkpoints", f"{ready3:.1f} s", "(target < 10 s)"),
                 (f"  {len(down)} due while down: all fired, the last this long after ready",
                  f"{after * 1000:.0f} ms", f"(each exactly once: {checked} checked in the ledger)"),
                 ("  RSS after the restart / its peak", f"{rss3:.0f} / {peak3:.0f} MiB", "(target < 400 MB)")]

        print(f"full rebuild from the ledger's records at {args.replay_n:,} obligations ...", flush=True)
        replay = replay_figure(folder, bench, args.replay_n)
        rows.append((f"rebuild without a checkpoint: {args.replay_n:,} / scaled to {args.n:,}",
                     f"{replay:.1f} / {replay * args.n / args.replay_n:.0f} s", "(the path a checkpoint avoids)"))
    print()
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:{width}}  {value:>20}  {note}")
    print(f"\n({args.n:,} open obligations over 4 agreements, {settings.partitions} partitions, one Tansu broker, "
          "signatures required; median of nothing: one run, read it with the machine's load in mind)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as failure:
        print(f"\nBENCH FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
