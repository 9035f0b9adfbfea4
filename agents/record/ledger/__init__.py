"""The ledger: an append-only, hash-chained record of everything the bus accepted and decided.

Art. 14 asks that production and testing data be authentic, accurate, complete and traceable, and
lets holders replace part of their on-site audits with remote ones. The ledger is what makes that
checkable: every accepted event, every dead letter, and every obligation change, escalation,
directive, finding and delivery receipt (events by their event_type) is appended in order and never
updated or deleted; a correction is a new event naming the one it corrects. In the embedded mode the
broker keeps nothing on disk, so the ledger is also the durable record the agents rebuild from.

Chain design: one hash chain per quality agreement (plus a chain named ``-`` for dead letters that
name no agreement), not one global chain. Each record carries ``prev_hash`` (the hash of the record
before it in its chain) and ``hash`` (SHA-256 of its own canonical content and ``prev_hash``, see
`agents.record.ledger.chain`). Why per agreement:

- Art. 10: one manufacturer serves several holders, and each may see only its own data. An inspection
  package for agreement A is then a contiguous slice of A's chain that verifies on its own, without
  revealing a single hash of holder B's records (a global chain would need B's records, or at least
  their hashes, to bridge the gaps between A's).
- Writers of different agreements never wait on each other: PostgreSQL locks one chain head row per
  agreement, not a global one.
- An exported slice is anchored by the ``prev_hash`` of its first record and the ``hash`` of its last;
  the manifest states both, and ``verify`` / the live ledger can confirm them.
The price: nothing links chain A to chain B, so the order *between* agreements is only the global
``seq``, not hash-protected. No rule needs that order. Truncating a chain's tail is caught by
comparing the chain with its head row; an attacker who rewrites both (and re-hashes) can only be
caught by a head hash kept elsewhere: the export manifest, or the figures ``qbus ledger verify``
prints, which a holder should file.

Backends: `SQLiteLedger` (embedded default, WAL, one commit per appended batch) and
`PostgresLedger` (production), behind `agents.record.ledger.base.Ledger`; `open_ledger(url)` picks one.
Schema migrations are numbered SQL files per backend in ``migrations/``. Both backends also install a
trigger that refuses UPDATE and DELETE on records; the hash chain catches those who drop it.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from agents.record.ledger.base import AppendResult, Ledger
from agents.record.ledger.bookkeeping import Checkpoint, EventState, Position
from agents.record.ledger.chain import (GENESIS_HASH, NO_AGREEMENT_CHAIN, ChainHead, LedgerRecord, Problem, VerifyReport,
                                  chain_for, verify_records)

__all__ = ["AppendResult", "ChainHead", "Checkpoint", "EventState", "Position", "GENESIS_HASH", "Ledger", "LedgerRecord", "NO_AGREEMENT_CHAIN", "Problem",
           "VerifyReport", "chain_for", "open_ledger", "verify_records"]


def sqlite_path(url: str) -> str:
    """``sqlite:///var/ledger.db`` -> ``var/ledger.db`` (relative); ``sqlite:////abs/l.db`` -> ``/abs/l.db``."""
    rest = url[len("sqlite://"):]
    if not rest.startswith("/"):
        raise ValueError(f"a SQLite ledger URL is sqlite:///relative/path or sqlite:////absolute/path, not {url!r}")
    path = rest[1:].split("?", 1)[0]
    if not path:
        raise ValueError(f"no file in SQLite ledger URL {url!r}")
    return path


def open_ledger(url: str, *, create: bool = True) -> Ledger:
    """Open (and migrate) a ledger: ``sqlite:///path/to/file.db`` or ``postgresql://user@host/db``.

    SQLite takes ``?synchronous=normal`` (faster, may lose the last commits on power loss). With
    ``create=False`` a missing SQLite file is an error instead of a new, empty ledger.
    """
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        from agents.record.ledger.sqlite import SQLiteLedger
        options = dict(parse_qsl(urlsplit(url).query))
        path = sqlite_path(url)
        return SQLiteLedger(path if path == ":memory:" else str(Path(path)), create=create,
                            synchronous=options.get("synchronous", "FULL"))
    if scheme in ("postgresql", "postgres"):
        from agents.record.ledger.postgres import PostgresLedger
        return PostgresLedger(url)
    raise ValueError(f"unknown ledger URL scheme {scheme!r}: use sqlite:///path or postgresql://...")
