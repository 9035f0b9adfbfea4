"""Intake throughput (decode → validate → forward) beside a bare Faust passthrough, same broker.

    .venv/bin/python bench/intake_bench.py [--n 5000]

Both runs consume the same number of pre-produced records from the same embedded Tansu broker
with the same Faust settings; the figure is records/s from the first to the last output record,
counted by reading the output topic (never from end offsets, which Tansu reports wrongly).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402

from streams.admin import admin_client, create_topics  # noqa: E402
from streams.broker import EmbeddedBroker, free_port  # noqa: E402
from streams.settings import child_env  # noqa: E402
from streams.processes import spawn, stop, wait_for_log  # noqa: E402
from streams.settings import Settings  # noqa: E402
from streams.topics import TopicCatalogue, TopicSpec, item_key  # noqa: E402

PASS_IN, PASS_OUT = "bench.passthrough.in", "bench.passthrough.out"


def passthrough_worker() -> None:
    """A bare Faust agent: read raw bytes, forward raw bytes. The floor for any Faust agent."""
    from faust.worker import Worker

    from agents.worker.app import create_app

    app = create_app(Settings(), app_id="qbus-bench-passthrough")
    source = app.topic(PASS_IN, value_serializer="raw", key_serializer="raw")
    sink = app.topic(PASS_OUT, value_serializer="raw", key_serializer="raw")

    @app.agent(source)
    async def forward(stream):
        async for record in stream.events():
            await sink.send(key=record.key, value=record.value)

    Worker(app, loglevel="info", quiet=True).execute_from_commandline()


def count_output(settings: Settings, topic: str, n: int, timeout: float) -> tuple[int, float]:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                             fetch_max_wait_ms=20, max_poll_records=2000)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    seen, first, last = 0, None, None
    deadline = time.monotonic() + timeout
    while seen < n and time.monotonic() < deadline:
        for messages in consumer.poll(timeout_ms=100).values():
            now = time.monotonic()
            first = first or now
            seen += len(messages)
            last = now
    consumer.close()
    return seen, (last - first) if first and last and last > first else float("nan")


def run(role_cmd: list[str], settings: Settings, state: Path, out_topic: str, n: int) -> float:
    log = state / f"{uuid.uuid4().hex[:6]}.log"
    proc = spawn(role_cmd, log, child_env(settings, QBUS_APP_ID=f"bench-{uuid.uuid4().hex[:6]}"))
    try:
        wait_for_log(log, "[^Worker]: Ready", proc, 120)
        seen, seconds = count_output(settings, out_topic, n, timeout=max(120, n / 200))
    finally:
        stop(proc)
    if seen < n:
        print(f"  warning: only {seen} of {n} records reached {out_topic}")
    return seen / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--role", choices=["passthrough"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "passthrough":
        return passthrough_worker()

    from streams.publisher import Publisher
    from tests.support.events import example

    state = Path(tempfile.mkdtemp(prefix="qbus-bench-"))
    with EmbeddedBroker(log_path=state / "tansu.log") as broker:
        settings = Settings(bootstrap_servers=broker.bootstrap, state_dir=state, store="memory://",
                            worker_web_port=free_port())
        catalogue = TopicCatalogue.from_settings(settings)
        extra = [TopicSpec(t, settings.partitions, 1, "delete", -1, "", "", "bench") for t in (PASS_IN, PASS_OUT)]
        admin = admin_client(settings)
        create_topics(admin, catalogue.specs() + extra)
        admin.close()

        print(f"producing {args.n} deviation events to both input topics ...", flush=True)
        with Publisher.from_settings(settings) as publisher:
            encoded = [publisher.encode(example("deviation")) for _ in range(args.n)]
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=5)
        for topic, value, data in encoded:
            producer.send(topic, key=item_key(value), value=data)
            producer.send(PASS_IN, key=item_key(value), value=data)
        producer.flush()
        producer.close()

        print("bare Faust passthrough ...", flush=True)
        bare = run([sys.executable, __file__, "--role", "passthrough"], settings, state, PASS_OUT, args.n)
        print("qbus intake (decode → validate → dedupe → forward) ...", flush=True)
        intake = run([sys.executable, "-m", "agents.cli.main", "worker"], settings, state, catalogue.accepted, args.n)

    print()
    print(f"{'pipeline':48} {'events/s':>10}")
    print(f"{'bare Faust passthrough':48} {bare:10.0f}")
    print(f"{'qbus intake':48} {intake:10.0f}")
    print(f"{'ratio intake / passthrough':48} {intake / bare:10.2f}")
    print(f"({args.n} events of ~{len(encoded[0][2])} bytes, {settings.partitions} partitions, "
          f"fetch wait {settings.fetch_max_wait_ms} ms, one worker)")


if __name__ == "__main__":
    main()
