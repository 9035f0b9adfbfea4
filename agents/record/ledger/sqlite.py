"""SQLite ledger: the embedded default. WAL journal, one transaction (one commit) per appended batch.

Writers take the database write lock with ``BEGIN IMMEDIATE``, so several processes may share the
file and chain positions stay gapless. ``synchronous=FULL`` by default: a committed batch survives a
power cut, which matters because in the embedded mode the ledger is the only durable record
(`?synchronous=normal` in the URL trades that for speed).
"""
from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from streams.canonical import format_timestamp, parse_timestamp
from agents.record.ledger.base import PAGE_SIZE, AppendResult, SqlLedger, draft_from, event_type_clause, plan_append
from agents.record.ledger.bookkeeping import Position
from agents.record.ledger.chain import ChainHead, LedgerRecord, chain_for
from agents.record.ledger.migrations import load_migrations

log = logging.getLogger(__name__)

COLUMNS = ("seq, chain, chain_seq, kind, record_key, event_type, agreement_id, item_ref, corrects_key, "
           "occurred_at, recorded_at, body, key_id, signature, prev_hash, hash")


def _ts(value: datetime | None) -> str | None:
    return format_timestamp(value) if value is not None else None


def _record(row: tuple) -> LedgerRecord:
    values = list(row)
    values[9] = parse_timestamp(values[9]) if values[9] else None
    values[10] = parse_timestamp(values[10])
    return LedgerRecord(*values)


def _statements(script: str) -> Iterator[str]:
    """Split a SQL file into statements (trigger bodies included) so they run inside our transaction."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer
            buffer = ""
    if buffer.strip() and not all(l.strip().startswith("--") or not l.strip() for l in buffer.splitlines()):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:80]}")


class SQLiteLedger(SqlLedger):
    COLUMNS = COLUMNS
    PLACEHOLDER = "?"
    _record = staticmethod(_record)

    def __init__(self, path: str, *, create: bool = True, synchronous: str = "FULL"):
        self.url = f"sqlite:///{path}"
        if path != ":memory:":
            if not create and not Path(path).exists():
                raise FileNotFoundError(f"no ledger at {path}")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(f"synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")
        self._conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._migrate()

    # --- schema ------------------------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            conn = self._conn
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)")
            for migration in load_migrations("sqlite"):
                conn.execute("BEGIN IMMEDIATE")  # one process migrates at a time
                try:
                    row = conn.execute("SELECT checksum FROM schema_migrations WHERE version = ?",
                                       (migration.version,)).fetchone()
                    if row is None:
                        for statement in _statements(migration.sql):
                            conn.execute(statement)
                        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                                     (migration.version, migration.name, migration.checksum,
                                      format_timestamp(datetime.now(timezone.utc))))
                        log.info("ledger schema migrated to %04d_%s", migration.version, migration.name)
                    elif row[0] != migration.checksum:
                        log.warning("ledger migration %04d_%s changed after it was applied; not re-applied",
                                    migration.version, migration.name)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise

    def schema_version(self) -> int:
        return self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]

    # --- writing -----------------------------------------------------------------------------
    def _ts_param(self, moment: datetime) -> str:
        return format_timestamp(moment)

    def _ts_value(self, value: Any) -> datetime:
        return parse_timestamp(value)

    def append(self, items: Iterable[Mapping[str, Any]], positions: Sequence[Position] = ()) -> list[AppendResult]:
        drafts = [draft_from(item) for item in items]
        if not drafts and not positions:
            return []
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                chains = sorted({d.chain for d in drafts})
                heads = self._heads_of(chains) if chains else {}
                keys = list({d.record_key for d in drafts})
                existing = {}
                for start in range(0, len(keys), 500):
                    chunk = keys[start:start + 500]
                    rows = conn.execute(f"SELECT {COLUMNS} FROM ledger_records WHERE record_key IN "
                                        f"({','.join('?' * len(chunk))})", chunk).fetchall()
                    existing.update((r[4], _record(r)) for r in rows)
                first = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM ledger_records").fetchone()[0]
                plan = plan_append(drafts, heads, existing, itertools.count(first))
                conn.executemany(f"INSERT INTO ledger_records ({COLUMNS}, event_ref) VALUES ({','.join('?' * 17)})",
                                 [(r.seq, r.chain, r.chain_seq, r.kind, r.record_key, r.event_type, r.agreement_id,
                                   r.item_ref, r.corrects_key, _ts(r.occurred_at), _ts(r.recorded_at), r.body,
                                   r.key_id, r.signature, r.prev_hash, r.hash, ref)
                                  for r, ref in zip(plan.rows, plan.refs)])
                conn.executemany(
                    "INSERT INTO ledger_chains (chain, last_chain_seq, last_hash, last_recorded_at) VALUES (?,?,?,?) "
                    "ON CONFLICT (chain) DO UPDATE SET last_chain_seq = excluded.last_chain_seq, "
                    "last_hash = excluded.last_hash, last_recorded_at = excluded.last_recorded_at",
                    [(h.chain, h.last_chain_seq, h.last_hash, _ts(h.last_recorded_at)) for h in plan.heads.values()])
                if positions:
                    conn.executemany(self.POSITION_UPSERT, self._position_rows(positions, plan.results))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return plan.results

    # --- reading -----------------------------------------------------------------------------
    def _heads_of(self, chains: list[str]) -> dict[str, ChainHead | None]:
        heads: dict[str, ChainHead | None] = dict.fromkeys(chains)
        rows = self._conn.execute(
            f"SELECT chain, last_chain_seq, last_hash, last_recorded_at FROM ledger_chains WHERE chain IN "
            f"({','.join('?' * len(chains))})", chains).fetchall()
        for chain, seq, last_hash, at in rows:
            heads[chain] = ChainHead(chain, seq, last_hash, parse_timestamp(at) if at else None)
        return heads

    def heads(self) -> dict[str, ChainHead]:
        with self._lock:
            rows = self._conn.execute("SELECT chain, last_chain_seq, last_hash, last_recorded_at FROM ledger_chains").fetchall()
        return {c: ChainHead(c, s, h, parse_timestamp(a) if a else None) for c, s, h, a in rows}

    def iter(self, agreement: str | None = None, since: datetime | int | None = None,
             kinds: Iterable[str] | None = None, *, until: datetime | None = None,
             event_types: Iterable[str] | None = None,
             agreements: Iterable[str] | None = None) -> Iterator[LedgerRecord]:
        where, params = [], []
        if agreement is not None:
            where.append("chain = ?")
            params.append(chain_for(agreement))
        if agreements is not None:
            chains = sorted({chain_for(a) for a in agreements})
            where.append(f"chain IN ({','.join('?' * len(chains))})" if chains else "1=0")
            params += chains
        if isinstance(since, datetime):
            where.append("recorded_at >= ?")
            params.append(format_timestamp(since))
        if until is not None:
            where.append("recorded_at < ?")
            params.append(format_timestamp(until))
        if kinds is not None:
            kinds = list(kinds)
            where.append(f"kind IN ({','.join('?' * len(kinds))})" if kinds else "1=0")
            params += kinds
        if event_types is not None:
            clause, extra = event_type_clause(event_types, "?")
            where.append(clause)
            params += extra
        after = since if isinstance(since, int) and not isinstance(since, bool) else 0
        while True:
            sql = (f"SELECT {COLUMNS} FROM ledger_records WHERE seq > ? "
                   + "".join(f"AND {w} " for w in where) + f"ORDER BY seq LIMIT {PAGE_SIZE}")
            with self._lock:
                rows = self._conn.execute(sql, [after, *params]).fetchall()
            yield from (_record(r) for r in rows)
            if len(rows) < PAGE_SIZE:
                return
            after = rows[-1][0]
