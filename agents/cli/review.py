"""Command line: ``qbus review``, the communication figures of one agreement for a quarter or a year.

``qbus review --agreement A --quarter 2026Q4`` writes the quarterly risk assessment's package
(Art. 5), ``--year 2026`` the product quality review's communication section, into ``--out DIR``
(default ``review-<agreement>-<period>``): review.html, review.pdf (when Chromium is installed),
review.json and a sealed manifest. ``--json`` prints the figures and their records instead, for a
script (and still writes the package when ``--out`` is given).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from agents.cli.ledger import _add_ledger_option, _agreements, default_ledger_url


def register(subparsers) -> None:
    review = subparsers.add_parser(
        "review", help="quality figures of an agreement for a quarter or a year: the printable review package (Art. 5)")
    review.add_argument("--agreement", metavar="A", required=True)
    when = review.add_mutually_exclusive_group(required=True)
    when.add_argument("--quarter", metavar="YYYYQn", help="a calendar quarter, e.g. 2026Q4 (quarterly risk assessment)")
    when.add_argument("--year", metavar="YYYY", help="a calendar year, e.g. 2026 (product quality review)")
    when.add_argument("--period", metavar="P", help="a month (2026-11) or two days (2026-10-01..2026-12-31)")
    review.add_argument("--product", metavar="CODE", action="append", default=[],
                        help="only this product (repeat for several); default: every product of the agreement")
    review.add_argument("--out", metavar="DIR", type=Path, help="an empty or new folder (default review-<A>-<period>)")
    review.add_argument("--json", action="store_true", help="print the figures and their records as JSON")
    review.add_argument("--lang", choices=("both", "zh", "en"), default="both",
                        help="language of the printable review (default both: 中文 English)")
    review.add_argument("--no-pdf", action="store_true", help="write the HTML only, not the PDF")
    review.add_argument("--tz", default=None, help="time zone when the agreement's file is not loaded (Asia/Shanghai)")
    _add_ledger_option(review)
    review.set_defaults(func=cmd_review)


def cmd_review(args) -> int:
    from agents.core.quality_metrics import PeriodError, parse_period
    from agents.record.bus_key import BusKey
    from agents.record.ledger import open_ledger
    from agents.record.review.package import review_json, review_metrics, write_review
    from streams.settings import Settings

    agreements = _agreements()
    agreement = agreements.latest(args.agreement) if agreements is not None else None
    zone = agreement.timezone if agreement is not None else (args.tz or "Asia/Shanghai")
    try:
        period = parse_period(args.quarter or args.year or args.period, zone)
    except PeriodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        ledger = open_ledger(args.ledger or default_ledger_url(), create=False)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    now = datetime.now(timezone.utc)
    with ledger:
        if ledger.count(args.agreement) == 0:
            print(f"NOT FOUND: no record of agreement {args.agreement} in this ledger", file=sys.stderr)
            return 2
        out = args.out if args.out is not None or args.json else Path(f"review-{args.agreement}-{period.label}")
        summary = None
        if out is not None:
            try:
                summary = write_review(ledger, args.agreement, period, out, agreements=agreements, now=now,
                                       lang=args.lang, pdf=not args.no_pdf, products=frozenset(args.product),
                                       seal_with=BusKey.of_state(Settings().state_dir))
            except FileExistsError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            metrics, verification = summary.metrics, summary.verification
        else:
            metrics, verification = review_metrics(ledger, args.agreement, period, agreements=agreements, now=now,
                                                   products=frozenset(args.product))
    if args.json:
        print(json.dumps(review_json(args.agreement, metrics, verification), ensure_ascii=False, indent=1))
    else:
        _print_summary(args.agreement, metrics, verification, summary)
    return 0 if verification["ledger_verified"]["ok"] else 1


def _print_summary(agreement_id: str, metrics, verification: dict, summary) -> None:
    rate = metrics.figure("on_time/all/all")
    print(f"{agreement_id} {metrics.period.label}: {metrics.value('opened/all')} items opened, "
          f"{metrics.value('closed/all')} closed, {metrics.value('open/all')} open "
          f"({metrics.value('overdue/all')} overdue) at {metrics.as_at.isoformat()}")
    if rate.count:
        print(f"deadlines met: {rate.on_time} of {rate.count} ({rate.value:.0%}); breaches "
              f"{metrics.value('breaches/all')}, violations {metrics.value('violations/all')}, "
              f"escalations {metrics.value('escalations/all')}")
    read = verification["records_read"]
    print(f"from chain {verification['chain']} records #{read['first_chain_seq']}-#{read['last_chain_seq']}, "
          f"last hash {read['last_hash']}; ledger: {verification['ledger_verified']['summary']}")
    if summary is not None:
        print(f"wrote {summary.out_dir}: {', '.join(summary.files)}, manifest.json"
              + (f" ({summary.pdf_note})" if summary.pdf_note else ""))
    if not verification["ledger_verified"]["ok"]:
        print("warning: the agreement's chain did not verify; see the review's verification section", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qbus")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
