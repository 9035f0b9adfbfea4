"""The publisher's outbox: what it sent, kept until the ledger has it.

A broker confirmation is not the end of the road on the embedded broker: Tansu in memory mode
loses what it confirmed if it dies before the worker recorded it (BROKER.md). The outbox keeps
every event the publisher sent (its exact bytes) in a local SQLite file; `reconcile` asks whether
the ledger has each one and re-sends, unchanged, those it still lacks after a grace period. One the
bus dead-lettered is kept with the bus's reason and not sent again.
Re-sending identical bytes is safe: the intake recognises an event the ledger already holds.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Parcel:
    event_id: str
    topic: str
    key: bytes
    value: bytes
    sent_at: float


class Outbox:
    def __init__(self, path: Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("""CREATE TABLE IF NOT EXISTS outbox (
            event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, key BLOB, value BLOB NOT NULL,
            sent_at REAL NOT NULL, confirmed_at REAL, recorded_at REAL)""")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "refused_at" not in columns:  # an outbox file from before the bus's refusals were asked for
            self._db.execute("ALTER TABLE outbox ADD COLUMN refused_at REAL")
            self._db.execute("ALTER TABLE outbox ADD COLUMN refusal TEXT")

    def keep(self, event_id: str, topic: str, key: bytes, value: bytes) -> None:
        """Before sending: from here on the event is not lost whatever happens to the broker."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO outbox (event_id, topic, key, value, sent_at) VALUES (?,?,?,?,?)",
                             (event_id, topic, key, value, time.time()))

    def confirmed(self, event_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET confirmed_at = ? WHERE event_id = ?", (time.time(), event_id))

    def unrecorded(self) -> list[Parcel]:
        with self._lock:
            rows = self._db.execute("SELECT event_id, topic, key, value, sent_at FROM outbox "
                                    "WHERE recorded_at IS NULL AND refused_at IS NULL ORDER BY sent_at").fetchall()
        return [Parcel(*row) for row in rows]

    def recorded(self, event_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE outbox SET recorded_at = ? WHERE event_id = ?", (time.time(), event_id))

    def refused(self, event_id: str, reason: str) -> None:
        """The bus dead-lettered it: sending the same bytes again cannot help, so stop; keep why."""
        with self._lock:
            self._db.execute("UPDATE outbox SET refused_at = ?, refusal = ? WHERE event_id = ?",
                             (time.time(), reason, event_id))

    def refusals(self) -> list[tuple[str, str]]:
        with self._lock:
            return self._db.execute("SELECT event_id, refusal FROM outbox WHERE refused_at IS NOT NULL "
                                    "ORDER BY refused_at").fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()
