"""The bus's seal on an inspection package: its own Ed25519 signature over the exact bytes of
``manifest.json`` (Art. 14). The manifest lists every file's SHA-256, so the seal covers the whole
package; an inspector verifies it offline and compares the key's fingerprint with the one the
holder filed (`qbus keys show --bus`), or pins it (`qbus ledger verify --package DIR --bus-key ID`).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from agents.record.bus_key import BusKey
from agents.record.ledger.chain import Problem, VerifyReport
from streams.signing import key_fingerprint, load_public_key

SEAL_FILE = "seal.json"
MANIFEST_FILE = "manifest.json"


def seal_package(folder: Path, key: BusKey) -> dict:
    """Sign ``folder/manifest.json`` as it is on disk; write and return the seal."""
    manifest = (folder / MANIFEST_FILE).read_bytes()
    seal = {"signs": MANIFEST_FILE, "algorithm": "ed25519", "key_id": key.key_id, "public_key": key.public_key_b64,
            "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
            "value": base64.b64encode(key.sign(manifest)).decode("ascii")}
    (folder / SEAL_FILE).write_text(json.dumps(seal, indent=2) + "\n", encoding="utf-8")
    return seal


def check_seal(folder: Path, report: VerifyReport, pinned_key: str | None = None) -> str | None:
    """Check the seal; add a problem if it is missing or wrong. Returns the sealing key's id."""
    def problem(detail: str) -> None:
        report.problems.append(Problem("seal", detail, file=SEAL_FILE))

    try:
        seal = json.loads((folder / SEAL_FILE).read_text(encoding="utf-8"))
        public = load_public_key(str(seal["public_key"]))
        value = base64.b64decode(str(seal["value"]), validate=True)
    except FileNotFoundError:
        problem("the package carries no seal of the bus: it cannot be shown to be what the bus exported")
        return None
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        problem(f"the seal cannot be read: {exc}")
        return None
    key_id = key_fingerprint(public)
    if seal.get("key_id") != key_id:
        problem(f"the seal names key {seal.get('key_id')} but carries the key {key_id}")
    try:
        public.verify(value, (folder / MANIFEST_FILE).read_bytes())
    except InvalidSignature:
        problem(f"manifest.json does not match the bus's seal (key {key_id}): the manifest was changed after export")
    except OSError as exc:
        problem(f"cannot read manifest.json: {exc}")
    if pinned_key and pinned_key != key_id:
        problem(f"sealed with key {key_id}, not with the bus key {pinned_key} you expected")
    elif not pinned_key:
        report.notes.append(f"sealed by the bus key {key_id}: compare it with the fingerprint the holder filed "
                            "(qbus keys show --bus), or pass --bus-key to pin it")
    return key_id
