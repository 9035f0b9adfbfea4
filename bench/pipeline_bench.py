"""The worker's core, end to end, beside a bare Faust passthrough, in one run on one broker.

    .venv/bin/python bench/pipeline_bench.py [--n 3000] [--rate 100] [--seconds 20] [--runs 3]

Every figure is measured from outside the worker, by reading what reaches the topics (never from
end offsets, which Tansu reports wrongly), on signed events (signatures required, as in
production) of six manufacturers, so they spread over the core stage's partitions:

1. throughput: N events pre-produced, then a worker started; events/s from the first to the last
   copy in the holders' inboxes (intake -> ledger -> rules -> clocks -> inbox), beside a bare Faust
   passthrough of the same records; and events per worker CPU-second;
2. latency: publish -> inbox at a steady offered rate (p50, p99);
3. a critical deviation with product impact sent right behind a burst of routine events (an MES's
   end-of-batch upload): publish -> suspension directive, over several runs;
4. one worker against two in one group: events per CPU-second;
5. ledger append against a raw batched insert of the same rows (SQLite; PostgreSQL against COPY).

The machine is shared and noisy: read ratios, not absolute times. A figure that cannot be measured
fails the run with its reason.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import (Arrivals, BenchFailed, Process, fleet, event_for, median, percentile,  # noqa: E402
                           settings_for, temp_folder, worker)
from kafka import KafkaProducer  # noqa: E402

from streams.admin import admin_client, create_topics  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.publisher import Publisher  # noqa: E402
from streams.signing import sign_event  # noqa: E402
from streams.topics import TopicCatalogue, TopicSpec  # noqa: E402

HERE = Path(__file__).resolve().parent


class Bench:
    def __init__(self, bootstrap: str, folder: Path, manufacturers: int = 6):
        self.bootstrap = bootstrap
        self.folder = folder
        self.fleet = fleet(folder / "agreements", manufacturers)
        self.counter = 0

    def settings(self, **extra):
        return settings_for(self.bootstrap, self.folder / "state", self.fleet.folder,
                            topic_prefix=f"b{uuid.uuid4().hex[:5]}", **extra)

    def provision(self, settings, extra: tuple[str, ...] = ()) -> TopicCatalogue:
        catalogue = TopicCatalogue.from_settings(settings)
        specs = catalogue.specs(tuple(self.fleet.holders))
        specs += [TopicSpec(t, settings.partitions, 1, "delete", -1, "", "", "bench") for t in extra]
        admin = admin_client(settings)
        try:
            create_topics(admin, specs)
        finally:
            admin.close()
        return catalogue

    def encoded(self, settings, n: int, critical: bool = False) -> list[tuple[str, bytes, bytes, str]]:
        """n signed events, round-robin over the agreements: (topic, key, bytes, event_id)."""
        out = []
        with Publisher.from_settings(settings) as publisher:
            for _ in range(n):
                agreement = self.fleet.agreements[self.counter % len(self.fleet.agreements)]
                self.counter += 1
                key = self.fleet.keys[agreement["manufacturer"]["id"]]
                index = agreement["manufacturer"]["id"].removeprefix("CMO-B")
                publisher.signer = lambda e, k=key, i=index: sign_event(e, k, f"qms-b{i}-k1")
                topic, value, data = publisher.encode(event_for(agreement, self.counter, critical=critical))
                out.append((topic, f"{value['agreement_id']}|{value['item_ref']}".encode(), data, value["event_id"]))
        return out

    def produce(self, records, topic: str | None = None) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        for record_topic, key, data, event_id in records:
            producer.send(topic or record_topic, key=key, value=data, headers=[("qbus-event-id", event_id.encode())])
        producer.flush()
        producer.close()


def rate(arrivals: Arrivals, ids: list[str]) -> float:
    times = [arrivals.seen[i] for i in ids]
    span = max(times) - min(times)
    if span <= 0:
        raise BenchFailed("all events arrived at once; raise --n to measure a rate")
    return (len(ids) - 1) / span


def throughput(bench: Bench, n: int) -> dict:
    settings = bench.settings()
    catalogue = bench.provision(settings, ("bench.pass.in", "bench.pass.out"))
    records = bench.encoded(settings, n)
    ids = [r[3] for r in records]
    print(f"  {n} signed events produced to the intake topics and to the passthrough's input", flush=True)
    bench.produce(records)
    bench.produce(records, "bench.pass.in")

    passed = Arrivals(bench.bootstrap, ["bench.pass.out"])
    faust = Process([sys.executable, str(HERE / "faust_passthrough.py"), "bench.pass.in", "bench.pass.out", "worker"],
                    settings, bench.folder / "passthrough.log", ready="[^Worker]: Ready")
    cpu0 = faust.cpu_seconds()
    passed.wait_for(ids, timeout=max(120, n / 50))
    faust_cpu = faust.cpu_seconds() - cpu0
    faust.stop()
    passed.close()

    inboxes = Arrivals(bench.bootstrap, [catalogue.inbox(h) for h in bench.fleet.holders])
    started = time.monotonic()
    qbus = worker(settings, bench.folder / "worker-throughput.log")
    cpu0 = qbus.cpu_seconds()
    inboxes.wait_for(ids, timeout=max(180, n / 20))
    qbus_cpu = qbus.cpu_seconds() - cpu0
    print(f"  worker started and drained the backlog in {time.monotonic() - started:.1f} s", flush=True)
    result = {"faust": rate(passed, ids), "qbus": rate(inboxes, ids), "faust_cpu": n / faust_cpu, "qbus_cpu": n / qbus_cpu}
    inboxes.close()
    return {**result, "worker": qbus, "settings": settings, "catalogue": catalogue}


def latency(bench: Bench, settings, catalogue, offered: float, seconds: float) -> list[float]:
    n = int(offered * seconds)
    records = bench.encoded(settings, n)
    inboxes = Arrivals(bench.bootstrap, [catalogue.inbox(h) for h in bench.fleet.holders])
    producer = KafkaProducer(bootstrap_servers=bench.bootstrap, acks="all", linger_ms=0)
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i, (topic, key, data, event_id) in enumerate(records):
        pause = start + i / offered - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        producer.send(topic, key=key, value=data).get(10)
        sent[event_id] = time.monotonic()
    producer.close()
    inboxes.wait_for(sent, timeout=60)
    inboxes.close()
    return [(inboxes.seen[i] - t) * 1000 for i, t in sent.items()]


def critical_behind_a_burst(bench: Bench, settings, catalogue, burst: int, runs: int) -> list[float]:
    from streams.codec import Codec
    from streams.registry import registry_from_settings

    codec = Codec(registry_from_settings(settings))
    found: dict[str, float] = {}

    def triggered(message) -> bool:
        value = codec.decode(message.value).value
        if value["event_type"] == "directive.issued":
            found[value["payload"]["triggered_by_event_id"]] = time.monotonic()
        return False

    directives = Arrivals(bench.bootstrap, [catalogue.bus("directive")], where=triggered)
    delays = []
    for run in range(runs):
        routine = bench.encoded(settings, burst)
        [critical] = bench.encoded(settings, 1, critical=True)
        bench.produce(routine)                       # the end-of-batch upload, all at once
        producer = KafkaProducer(bootstrap_servers=bench.bootstrap, acks="all", linger_ms=0)
        producer.send(critical[0], key=critical[1], value=critical[2]).get(10)
        sent = time.monotonic()
        producer.close()
        deadline = sent + 60
        while critical[3] not in found and time.monotonic() < deadline:
            time.sleep(0.01)
        if critical[3] not in found:
            raise BenchFailed(f"run {run + 1}: no suspension directive for the critical deviation within 60 s")
        delays.append((found[critical[3]] - sent) * 1000)
        print(f"  run {run + 1}: directive {delays[-1]:.0f} ms after the critical deviation, behind {burst} events",
              flush=True)
        time.sleep(2)   # let the backlog drain before the next run
    directives.close()
    return delays


def per_cpu_second(bench: Bench, n: int, workers: int) -> float:
    settings = bench.settings()
    catalogue = bench.provision(settings)
    inboxes = Arrivals(bench.bootstrap, [catalogue.inbox(h) for h in bench.fleet.holders])
    procs = [worker(settings.model_copy(update={"worker_web_port": _port()}), bench.folder / f"w{workers}-{i}.log")
             for i in range(workers)]
    time.sleep(3)   # both in the group, partitions split
    records = bench.encoded(settings, n)
    cpu0 = sum(p.cpu_seconds() for p in procs)
    bench.produce(records)
    inboxes.wait_for([r[3] for r in records], timeout=max(180, n / 20))
    cpu = sum(p.cpu_seconds() for p in procs) - cpu0
    for p in procs:
        p.stop()
    inboxes.close()
    return n / cpu


def _port() -> int:
    from streams.broker import free_port

    return free_port()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="events for the throughput runs")
    parser.add_argument("--rate", type=float, default=100.0, help="offered events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--burst", type=int, default=3000, help="routine events ahead of the critical one")
    parser.add_argument("--runs", type=int, default=3, help="runs of the critical-behind-a-burst case")
    args = parser.parse_args()

    folder = temp_folder("qbus-bench-")
    rows: list[tuple[str, str, str]] = []
    with EmbeddedBroker(log_path=folder / "tansu.log") as broker:
        bench = Bench(broker.bootstrap, folder)
        print("throughput (signed events, six manufacturers) ...", flush=True)
        t = throughput(bench, args.n)
        rows += [("bare Faust passthrough", f"{t['faust']:.0f} ev/s", ""),
                 ("full pipeline (intake -> ledger -> rules -> clocks -> inbox)", f"{t['qbus']:.0f} ev/s",
                  f"{t['qbus'] / t['faust']:.2f}x  (target >= 0.5x)"),
                 ("  per worker CPU-second: passthrough / pipeline", f"{t['faust_cpu']:.0f} / {t['qbus_cpu']:.0f}",
                  f"{t['qbus_cpu'] / t['faust_cpu']:.2f}x")]
        print(f"latency at {args.rate:.0f} events/s offered for {args.seconds:.0f} s ...", flush=True)
        lat = latency(bench, t["settings"], t["catalogue"], args.rate, args.seconds)
        rows.append((f"publish -> inbox at {args.rate:.0f}/s: p50 / p99", f"{percentile(lat, 50):.0f} / "
                     f"{percentile(lat, 99):.0f} ms", "(target p99 < 100 ms)"))
        print(f"a critical deviation behind {args.burst} routine events ...", flush=True)
        delays = critical_behind_a_burst(bench, t["settings"], t["catalogue"], args.burst, args.runs)
        rows.append((f"critical -> directive behind {args.burst}: median / max of {args.runs}",
                     f"{median(delays):.0f} / {max(delays):.0f} ms", "(target < 1000 ms)"))
        t["worker"].stop()
        print("one worker against two ...", flush=True)
        one, two = per_cpu_second(bench, args.n, 1), per_cpu_second(bench, args.n, 2)
        rows.append(("events per CPU-second: one worker / two workers", f"{one:.0f} / {two:.0f}",
                     f"{two / one:.2f}x  (target >= 1.0x)"))
    print()
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:{width}}  {value:>16}  {note}")
    print(f"\n({args.n} events, 6 manufacturers, 3 partitions, one Tansu broker, signatures required)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchFailed as failure:
        print(f"\nBENCH FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
