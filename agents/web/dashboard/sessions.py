"""Server-side sessions: a logged-in cookie is only as good as its row here.

The cookie names a session id; this store, kept in the users file so the operator's CLI reaches it
too, says whether that session is still alive. Logging out ends the session here, so a copied
cookie stops working at once; a password change, a password reset and disabling a user end every
session of that user (Annex 11 §12: access ends when it is withdrawn, not when a cookie expires).
Only a SHA-256 of the session id is stored: reading the file does not give anyone a cookie.
"""
from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    sid_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    started_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS dashboard_sessions_by_user ON dashboard_sessions (username);
"""


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


class SessionStore:
    """Live sessions by id, in a SQLite file (the users file by default)."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def start(self, username: str, max_age_s: float) -> str:
        """A new session for `username`; returns its id (for the cookie, never stored in clear)."""
        sid = secrets.token_urlsafe(24)
        now = self.clock()
        with self._lock:
            # Forget sessions that ended or expired a day ago: the table stays the size of who is logged in.
            self._conn.execute("DELETE FROM dashboard_sessions WHERE expires_at < ? OR ended_at < ?",
                               (now - 86400, now - 86400))
            self._conn.execute("INSERT INTO dashboard_sessions (sid_sha256, username, started_at, expires_at) "
                               "VALUES (?, ?, ?, ?)", (_digest(sid), username, now, now + max_age_s))
        return sid

    def alive(self, sid: str | None, username: str | None) -> bool:
        """Is this the live session of this user (not ended, not expired)?"""
        if not sid or not username:
            return False
        with self._lock:
            row = self._conn.execute("SELECT username, expires_at, ended_at FROM dashboard_sessions "
                                     "WHERE sid_sha256 = ?", (_digest(sid),)).fetchone()
        return row is not None and row[0] == username and row[2] is None and row[1] > self.clock()

    def end(self, sid: str | None) -> None:
        """Log this one session out."""
        if not sid:
            return
        with self._lock:
            self._conn.execute("UPDATE dashboard_sessions SET ended_at = ? WHERE sid_sha256 = ? AND ended_at IS NULL",
                               (self.clock(), _digest(sid)))

    def end_all(self, username: str) -> int:
        """End every session of a user (password changed or reset, user disabled); returns how many."""
        with self._lock:
            cursor = self._conn.execute("UPDATE dashboard_sessions SET ended_at = ? WHERE username = ? "
                                        "AND ended_at IS NULL", (self.clock(), username))
        return cursor.rowcount

    def count_alive(self, username: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT COUNT(*) FROM dashboard_sessions WHERE username = ? AND ended_at IS NULL "
                                     "AND expires_at > ?", (username, self.clock())).fetchone()
        return int(row[0])
