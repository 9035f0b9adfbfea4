"""``qbus agreement lint FILE...`` and ``qbus agreement init [OUT]``.

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


def register(subparsers: argparse._SubParsersAction) -> None:
    agreement = subparsers.add_parser("agreement", help="quality agreements: check and create")
    sub = agreement.add_subparsers(dest="agreement_command", metavar="{lint,init}")
    sub.required = True

    lint = sub.add_parser("lint", help="check agreement files and explain every problem")
    lint.add_argument("files", nargs="+", metavar="FILE")
    lint.set_defaults(func=cmd_lint)

    init = sub.add_parser("init", help="write the default agreement template")
    init.add_argument("out", nargs="?", metavar="OUT", help="file to write (default: print)")
    init.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    init.set_defaults(func=cmd_init)
