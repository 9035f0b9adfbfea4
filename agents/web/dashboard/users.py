"""Dashboard users and subscriber-API tokens, kept in one SQLite file.

A user belongs to exactly one party (a holder or a manufacturer, by the id the quality agreements
use) and has one role. Passwords are hashed with Argon2id (memory-hard; argon2-cffi's defaults:
64 MiB, 3 passes), never stored or logged in clear; a hash made with weaker parameters is replaced
at the next successful login. Disabling a user ends their sessions at their next request (every
request re-reads the user). API tokens belong to a party; only a SHA-256 of the secret part is kept
(the secret is 256 random bits, so a slow hash adds nothing), and the token is shown once. A token
bound to a source (a system instance an agreement registers, e.g. ``mes-cmox-01``) may also publish
through the HTTP gateway, as that source only; a token without one only reads.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 10
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")
TOKEN_PREFIX = "qbt"


class Role(str, Enum):
    HOLDER_QA = "holder_qa"
    HOLDER_HEAD = "holder_head"
    MANUFACTURER_QA = "manufacturer_qa"
    QP = "qp"
    AUDITOR = "auditor"


# Which side of an agreement each role stands on; an auditor reads either side of its party.
ROLE_SIDE: dict[Role, str | None] = {
    Role.HOLDER_QA: "HOLDER", Role.HOLDER_HEAD: "HOLDER",
    Role.MANUFACTURER_QA: "MANUFACTURER", Role.QP: "MANUFACTURER",
    Role.AUDITOR: None,
}


class UserError(ValueError):
    """A user or token request that cannot be done, with a message for the operator."""


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    party_id: str
    role: Role
    disabled: bool = False
    language: str | None = None
    created_at: str | None = None
    last_login_at: str | None = None

    @property
    def side(self) -> str | None:
        return ROLE_SIDE[self.role]

    @property
    def can_act(self) -> bool:
        """Auditors only read; every other role may act for its party."""
        return self.role is not Role.AUDITOR

    @property
    def signature_name(self) -> str:
        """How the user is named in the events they publish (source.user)."""
        if self.display_name and self.display_name != self.username:
            return f"{self.display_name} <{self.username}>"
        return self.username


@dataclass(frozen=True)
class ApiToken:
    token_id: str
    party_id: str
    name: str
    created_at: str
    disabled: bool = False
    source: str | None = None   # the source instance it publishes as; None = a read-only token

    def to_json(self) -> dict:
        return {"token_id": self.token_id, "party_id": self.party_id, "name": self.name, "source": self.source,
                "created_at": self.created_at, "state": "revoked" if self.disabled else "active"}


SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    party_id TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    language TEXT,
    created_at TEXT NOT NULL,
    last_login_at TEXT
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    party_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    source TEXT
);
"""
TOKEN_COLUMNS = "token_id, party_id, name, created_at, disabled, source"



def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password or not password.strip():
        raise UserError("a password may not start or end with spaces")


def generate_password() -> str:
    """A password people can type: 4 groups of 4 letters and digits (~80 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


class UserStore:
    def __init__(self, path: str | Path, hasher: PasswordHasher | None = None):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.hasher = hasher or PasswordHasher()
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(api_tokens)")}
        if "source" not in columns:  # a users file from before tokens could publish
            self._conn.execute("ALTER TABLE api_tokens ADD COLUMN source TEXT")
        self._dummy: str | None = None

    @property
    def _dummy_hash(self) -> str:
        # Verifying against this when the user is unknown keeps "no such user" as slow as "wrong password".
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    def close(self) -> None:
        self._conn.close()

    # -- users -----------------------------------------------------------------------------------
    def add(self, username: str, password: str, party_id: str, role: Role | str, *,
            display_name: str | None = None, language: str | None = None) -> User:
        if not USERNAME.match(username or ""):
            raise UserError("a user name is 2-64 letters, digits or . _ @ - and starts with a letter or digit")
        try:
            role = Role(role)
        except ValueError:
            raise UserError(f"unknown role {role!r}; one of {', '.join(r.value for r in Role)}") from None
        if not party_id or not party_id.strip():
            raise UserError("a user belongs to a party: give the holder's or manufacturer's id (e.g. HOLDER-A)")
        check_password_strength(password)
        with self._lock:
            if self._row(username) is not None:
                raise UserError(f"user {username} already exists")
            self._conn.execute(
                "INSERT INTO users (username, display_name, party_id, role, password_hash, language, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (username, display_name or username, party_id.strip(), role.value, self.hasher.hash(password),
                 language, _now()))
        return self.get(username)

    def set_password(self, username: str, password: str) -> None:
        check_password_strength(password)
        with self._lock:
            self._require(username)
            self._conn.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                               (self.hasher.hash(password), username))

    def _row(self, username: str):
        with self._lock:
            return self._conn.execute(
                "SELECT username, display_name, party_id, role, disabled, language, created_at, last_login_at, "
                "password_hash FROM users WHERE username = ?", (username,)).fetchone()

    def _require(self, username: str):
        row = self._row(username)
        if row is None:
            raise UserError(f"no user {username}")
        return row

    @staticmethod
    def _user(row) -> User:
        return User(row[0], row[1], row[2], Role(row[3]), bool(row[4]), row[5], row[6], row[7])

    def get(self, username: str) -> User | None:
        row = self._row(username)
        return self._user(row) if row else None

    def list(self) -> list[User]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT username, display_name, party_id, role, disabled, language, created_at, last_login_at "
                "FROM users ORDER BY party_id, username").fetchall()
        return [self._user(r) for r in rows]

    def set_disabled(self, username: str, disabled: bool = True) -> User:
        with self._lock:
            self._require(username)
            self._conn.execute("UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username))
        return self.get(username)

    def disable(self, username: str) -> User:
        return self.set_disabled(username, True)

    def set_language(self, username: str, language: str) -> None:
        with self._lock:
            self._conn.execute("UPDATE users SET language = ? WHERE username = ?", (language, username))

    def authenticate(self, username: str, password: str) -> User | None:
        """The user, if the password is right and the account enabled; else None (same work either way)."""
        row = self._row(username) if USERNAME.match(username or "") else None
        stored = row[8] if row else self._dummy_hash
        try:
            self.hasher.verify(stored, password or "")
            ok = row is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        if not ok or row[4]:
            return None
        with self._lock:
            if self.hasher.check_needs_rehash(stored):
                self._conn.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                                   (self.hasher.hash(password), username))
            self._conn.execute("UPDATE users SET last_login_at = ? WHERE username = ?", (_now(), username))
        return self.get(username)

    def password_hash(self, username: str) -> str | None:
        """The stored hash (for the operator's checks and tests; never shown in the dashboard)."""
        row = self._row(username)
        return row[8] if row else None

    # -- API tokens ------------------------------------------------------------------------------
    def add_token(self, party_id: str, name: str, source: str | None = None) -> tuple[ApiToken, str]:
        """A new token for a party's systems: (its record, the token text, shown only now). With a
        `source`, the token may publish as that source instance (the caller checks that the
        agreements register it for this party: `agents.web.api.sources.token_binding`)."""
        if not party_id or not name:
            raise UserError("a token needs a party id and a name (e.g. 'holder-a-qms')")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self._lock:
            self._conn.execute("INSERT INTO api_tokens (token_id, party_id, name, secret_sha256, created_at, source) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (token_id, party_id, name, digest, _now(), source))
        return self.token(token_id), f"{TOKEN_PREFIX}_{token_id}_{secret}"

    @staticmethod
    def _api_token(row) -> ApiToken:
        return ApiToken(row[0], row[1], row[2], row[3], bool(row[4]), row[5])

    def token(self, token_id: str) -> ApiToken | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE token_id = ?", (token_id,)).fetchone()
        return self._api_token(row) if row else None

    def tokens(self) -> list[ApiToken]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY party_id, created_at").fetchall()
        return [self._api_token(r) for r in rows]

    def revoke_token(self, token_id: str) -> ApiToken:
        with self._lock:
            if self.token(token_id) is None:
                raise UserError(f"no token {token_id}")
            self._conn.execute("UPDATE api_tokens SET disabled = 1 WHERE token_id = ?", (token_id,))
        return self.token(token_id)

    def check_token(self, text: str | None) -> ApiToken | None:
        """The enabled token this text is, or None."""
        parts = (text or "").strip().split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            return None
        token_id, secret = parts[1], parts[2]
        with self._lock:
            row = self._conn.execute("SELECT secret_sha256, disabled FROM api_tokens WHERE token_id = ?",
                                     (token_id,)).fetchone()
        digest = hashlib.sha256(secret.encode()).hexdigest()
        if row is None or not hmac.compare_digest(row[0], digest) or row[1]:
            return None
        return self.token(token_id)


DEMO_USERS = (
    # username, display name, party, role
    ("qa.a", "张敏 Zhang Min", "HOLDER-A", Role.HOLDER_QA),
    ("head.a", "王芳 Wang Fang", "HOLDER-A", Role.HOLDER_HEAD),
    ("qa.b", "刘洋 Liu Yang", "HOLDER-B", Role.HOLDER_QA),
    ("qa.cmox", "李伟 Li Wei", "CMO-X", Role.MANUFACTURER_QA),
    ("qp.cmox", "孙慧 Sun Hui", "CMO-X", Role.QP),
    ("auditor.a", "审计员 Auditor A", "HOLDER-A", Role.AUDITOR),
)


def ensure_demo_users(store: UserStore) -> list[tuple[User, str]]:
    """Create (or re-enable) the demo users with fresh passwords; returns each with its password.

    For `make up` only: the passwords change at every start and are printed once.
    """
    out = []
    for username, name, party, role in DEMO_USERS:
        password = generate_password()
        if store.get(username) is None:
            store.add(username, password, party, role, display_name=name)
        else:
            store.set_password(username, password)
            store.set_disabled(username, False)
        out.append((store.get(username), password))
    return out
