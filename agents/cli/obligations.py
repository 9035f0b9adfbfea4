"""``qbus obligations [--agreement A] [--overdue]``: the open obligations as a table.

Where the obligations come from: ``--from-file`` reads a JSON-lines replay of obligation changes
(payloads of ``obligation.*`` / ``escalation.raised`` events, bare or enveloped, oldest first);
otherwise the source installed with :func:`set_source` (the worker wiring supplies one that reads
the ledger). The table itself is :func:`format_table`, a pure function.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable
from zoneinfo import ZoneInfo

from agents.core.agreements import AgreementSet
from agents.core.calendar import DEFAULT_TIMEZONE
from agents.core.obligations.engine import ObligationEngine
from agents.core.obligations.model import Obligation, as_utc, human_span

ObligationSource = Callable[[argparse.Namespace], Iterable[Obligation]]
_source: ObligationSource | None = None  # default: the ledger (see _ledger_source below)

COLUMNS = ("AGREEMENT", "ITEM", "KIND", "RESPONSIBLE", "DUE (LOCAL)", "STEP", "OVERDUE BY")


def _ledger_source(args) -> list[Obligation]:
    from agents.worker.rebuild import open_from_ledger
    from streams.settings import Settings

    return open_from_ledger(Settings())


def set_source(source: ObligationSource | None) -> None:
    """Install where ``qbus obligations`` reads open obligations from when no file is given."""
    global _source
    _source = source


def format_table(obligations: Iterable[Obligation], now: datetime,
                 tz: str | ZoneInfo | Callable[[Obligation], ZoneInfo] = DEFAULT_TIMEZONE) -> str:
    """A plain-text table: agreement, item, kind, responsible party, due in local time, ladder
    step reached, and how long overdue (blank when not yet due). ``tz`` is a zone or a function
    giving each obligation's zone (its agreement's)."""
    if isinstance(tz, str):
        tz = ZoneInfo(tz)
    zone_of = tz if callable(tz) and not isinstance(tz, ZoneInfo) else (lambda _o, _z=tz: _z)
    rows = []
    for o in obligations:
        due_local = o.due_at.astimezone(zone_of(o))
        overdue = now - o.due_at
        rows.append((
            o.agreement_id,
            o.item_ref,
            o.kind.value,
            f"{o.responsible_party_role} {o.responsible_party_id or ''}".strip(),
            f"{due_local:%Y-%m-%d %H:%M} {due_local.tzname()}",
            str(o.ladder_step) if o.ladder_step else "-",
            human_span(overdue) if overdue.total_seconds() > 0 else "",
        ))
    if not rows:
        return "no open obligations"
    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def read_replay(path: str | Path) -> list[dict]:
    """JSON lines of change payloads; blank lines and lines that are not obligation records are skipped."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from None
            body = record.get("payload", record) if isinstance(record, dict) else None
            if isinstance(body, dict) and "obligation_id" in body:
                out.append(record)
    return out


def cmd_obligations(args: argparse.Namespace) -> int:
    out = getattr(args, "stdout", None) or sys.stdout
    now = as_utc(args.now) if args.now else datetime.now(timezone.utc)
    agreements = AgreementSet()
    if args.agreements:
        agreements = AgreementSet.load_dir(args.agreements, strict=False)
    if args.from_file:
        try:
            records = read_replay(args.from_file)
        except (OSError, ValueError) as exc:
            print(f"cannot read {args.from_file}: {exc}", file=sys.stderr)
            return 2
        engine = ObligationEngine(agreements, clock=lambda: now)
        engine.restore(records)
        obligations = engine.open_obligations(args.agreement, args.overdue, now)
    else:
        try:
            found = (_source or _ledger_source)(args)
        except FileNotFoundError as exc:
            print(f"{exc}: start the worker (`make up`) or give --from-file REPLAY.jsonl", file=sys.stderr)
            return 2
        obligations = [o for o in found
                       if (args.agreement is None or o.agreement_id == args.agreement)
                       and (not args.overdue or o.due_at < now)]
        obligations.sort(key=lambda o: (o.due_at, o.obligation_id))

    def zone(o: Obligation) -> ZoneInfo:
        a = agreements.latest(o.agreement_id)
        return ZoneInfo(a.timezone if a else args.tz)

    print(format_table(obligations, now, zone), file=out)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("obligations", help="list open obligations (who must do what by when)")
    p.add_argument("--agreement", metavar="A", help="only this agreement")
    p.add_argument("--overdue", action="store_true", help="only those past their deadline")
    p.add_argument("--from-file", metavar="REPLAY", help="JSON lines of obligation changes, oldest first")
    p.add_argument("--agreements", metavar="DIR", help="agreement files (for time zones and ladders)")
    p.add_argument("--tz", default=DEFAULT_TIMEZONE, help="time zone for agreements not loaded (default %(default)s)")
    p.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_obligations)
