"""Each dashboard user's own Ed25519 key, which signs their decisions (electronic signatures).

21 CFR Part 11 §11.200 and EU GMP Annex 11 §14 (the habit holders' auditors expect): a signature
is executed by the person, with a credential only they hold, for that one act. So the private key is
stored only encrypted, under a key derived from the user's password with Argon2id (random salt per
key, the users file's hashing parameters) and wrapped as encrypted PKCS#8; the dashboard can
use it only in the request where the user has just re-entered their password. A password change
re-encrypts it. When the password was reset by an operator (the old one is gone, so the key cannot
be opened) the key is retired and a new one is made at the user's next signature; a retired key
signs nothing more, but its public half stays published so that decisions it signed still verify.

The public keys are written to ``<state_dir>/dashboard-user-keys.json`` in `KeyRegistry.to_json`
format, each under the instance ``user:<username>`` (what `streams.signing.verify_decision` checks),
whenever a key is created.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.signing import KeyRegistry, generate_keypair, key_fingerprint, public_key_b64

SCHEMA = """
CREATE TABLE IF NOT EXISTS user_signing_keys (
    key_id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_key_pem TEXT NOT NULL,
    kdf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);
CREATE INDEX IF NOT EXISTS user_signing_keys_by_user ON user_signing_keys (username);
"""


def instance_of(username: str) -> str:
    """The key registry instance a user's key is registered under."""
    return f"user:{username}"


@dataclass(frozen=True)
class UnlockedKey:
    """A user's private key, opened with their password for one signature."""
    key_id: str
    private_key: Ed25519PrivateKey
    created: bool


class PersonalKeys:
    """Users' signing keys, in the users file; public halves also in a key registry file."""

    def __init__(self, path: str | Path, registry_path: str | Path | None, hasher: PasswordHasher | None = None):
        self.path = str(path)
        self.registry_path = Path(registry_path) if registry_path else None
        self.hasher = hasher or PasswordHasher()
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    # -- the key-encryption key -----------------------------------------------------------------
    def _new_kdf(self) -> dict:
        return {"alg": "argon2id", "salt": base64.b64encode(secrets.token_bytes(16)).decode("ascii"),
                "t": self.hasher.time_cost, "m": self.hasher.memory_cost, "p": self.hasher.parallelism}

    @staticmethod
    def _wrapping_secret(password: str, kdf: dict) -> bytes:
        raw = hash_secret_raw(password.encode("utf-8"), base64.b64decode(kdf["salt"]), time_cost=int(kdf["t"]),
                              memory_cost=int(kdf["m"]), parallelism=int(kdf["p"]), hash_len=32, type=Type.ID)
        return base64.b64encode(raw)

    def _wrap(self, private_key: Ed25519PrivateKey, password: str) -> tuple[str, str]:
        kdf = self._new_kdf()
        pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.BestAvailableEncryption(self._wrapping_secret(password, kdf)))
        return pem.decode("ascii"), json.dumps(kdf, sort_keys=True)

    def _open(self, pem: str, kdf_text: str, password: str) -> Ed25519PrivateKey | None:
        kdf = json.loads(kdf_text)
        try:
            key = serialization.load_pem_private_key(pem.encode("ascii"), self._wrapping_secret(password, kdf))
        except (ValueError, TypeError):
            return None
        return key if isinstance(key, Ed25519PrivateKey) else None

    # -- the keys -----------------------------------------------------------------------------------
    def _active(self, username: str):
        with self._lock:
            return self._conn.execute("SELECT key_id, private_key_pem, kdf FROM user_signing_keys "
                                      "WHERE username = ? AND retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
                                      (username,)).fetchone()

    def key_id(self, username: str) -> str | None:
        """The id of the user's active key, or None if they have not signed anything yet."""
        row = self._active(username)
        return row[0] if row else None

    def unlock(self, username: str, password: str) -> UnlockedKey:
        """The user's private key, opened with the password they have just re-entered (checked by the
        caller against the users file); a key is created when they have none or theirs cannot be opened."""
        with self._lock:  # two signatures at once must not make two keys
            row = self._active(username)
            if row is not None:
                key = self._open(row[1], row[2], password)
                if key is not None:
                    return UnlockedKey(row[0], key, created=False)
                # Encrypted under a password that an operator has since reset: it cannot sign any more.
                self.retire(username)
            return self._create(username, password)

    def _create(self, username: str, password: str) -> UnlockedKey:
        private, public = generate_keypair()
        key_id = key_fingerprint(public)
        pem, kdf = self._wrap(private, password)
        with self._lock:
            self._conn.execute("INSERT INTO user_signing_keys (key_id, username, public_key, private_key_pem, kdf, "
                               "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                               (key_id, username, public_key_b64(public), pem, kdf, _now()))
        self.write_registry()
        return UnlockedKey(key_id, private, created=True)

    def rewrap(self, username: str, old_password: str, new_password: str) -> bool:
        """Re-encrypt the user's key under their new password (a password change); False if there is
        no key or it could not be opened with the old one (then it is retired)."""
        row = self._active(username)
        if row is None:
            return False
        key = self._open(row[1], row[2], old_password)
        if key is None:
            self.retire(username)
            return False
        pem, kdf = self._wrap(key, new_password)
        with self._lock:
            self._conn.execute("UPDATE user_signing_keys SET private_key_pem = ?, kdf = ? WHERE key_id = ?",
                               (pem, kdf, row[0]))
        return True

    def retire(self, username: str) -> None:
        """The user's key signs nothing more (its public half stays published for past decisions)."""
        with self._lock:
            self._conn.execute("UPDATE user_signing_keys SET retired_at = ? WHERE username = ? AND retired_at IS NULL",
                               (_now(), username))

    def registry(self) -> KeyRegistry:
        """Every user key ever made, retired ones included, under ``user:<username>``."""
        registry = KeyRegistry()
        with self._lock:
            rows = self._conn.execute("SELECT key_id, username, public_key FROM user_signing_keys").fetchall()
        for key_id, username, public in rows:
            registry.register(instance_of(username), key_id, public)
        return registry

    def write_registry(self) -> Path | None:
        """Write the public keys for the bus to verify decisions with (atomically: a reader never sees half)."""
        if self.registry_path is None:
            return None
        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.registry_path.with_name(self.registry_path.name + ".tmp")
        partial.write_text(self.registry().to_json(), encoding="utf-8")
        os.replace(partial, self.registry_path)
        return self.registry_path


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
