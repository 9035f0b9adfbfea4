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
    "agents.cli.schemas",
    "agents.cli.review",
]


def _settings(args) -> Settings:
    overrides = {}
    if getattr(args, "bootstrap", None):
        overrides["bootstrap_servers"] = args.bootstrap
    return Settings(**overrides)


# --- topics ---------------------------------------------------------------------------------
def _holders(settings: Settings, extra: list[str]) -> tuple[str, ...]:
    """The holders of the loaded agreements (each has an inbox topic), plus any named with --holder."""
    from agents.worker.bus import load_agreements

    return tuple(sorted(set(load_agreements(settings).holders()) | set(extra)))


def cmd_topics_create(args) -> int:
    from streams.admin import admin_client, create_topics
    from streams.topics import TopicCatalogue

    settings = _settings(args)
    admin = admin_client(settings)
    try:
        result = create_topics(admin, TopicCatalogue.from_settings(settings).specs(_holders(settings, args.holder)),
                               settings.min_insync_replicas)
    finally:
        admin.close()
    for name in result.created:
        print(f"created  {name}")
    print(f"{len(result.created)} topics created, {len(result.existing)} already there "
          f"on {settings.bootstrap_servers}")
    if settings.schema_registry_url:
        # A real registry is the one outside clients ask: give it the same subjects the embedded one has.
        from agents.cli.schemas import register_schemas
        from streams.registry import RegistryError

        try:
            rows = register_schemas(settings)
        except RegistryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{len(rows)} schema subjects registered in {settings.schema_registry_url}")
    return 0


INBOX_NOTE = ("inboxes carry every category a holder may see, and also the bus's own records about its items "
              "(findings, obligations, escalations, ...), each with its own schema: decode by the schema id in each "
              "record (an AvroDeserializer does), there is no topic subject")


def cmd_topics_list(args) -> int:
    from streams.subjects import topic_subject
    from streams.topics import TopicCatalogue

    settings = _settings(args)
    catalogue = TopicCatalogue.from_settings(settings)
    specs = catalogue.specs(_holders(settings, args.holder))
    rows = [{"topic": s.name, "partitions": s.partitions, "replication": s.replication,
             "cleanup_policy": s.cleanup_policy, "retention_ms": s.retention_ms, "key": s.key, "value": s.value,
             "subject": topic_subject(catalogue, s.name), "purpose": s.purpose} for s in specs]
    if args.json:
        print(json.dumps({"schema_registry": settings.client_registry_url, "inbox_note": INBOX_NOTE, "topics": rows},
                         indent=1, ensure_ascii=False))
        return 0
    for row in rows:
        retention = "forever" if row["retention_ms"] < 0 else f"{row['retention_ms'] // 86_400_000} d"
        subject = row["subject"] or ("- (agreement YAML, not Avro)" if row["topic"] == catalogue.agreements
                                     else "- (many schemas: decode by id)")
        print(f"{row['topic']:40} {row['partitions']:>2}p  {row['cleanup_policy']:8} {retention:>8}  "
              f"subject {subject}")
    print(f"\nkeys: intake, accepted and inbox records are keyed '<agreement_id>|<item_ref>'.\n{INBOX_NOTE}.")
    print(f"schema registry: {settings.client_registry_url or 'file ' + str(settings.registry_path)}"
          " (docs/wire-format.md)")
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
    """Re-send from an outbox what the bus has not recorded. The bus is asked over HTTP with --url
    (any machine with a token), else by reading the ledger file (the bus's own machine)."""
    from contextlib import ExitStack

    from streams.http_status import EventStatusClient, StatusError
    from streams.publisher import Publisher

    settings = _settings(args)
    if not args.outbox.exists():
        print(f"no outbox at {args.outbox}")
        return 2
    token = args.token or (settings.api_token.get_secret_value() if settings.api_token else None)
    if args.url and not token:
        print("error: --url needs a token (--token or QBUS_API_TOKEN) of the party that published", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        publisher = stack.enter_context(Publisher.from_settings(settings, outbox=args.outbox))
        if args.url:
            status = stack.enter_context(EventStatusClient(args.url, token)).status
        else:
            from agents.record.ledger import open_ledger

            ledger = stack.enter_context(open_ledger(settings.ledger, create=False))
            status = lambda event_id: ledger.event_state(event_id).to_json()  # noqa: E731
        try:
            done = publisher.reconcile_status(status, args.grace)
        except StatusError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps({"recorded": done.recorded, "resent": done.resent,
                          "refused": [{"event_id": e, "reason": r} for e, r in done.refused]}))
    else:
        print(f"{done.recorded} events found in the ledger, {done.resent} sent again, "
              f"{len(done.refused)} refused by the bus")
        for event_id, reason in done.refused:
            print(f"REFUSED  {event_id}: {reason} (fix it and publish it as a new event)")
    return 1 if done.refused else 0


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
    listing = topics.add_parser("list", help="print the topic catalogue, inboxes of the loaded agreements' holders "
                                             "included, with each topic's schema subject")
    listing.add_argument("--holder", action="append", default=[], help="also list this holder's inbox topic")
    listing.add_argument("--json", action="store_true", help="print the catalogue as JSON")
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
    reconcile.add_argument("--url", help="ask the bus's HTTP API (e.g. http://127.0.0.1:8080) instead of reading "
                                         "the ledger file")
    reconcile.add_argument("--token", help="bearer token for --url (default QBUS_API_TOKEN)")
    reconcile.add_argument("--json", action="store_true", help="print the outcome as JSON")
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
