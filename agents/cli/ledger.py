"""Command line: ``qbus ledger verify`` and ``qbus export``.

`register(subparsers)` adds the two commands to the main ``qbus`` parser; each sets ``func`` to a
handler taking the parsed args and returning the exit code (0 OK, 1 verification failed, 2 usage).
Run standalone with ``python -m agents.cli.ledger ...``.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path

# The one place the default ledger URL lives until settings take it over (Settings.ledger).
DEFAULT_LEDGER_URL = "sqlite:///var/ledger.db"
LEDGER_URL_ENV = "QBUS_LEDGER_URL"


def default_ledger_url() -> str:
    from streams.settings import Settings

    return Settings().ledger


def _day_or_instant(text: str) -> date | datetime:
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a date (2026-03-01) nor a time (2026-03-01T08:00+08:00)")


def _add_ledger_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ledger", metavar="URL", default=None,
                        help=f"sqlite:///path or postgresql://...; default ${LEDGER_URL_ENV} or {DEFAULT_LEDGER_URL}")


def register(subparsers) -> None:
    ledger = subparsers.add_parser("ledger", help="the hash-chained audit ledger (Art. 14)")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser(
        "verify", help="walk the hash chain (or check an inspection package) and report OK or the first broken record")
    verify.add_argument("--agreement", metavar="A", help="verify this agreement's chain only")
    verify.add_argument("--package", metavar="DIR", type=Path, help="verify an exported inspection package, offline")
    verify.add_argument("--keys", metavar="FILE", type=Path, help="key registry JSON: also re-check event signatures")
    verify.add_argument("--bus-key", metavar="KEY_ID", help="with --package: the bus key fingerprint the package must be "
                                                           "sealed with (qbus keys show --bus)")
    _add_ledger_option(verify)
    verify.set_defaults(func=cmd_ledger_verify)

    export = subparsers.add_parser("export", help="write an inspection package for one agreement and period")
    export.add_argument("--agreement", metavar="A", required=True)
    export.add_argument("--from", dest="start", metavar="D1", required=True, type=_day_or_instant,
                        help="first day (local, included) or an ISO time")
    export.add_argument("--to", dest="end", metavar="D2", required=True, type=_day_or_instant,
                        help="last day (local, included) or an ISO time (excluded)")
    export.add_argument("--tz", default=None, help="the agreement's time zone (default Asia/Shanghai)")
    export.add_argument("--keys", metavar="FILE", type=Path, help="key registry JSON: ship the signing keys used")
    export.add_argument("--full", action="store_true",
                        help="write every record as stored (manufacturer, inspector with full access); default: a "
                             "holder package without the business-confidential fields of fan-out notices (Art. 8)")
    export.add_argument("out", metavar="OUT", type=Path, help="an empty or new folder")
    _add_ledger_option(export)
    export.set_defaults(func=cmd_export)


def _load_keys(path: Path | None):
    if path is None:
        return None
    from streams.signing import KeyRegistry
    return KeyRegistry.load(path)


def cmd_ledger_verify(args) -> int:
    from agents.record.verify_package import verify_package
    from agents.record.ledger import open_ledger

    keys = _load_keys(args.keys)
    if args.package is not None:
        report = verify_package(args.package, keys=keys, bus_key=args.bus_key)
        print(f"package {args.package}: {report.summary()}")
        return 0 if report.ok else 1
    url = args.ledger or default_ledger_url()
    try:
        ledger = open_ledger(url, create=False)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with ledger:
        report = ledger.verify(args.agreement, keys=keys)
    if report.ok and args.agreement and not report.records:
        # A typo in the agreement id must not read as "verified".
        print(f"NOT FOUND: no record of agreement {args.agreement} in {url}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


def _agreements():
    """The loaded agreements, so a holder package also leaves out other holders' names (None if none)."""
    from agents.core.agreements import AgreementSet
    from streams.settings import Settings

    folder = Settings().agreements_dir
    return AgreementSet.load_dir(folder, strict=False) if folder.is_dir() else None


def cmd_export(args) -> int:
    from agents.record.bus_key import BusKey
    from agents.record.export import DEFAULT_TIMEZONE, export_package
    from agents.record.ledger import open_ledger
    from streams.settings import Settings

    url = args.ledger or default_ledger_url()
    try:
        ledger = open_ledger(url, create=False)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with ledger:
        try:
            summary = export_package(ledger, args.agreement, args.start, args.end, args.out,
                                     tz=args.tz or DEFAULT_TIMEZONE, keys=_load_keys(args.keys),
                                     audience="full" if args.full else "holder", agreements=_agreements(),
                                     seal_with=BusKey.of_state(Settings().state_dir))
        except (FileExistsError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(f"wrote {summary.out_dir}: {summary.events} events, {summary.dead_letters} dead letters"
          + (f", {summary.redacted} with confidential fields withheld (Art. 8)" if summary.redacted else "")
          + (f", {summary.dead_letters_withheld} dead letters without their raw bytes"
             if getattr(summary, "dead_letters_withheld", 0) else ""))
    print(f"sealed by the bus key {BusKey.of_state(Settings().state_dir).key_id}; the recipient checks it with "
          f"`qbus ledger verify --package {summary.out_dir}` (and --bus-key to pin that fingerprint)")
    if not summary.ledger_ok:
        print("warning: the ledger's chain for this agreement did not verify at export; see manifest.json",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qbus")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
