"""PostgreSQL ledger (production), psycopg 3.

Concurrency: an append locks the head row of each chain it writes (``SELECT ... FOR UPDATE`` on
``ledger_chains``, chains in sorted order so two batches never deadlock), so any number of workers
may append at once: writers of one agreement take turns, writers of different agreements do not
wait for each other. Rows go in with ``COPY``. The URL may carry ``?schema=NAME`` (not a libpq
parameter; removed before connecting) to keep the ledger in its own schema.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from agents.record.ledger.base import (PAGE_SIZE, AppendResult, SqlLedger, count_new, draft_from, event_type_clause,
                                 plan_append)
from agents.record.ledger.bookkeeping import Position
from agents.record.ledger.chain import ChainHead, LedgerRecord, chain_for
from agents.record.ledger.migrations import load_migrations

log = logging.getLogger(__name__)

COLUMNS = ("seq, chain, chain_seq, kind, record_key, event_type, agreement_id, item_ref, corrects_key, "
           "occurred_at, recorded_at, body, key_id, signature, prev_hash, hash")
MIGRATION_LOCK = 0x71627573  # advisory lock id ('qbus') held while migrating


def split_schema(url: str) -> tuple[str, str | None]:
    """Remove the ``schema`` query parameter from a postgresql:// URL."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def _record(row: tuple) -> LedgerRecord:
    return LedgerRecord(*row)


class PostgresLedger(SqlLedger):
    COLUMNS = COLUMNS
    PLACEHOLDER = "%s"
    _record = staticmethod(_record)

    def __init__(self, url: str):
        self.url = url
        conninfo, self.schema = split_schema(url)
        self._lock = threading.RLock()
        self._conn = psycopg.connect(conninfo, autocommit=True)
        if self.schema:
            self._conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            self._conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        self._migrate()

    def _migrate(self) -> None:
        with self._lock, self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            self._conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                               "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
            applied = dict(self._conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
            for migration in load_migrations("postgres"):
                if migration.version not in applied:
                    self._conn.execute(migration.sql)
                    self._conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                                       (migration.version, migration.name, migration.checksum))
                    log.info("ledger schema migrated to %04d_%s", migration.version, migration.name)
                elif applied[migration.version] != migration.checksum:
                    log.warning("ledger migration %04d_%s changed after it was applied; not re-applied",
                                migration.version, migration.name)

    def schema_version(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]

    # --- writing -----------------------------------------------------------------------------
    def append(self, items: Iterable[Mapping[str, Any]], positions: Sequence[Position] = ()) -> list[AppendResult]:
        drafts = [draft_from(item) for item in items]
        if not drafts and not positions:
            return []
        with self._lock:
            for attempt in (1, 2):
                try:
                    return self._append(drafts, positions)
                except psycopg.errors.UniqueViolation:
                    # The same key was appended to another chain by another worker at the same
                    # moment; on the second pass it is found and reported as duplicate/conflict.
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _append(self, drafts, positions: Sequence[Position]) -> list[AppendResult]:
        conn = self._conn
        with conn.transaction():
            chains = sorted({d.chain for d in drafts})
            heads: dict[str, ChainHead | None] = {}
            lock = "SELECT last_chain_seq, last_hash, last_recorded_at FROM ledger_chains WHERE chain = %s FOR UPDATE"
            for chain in chains:  # sorted: two batches lock their chains in the same order, never deadlock
                row = conn.execute(lock, (chain,)).fetchone()
                if row is None:  # a new agreement: create its head row, then lock it
                    conn.execute("INSERT INTO ledger_chains (chain, last_chain_seq, last_hash) VALUES (%s, 0, '') "
                                 "ON CONFLICT (chain) DO NOTHING", (chain,))
                    row = conn.execute(lock, (chain,)).fetchone()
                seq, last_hash, at = row
                heads[chain] = ChainHead(chain, seq, last_hash, at) if seq else None
            keys = list({d.record_key for d in drafts})
            existing = {r[4]: _record(r) for r in conn.execute(
                f"SELECT {COLUMNS} FROM ledger_records WHERE record_key = ANY(%s)", (keys,)).fetchall()}
            needed = count_new(drafts, existing)
            seqs = sorted(r[0] for r in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('ledger_records', 'seq')) FROM generate_series(1, %s)",
                (needed,)).fetchall()) if needed else []
            plan = plan_append(drafts, heads, existing, seqs)
            if plan.rows:
                with conn.cursor().copy(f"COPY ledger_records ({COLUMNS}, event_ref) FROM STDIN") as copy:
                    for r, ref in zip(plan.rows, plan.refs):
                        copy.write_row((r.seq, r.chain, r.chain_seq, r.kind, r.record_key, r.event_type,
                                        r.agreement_id, r.item_ref, r.corrects_key, r.occurred_at, r.recorded_at,
                                        r.body, r.key_id, r.signature, r.prev_hash, r.hash, ref))
                conn.cursor().executemany(
                    "UPDATE ledger_chains SET last_chain_seq = %s, last_hash = %s, last_recorded_at = %s WHERE chain = %s",
                    [(h.last_chain_seq, h.last_hash, h.last_recorded_at, h.chain) for h in plan.heads.values()])
            if positions:
                conn.cursor().executemany(self.POSITION_UPSERT.replace("?", "%s"),
                                          self._position_rows(positions, plan.results))
        return plan.results

    # --- reading -----------------------------------------------------------------------------
    def heads(self) -> dict[str, ChainHead]:
        with self._lock:
            rows = self._conn.execute("SELECT chain, last_chain_seq, last_hash, last_recorded_at FROM ledger_chains "
                                      "WHERE last_chain_seq > 0").fetchall()
        return {c: ChainHead(c, s, h, a) for c, s, h, a in rows}

    def iter(self, agreement: str | None = None, since: datetime | int | None = None,
             kinds: Iterable[str] | None = None, *, until: datetime | None = None,
             event_types: Iterable[str] | None = None,
             agreements: Iterable[str] | None = None) -> Iterator[LedgerRecord]:
        where, params = [], []
        if agreement is not None:
            where.append("chain = %s")
            params.append(chain_for(agreement))
        if agreements is not None:
            where.append("chain = ANY(%s)")
            params.append(sorted({chain_for(a) for a in agreements}))
        if isinstance(since, datetime):
            where.append("recorded_at >= %s")
            params.append(since)
        if until is not None:
            where.append("recorded_at < %s")
            params.append(until)
        if kinds is not None:
            where.append("kind = ANY(%s)")
            params.append(list(kinds))
        if event_types is not None:
            clause, extra = event_type_clause(event_types, "%s")
            where.append(clause)
            params += extra
        after = since if isinstance(since, int) and not isinstance(since, bool) else 0
        query = (f"SELECT {COLUMNS} FROM ledger_records WHERE seq > %s "
                 + "".join(f"AND {w} " for w in where) + f"ORDER BY seq LIMIT {PAGE_SIZE}")
        while True:
            with self._lock:
                rows = self._conn.execute(query, [after, *params]).fetchall()
            yield from (_record(r) for r in rows)
            if len(rows) < PAGE_SIZE:
                return
            after = rows[-1][0]
