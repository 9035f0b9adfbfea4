"""Which deliveries (and acknowledgements) already happened, so a restarted worker pages nobody twice.

The dispatcher marks a delivery key only after the channel confirmed it. A crash between the
confirmation and the mark can still repeat one delivery; the receivers dedupe that too
(Idempotency-Key header, PagerDuty dedup_key, Alertmanager label identity, Message-ID).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol


class DedupeStore(Protocol):
    def seen(self, key: str) -> bool: ...

    def mark(self, key: str) -> None: ...


class InMemoryDedupeStore:
    """For tests and single-shot tools; forgets everything on restart."""

    def __init__(self) -> None:
        self._keys: set[str] = set()

    def seen(self, key: str) -> bool:
        return key in self._keys

    def mark(self, key: str) -> None:
        self._keys.add(key)


class SqliteDedupeStore:
    """Keys in a SQLite file that survives a worker restart (one file per worker host)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS notify_dedupe ("
            " key TEXT PRIMARY KEY,"
            " marked_at REAL NOT NULL)"
        )

    def seen(self, key: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM notify_dedupe WHERE key = ?", (key,)).fetchone()
        return row is not None

    def mark(self, key: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO notify_dedupe (key, marked_at) VALUES (?, ?)",
                (key, time.time()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
