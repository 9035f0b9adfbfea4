"""The bus's own Ed25519 key: it signs the inspection packages the bus writes (Art. 14), so an
inspector can check a package offline, manifest included, against a fingerprint filed beforehand.

Kept at ``<state_dir>/bus-signing-key.pem`` (mode 0600), made on first use. Its fingerprint
(``qbus keys show --bus``) is what a holder or inspector files to pin the key.
"""
from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from streams.signing import key_fingerprint, load_or_create_private_key, public_key_b64

log = logging.getLogger(__name__)
KEY_FILE = "bus-signing-key.pem"


class BusKey:
    def __init__(self, private_key: Ed25519PrivateKey, path: Path | None = None):
        self.private_key = private_key
        self.path = path

    @classmethod
    def of_state(cls, state_dir: Path) -> "BusKey":
        path = Path(state_dir) / KEY_FILE
        private, created = load_or_create_private_key(path)
        if created:
            log.warning("created the bus's signing key %s (fingerprint %s); holders and inspectors pin packages "
                        "to this fingerprint", path, key_fingerprint(private.public_key()))
        return cls(private, path)

    @property
    def key_id(self) -> str:
        return key_fingerprint(self.private_key.public_key())

    @property
    def public_key_b64(self) -> str:
        return public_key_b64(self.private_key.public_key())

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)
