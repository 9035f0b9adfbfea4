"""`qbus` command line. Each area registers its own subcommands; this file only wires them."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from datetime import date, datetime
from pathlib import Path

from streams.settings import Settings

# Modules that add subcommands with `register(subparsers)`; each owns its own commands.
COMMAND_MODULES: list[str] = [
    "agents.cli.agreements",
    "agents.cli.obligations",
    "agents.cli.ledger",
    "agents.cli.keys",
    "agents.cli.kafka_acls",
    "agents.cli.clauses",
    "agents.cli.dashboard",
]


def _settings(args) -> Settings:
    overrides = {}
    if getattr(args, "bootstrap", None):
        overrides["bootstrap_servers"] = args.bootstrap
    return Settings(**overrides)


# --- topics ---------------------------------------------------------------------------------
def cmd_topics_create(args) -> int:
    from streams.admin import admin_client, create_topics
    from streams.topics import TopicCatalogue

    settings = _settings(args)
    admin = admin_client(settings)
    try:
        result = create_topics(admin, TopicCatalogue.from_settings(settings).specs(tuple(args.holder)),
                               settings.min_insync_replicas)
    finally:
        admin.close()
    for name in result.created:
        print(f"created  {name}")
    print(f"{len(result.created)} topics created, {len(result.existing)} already there "
          f"on {settings.bootstrap_servers}")
    return 0


def cmd_topics_list(args) -> int:
    from streams.topics import TopicCatalogue

    for spec in TopicCatalogue.from_settings(_settings(args)).specs(tuple(args.holder)):
        retention = "forever" if spec.retention_ms < 0 else f"{spec.retention_ms // 86_400_000} d"
        print(f"{spec.name:40} {spec.partitions:>2}p  {spec.cleanup_policy:8} {retention:>8}  key {spec.key}")
    return 0


# --- publish / tail -------------------------------------------------------------------------
def cmd_publish(args) -> int:
    from streams.eventfiles import EventFileError, load_events
    from streams.publisher import Publisher, PublishError
    from streams.validation import EventInvalid

    settings = _settings(args)
    refused = 0
    # Art. 14: a source signs with its registered key.
    with Publisher.from_settings(settings, outbox=args.outbox, signing_key=args.sign_key,
                                 key_id=args.key_id) as publisher:
        for path in args.files:
            try:
                events = load_events(path)
            except EventFileError as exc:
                print(f"REFUSED  {exc}")
                refused += 1
                continue
            for index, event in enumerate(events, 1):
                where = f"{path}#{index}" if len(events) > 1 else str(path)
                try:
                    event_id = publisher.publish(event)
                except EventInvalid as exc:
                    refused += 1
                    print(f"REFUSED  {where}: {exc}")
                    continue
                except PublishError as exc:
                    refused += 1
                    print(f"FAILED   {where}: {exc}")
                    continue
                print(f"sent     {event_id}  {event.get('event_type')}  {event.get('item_ref')}  ({where})")
    return 1 if refused else 0


def cmd_reconcile(args) -> int:
    from agents.record.ledger import open_ledger
    from streams.publisher import Publisher

    settings = _settings(args)
    if not args.outbox.exists():
        print(f"no outbox at {args.outbox}")
        return 2
    with Publisher.from_settings(settings, outbox=args.outbox) as publisher, \
            open_ledger(settings.ledger, create=False) as ledger:
        recorded, resent = publisher.reconcile(lambda event_id: ledger.get(event_id) is not None, args.grace)
    print(f"{recorded} events found in the ledger, {resent} sent again")
    return 0


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def cmd_tail(args) -> int:
    from streams.subscriber import TopicReader

    settings = _settings(args)
    topic = args.topic if args.topic.startswith(settings.topic_prefix + ".") else f"{settings.topic_prefix}.{args.topic}"
    with TopicReader.from_settings(settings, topic, from_beginning=args.from_beginning) as reader:
        print(f"following {topic} on {settings.bootstrap_servers} (Ctrl-C to stop)", file=sys.stderr)
        try:
            for count, record in enumerate(reader.follow(idle_timeout=args.idle_timeout), 1):
                print(json.dumps(record.value, default=_json_default, ensure_ascii=False), flush=True)
                if args.max and count >= args.max:
                    break
        except KeyboardInterrupt:
            pass
    return 0


# --- processes ------------------------------------------------------------------------------
def cmd_worker(args) -> int:
    from agents.worker.app import run_worker

    run_worker(_settings(args), loglevel=args.loglevel)
    return 0


def cmd_up(args) -> int:
    from agents.cli.local import run_local_stack

    return run_local_stack(_settings(args), demo=not args.no_demo, port=args.port)


def cmd_broker(args) -> int:
    from streams.broker import EmbeddedBroker

    broker = EmbeddedBroker(port=args.port).start()
    print(f"Tansu broker on {broker.bootstrap} (pid {broker.pid}); Ctrl-C stops it", flush=True)
    try:
        broker.process.wait()
    except KeyboardInterrupt:
        broker.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qbus", description="Quality-information bus for entrusted drug manufacturing.")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: QBUS_BOOTSTRAP_SERVERS or 127.0.0.1:9092)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    topics = sub.add_parser("topics", help="create or list the bus's topics").add_subparsers(dest="topics_command", required=True)
    create = topics.add_parser("create", help="create every topic of the catalogue (idempotent)")
    create.add_argument("--holder", action="append", default=[], help="also create this holder's inbox topic")
    create.set_defaults(func=cmd_topics_create)
    listing = topics.add_parser("list", help="print the topic catalogue")
    listing.add_argument("--holder", action="append", default=[])
    listing.set_defaults(func=cmd_topics_list)

    publish = sub.add_parser("publish", help="publish events from JSON or YAML files")
    publish.add_argument("files", nargs="+", type=Path)
    publish.add_argument("--sign-key", metavar="PEM", help="sign each event with this Ed25519 private key (Art. 14)")
    publish.add_argument("--key-id", default=None,
                         help="the key id registered for the source in the agreement (default: the key's fingerprint)")
    publish.add_argument("--outbox", type=Path, help="keep what is sent in this file until the ledger has it "
                                                      "(see `qbus reconcile`)")
    publish.set_defaults(func=cmd_publish)

    reconcile = sub.add_parser("reconcile", help="re-send from an outbox what the ledger does not have")
    reconcile.add_argument("--outbox", type=Path, required=True)
    reconcile.add_argument("--grace", type=float, default=30.0,
                           help="seconds an event may still be on its way before it is sent again (default 30)")
    reconcile.set_defaults(func=cmd_reconcile)

    tail = sub.add_parser("tail", help="print decoded events of a topic as they arrive")
    tail.add_argument("topic", help="e.g. accepted, deadletter, intake.deviation (prefix optional)")
    tail.add_argument("--from-beginning", action="store_true")
    tail.add_argument("--max", type=int, default=0, help="stop after this many records")
    tail.add_argument("--idle-timeout", type=float, default=None, help="stop after this many idle seconds")
    tail.set_defaults(func=cmd_tail)

    worker = sub.add_parser("worker", help="run the Faust worker (all agents)")
    worker.add_argument("--loglevel", default="info")
    worker.set_defaults(func=cmd_worker)

    up = sub.add_parser("up", help="run the whole system locally: broker, worker, demo traffic")
    up.add_argument("--no-demo", action="store_true", help="do not publish demo events")
    up.add_argument("--port", type=int, default=9092, help="broker port (a free one if taken)")
    up.set_defaults(func=cmd_up)

    broker = sub.add_parser("broker", help="run only the embedded Tansu broker")
    broker.add_argument("--port", type=int, default=0)
    broker.set_defaults(func=cmd_broker)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
