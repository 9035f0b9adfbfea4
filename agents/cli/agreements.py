"""``qbus agreement lint FILE...``, ``qbus agreement init [OUT]`` and ``qbus agreement publish FILE...``.

``register(subparsers)`` adds the commands to the qbus argument parser; each sets
``func=<handler>`` and the handler returns the process exit code.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.core.agreements import DEFAULT_TEMPLATE
from agents.core.agreements.lint import format_result, lint_file


def cmd_lint(args: argparse.Namespace) -> int:
    """Explain every problem of each file; exit 1 if any file has an error, 0 otherwise."""
    out = getattr(args, "stdout", None) or sys.stdout
    worst = 0
    for path in args.files:
        result = lint_file(path)
        print(format_result(result), file=out)
        if not result.ok:
            worst = 1
    return worst


def cmd_init(args: argparse.Namespace) -> int:
    """Write the default template to OUT (or print it); never overwrite without --force."""
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    if not args.out or args.out == "-":
        (getattr(args, "stdout", None) or sys.stdout).write(text)
        return 0
    target = Path(args.out)
    if target.exists() and not args.force:
        print(f"{target} exists; use --force to overwrite it", file=sys.stderr)
        return 1
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {target}; edit the parties, products, people and deadlines, then run "
          f"'qbus agreement lint {target}'", file=sys.stderr)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    """Art. 15: put agreement versions on the agreements topic; the workers take each into force
    at its effective_from (obligations already open keep the terms they were opened under)."""
    import json as json_module

    from kafka import KafkaProducer

    from agents.core.agreements.published import record_for
    from agents.core.agreements.terms import AgreementRefused
    from streams.settings import Settings
    from streams.topics import TopicCatalogue

    settings = Settings(**({"bootstrap_servers": args.bootstrap} if getattr(args, "bootstrap", None) else {}))
    prepared, worst = [], 0
    for path in args.files:
        try:
            prepared.append((path, *record_for(Path(path).read_text(encoding="utf-8"), str(path))))
        except (AgreementRefused, OSError) as exc:
            print(f"REFUSED  {path}: {exc}", file=sys.stderr)
            worst = 1
    if worst:
        return worst   # nothing is published unless every file checks out
    topic = TopicCatalogue.from_settings(settings).agreements
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", **settings.kafka_client_config())
    out = []
    try:
        for path, key, value, agreement in prepared:
            producer.send(topic, key=key, value=value).get(timeout=settings.request_timeout_s)
            out.append({"file": str(path), "agreement_id": agreement.agreement_id, "version": agreement.version,
                        "effective_from": agreement.effective_from.isoformat(), "topic": topic})
    finally:
        producer.close(timeout=settings.request_timeout_s)
    if args.json:
        print(json_module.dumps(out, ensure_ascii=False, indent=2))
    else:
        for row in out:
            print(f"published {row['agreement_id']} version {row['version']} to {topic}; in force from "
                  f"{row['effective_from']} (UTC)")
    return 0


def read_published(settings, idle_s: float = 1.5) -> list:
    """Every agreement version on the agreements topic (for processes that start with them, e.g.
    the dashboard); a record that does not check out is skipped with a warning."""
    import logging
    import time

    from kafka import KafkaConsumer, TopicPartition

    from agents.core.agreements.published import PublishedAgreementInvalid, agreement_of
    from streams.topics import TopicCatalogue

    topic = TopicCatalogue.from_settings(settings).agreements
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False,
                             fetch_max_wait_ms=50, **settings.kafka_client_config())
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        if not parts:
            return []
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        found, quiet_since = [], time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            for messages in consumer.poll(timeout_ms=200).values():
                quiet_since = time.monotonic()
                for message in messages:
                    try:
                        found.append(agreement_of(message.value).agreement)
                    except PublishedAgreementInvalid as exc:
                        logging.getLogger(__name__).warning("agreements topic: record skipped: %s", exc)
        return found
    finally:
        consumer.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    agreement = subparsers.add_parser("agreement", help="quality agreements: check and create")
    sub = agreement.add_subparsers(dest="agreement_command", metavar="{lint,init,publish}")
    sub.required = True

    lint = sub.add_parser("lint", help="check agreement files and explain every problem")
    lint.add_argument("files", nargs="+", metavar="FILE")
    lint.set_defaults(func=cmd_lint)

    init = sub.add_parser("init", help="write the default agreement template")
    init.add_argument("out", nargs="?", metavar="OUT", help="file to write (default: print)")
    init.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    init.set_defaults(func=cmd_init)

    publish = sub.add_parser("publish", help="publish agreement versions on the agreements topic (Art. 15)")
    publish.add_argument("files", nargs="+", metavar="FILE")
    publish.add_argument("--json", action="store_true", help="print JSON")
    publish.set_defaults(func=cmd_publish)
