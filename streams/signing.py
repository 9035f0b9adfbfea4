"""Ed25519 signatures on events: source systems sign, the bus verifies against registered keys.

Art. 14: data must be authentic and traceable to the system that produced it. A source system
instance (e.g. ``qms-cmox-01``) registers one or more Ed25519 public keys, each under a key id; it
signs `streams.canonical.signing_bytes(event)` and puts ``{key_id, algorithm: "ed25519", value}``
(value base64) in the event's ``signature`` field. The quality agreement names the source instances
that must sign; for them an unsigned event is refused. A signature that is present is always
checked, whoever sent it. Every refusal carries a reason a person can act on and a reason code for
the dead-letter record.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from streams.canonical import SIGNATURE_FIELD, signing_bytes, signing_forms

ALGORITHM = "ed25519"
ALL_SOURCES = "*"  # in an agreement's list of sources that must sign: every source instance
# Dead-letter reason codes (schemas/dead_letter.avsc, enum DeadLetterReason).
MISSING, BAD = "MISSING_SIGNATURE", "BAD_SIGNATURE"


# --- keys --------------------------------------------------------------------------------------

def generate_keypair() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    private = Ed25519PrivateKey.generate()
    return private, private.public_key()


def public_key_raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    return base64.b64encode(public_key_raw(public_key)).decode("ascii")


def key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """A default key id derived from the key itself: ``ed25519:`` + 16 hex digits of its SHA-256."""
    return f"{ALGORITHM}:{hashlib.sha256(public_key_raw(public_key)).hexdigest()[:16]}"


def private_key_pem(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(data: bytes | str | Path) -> Ed25519PrivateKey:
    """A PKCS#8 PEM private key, given as bytes, text or a file path."""
    if isinstance(data, Path):
        data = data.read_bytes()
    if isinstance(data, str):
        data = data.encode("ascii")
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"not an Ed25519 private key but {type(key).__name__}")
    return key


def load_public_key(data: bytes | str | Path) -> Ed25519PublicKey:
    """A public key as PEM (bytes, text or file path) or as base64 of its 32 raw bytes."""
    if isinstance(data, Path):
        data = data.read_bytes()
    if isinstance(data, str):
        data = data.encode("ascii")
    if data.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"not an Ed25519 public key but {type(key).__name__}")
        return key
    raw = base64.b64decode(data.strip(), validate=True)
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def write_private_key(path: Path, private_key: Ed25519PrivateKey) -> None:
    """Write a PKCS#8 PEM private key readable by its owner only; never over an existing file."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_key_pem(private_key))


def load_or_create_private_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The private key at ``path``, made (mode 0600) if there is none yet; and whether it was made now."""
    if path.exists():
        return load_private_key(path), False
    private, _public = generate_keypair()
    write_private_key(path, private)
    return private, True


@dataclass(frozen=True)
class RegisteredKey:
    key_id: str
    instance: str  # the source system instance allowed to sign with this key
    public_key: Ed25519PublicKey


class KeyRegistry:
    """Public keys by key id; each key belongs to one source system instance."""

    def __init__(self, keys: Iterable[RegisteredKey] = ()):
        self._keys: dict[str, RegisteredKey] = {}
        for key in keys:
            self.register(key.instance, key.key_id, key.public_key)

    def register(self, instance: str, key_id: str, public_key: Ed25519PublicKey | bytes | str) -> RegisteredKey:
        if not isinstance(public_key, Ed25519PublicKey):
            public_key = load_public_key(public_key)
        existing = self._keys.get(key_id)
        if existing and (existing.instance != instance or public_key_raw(existing.public_key) != public_key_raw(public_key)):
            raise ValueError(f"key id {key_id!r} is already registered to {existing.instance} with another key")
        key = RegisteredKey(key_id, instance, public_key)
        self._keys[key_id] = key
        return key

    def get(self, key_id: str) -> RegisteredKey | None:
        return self._keys.get(key_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __iter__(self):
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def subset(self, key_ids: Iterable[str]) -> "KeyRegistry":
        return KeyRegistry(self._keys[k] for k in key_ids if k in self._keys)

    def to_json(self) -> str:
        """``{"keys": [{key_id, instance, algorithm, public_key (base64 raw)}]}``, sorted by key id."""
        keys = [{"key_id": k.key_id, "instance": k.instance, "algorithm": ALGORITHM,
                 "public_key": public_key_b64(k.public_key)} for k in sorted(self, key=lambda k: k.key_id)]
        return json.dumps({"keys": keys}, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "KeyRegistry":
        registry = cls()
        for entry in json.loads(text)["keys"]:
            registry.register(entry["instance"], entry["key_id"], entry["public_key"])
        return registry

    @classmethod
    def load(cls, path: str | Path) -> "KeyRegistry":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def from_sources(cls, sources: Iterable[Any]) -> "KeyRegistry":
        """Keys of an agreement's registered sources (objects with instance, key_id, public_key);
        a source without key_id gets its key's fingerprint as id."""
        registry = cls()
        for source in sources:
            if getattr(source, "public_key", None):
                public = load_public_key(source.public_key)
                registry.register(source.instance, source.key_id or key_fingerprint(public), public)
        return registry


def sources_that_must_sign(sources: Iterable[Any]) -> frozenset[str]:
    """The instances of an agreement's sources flagged ``must_sign`` (Art. 14)."""
    return frozenset(s.instance for s in sources if getattr(s, "must_sign", False))


# --- signing and verifying ---------------------------------------------------------------------

def sign_event(event: Mapping[str, Any], private_key: Ed25519PrivateKey, key_id: str) -> dict:
    """A copy of the event with ``signature`` set over its canonical bytes (any old signature replaced)."""
    signature = private_key.sign(signing_bytes(event))
    signed = dict(event)
    signed[SIGNATURE_FIELD] = {"key_id": key_id, "algorithm": ALGORITHM,
                               "value": base64.b64encode(signature).decode("ascii")}
    return signed


@dataclass(frozen=True)
class SignatureCheck:
    """Outcome of `verify_event`.

    `code` is a dead letter's reason_code when not ok (MISSING_SIGNATURE or BAD_SIGNATURE, as in
    schemas/dead_letter.avsc), else SIGNED or UNSIGNED. `problem` says which check failed: missing,
    malformed, algorithm, unknown_key, wrong_source, mismatch. `reason` is for a person.
    """
    ok: bool
    code: str
    reason: str
    key_id: str | None = None
    problem: str | None = None

    def __bool__(self) -> bool:
        return self.ok


def must_sign(instance: str, required_sources: Collection[str]) -> bool:
    return ALL_SOURCES in required_sources or instance in required_sources


def verify_event(event: Mapping[str, Any], registry: KeyRegistry,
                 required_sources: Collection[str] = ()) -> SignatureCheck:
    """Check an event's signature against the registry.

    `required_sources` are the source instances the event's agreement says must sign (``"*"`` for
    all). An unsigned event from any other source passes as ``UNSIGNED``.
    """
    source = event.get("source") or {}
    instance = str(source.get("instance") or "?") if isinstance(source, Mapping) else "?"
    agreement = event.get("agreement_id") or "?"
    signature = event.get(SIGNATURE_FIELD)
    if signature is None:
        if must_sign(instance, required_sources):
            # Art. 14: the agreement makes this source's data count only when signed.
            return SignatureCheck(False, MISSING, f"missing signature, source {instance} must sign under agreement "
                                                  f"{agreement}", problem="missing")
        return SignatureCheck(True, "UNSIGNED", f"unsigned; source {instance} need not sign under agreement {agreement}")
    if not isinstance(signature, Mapping) or not signature.get("key_id") or not signature.get("value"):
        return SignatureCheck(False, BAD, "signature must be an object with key_id, algorithm and value",
                              problem="malformed")
    key_id = str(signature["key_id"])
    algorithm = signature.get("algorithm") or ALGORITHM
    if str(algorithm).lower() != ALGORITHM:
        return SignatureCheck(False, BAD, f"unsupported signature algorithm {algorithm!r} (key {key_id}); "
                                          "only ed25519 is accepted", key_id, "algorithm")
    key = registry.get(key_id)
    if key is None:
        return SignatureCheck(False, BAD, f"unknown key id {key_id!r}: no public key is registered under it",
                              key_id, "unknown_key")
    if key.instance != instance:
        return SignatureCheck(False, BAD, f"key {key_id} is registered to source {key.instance}, "
                                          f"but the event comes from source {instance}", key_id, "wrong_source")
    try:
        value = base64.b64decode(str(signature["value"]), validate=True)
    except (binascii.Error, ValueError):
        return SignatureCheck(False, BAD, f"signature value is not valid base64 (key {key_id})", key_id, "malformed")
    try:
        forms = signing_forms(event)   # version 2 first; version 1 is only made if that fails
        verified = any(_verifies(key.public_key, value, form) for form in forms)
    except (TypeError, ValueError) as exc:
        return SignatureCheck(False, BAD, f"cannot check the signature (key {key_id}): {exc}", key_id, "mismatch")
    if not verified:
        return SignatureCheck(False, BAD, f"signature does not match the event's content (key {key_id})", key_id,
                              "mismatch")
    return SignatureCheck(True, "SIGNED", f"signed by {instance} with key {key_id}", key_id)


def _verifies(public_key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


# --- electronic signatures of decisions (21 CFR Part 11 habit) --------------------------------------

ESIGNATURE_FIELD = "esignature"
DECISION_FIELDS = ("event_id", "event_type", "agreement_id", "item_ref")
ESIGNATURE_COVERED = ("meaning", "reason", "signed_at", "signer_user_id")


def decision_bytes(event: Mapping[str, Any]) -> bytes:
    """What a person's own key signs for a decision: the event's identity and the signature's meaning
    (see the ``esignature`` field of schemas/envelope.avsc)."""
    from streams.canonical import canonical_bytes

    block = event.get(ESIGNATURE_FIELD) or {}
    return canonical_bytes({**{k: event.get(k) for k in DECISION_FIELDS},
                            **{k: block.get(k) for k in ESIGNATURE_COVERED}})


def sign_decision(event: Mapping[str, Any], private_key: Ed25519PrivateKey, key_id: str) -> dict:
    """A copy of the event whose ``esignature`` block carries the signer's own signature over the
    decision (the block's other fields must already be set)."""
    if not event.get(ESIGNATURE_FIELD):
        raise ValueError("the event has no esignature block to sign")
    signed = dict(event)
    block = dict(event[ESIGNATURE_FIELD], key_id=key_id, value=None)
    signed[ESIGNATURE_FIELD] = block
    block["value"] = base64.b64encode(private_key.sign(decision_bytes(signed))).decode("ascii")
    return signed


def verify_decision(event: Mapping[str, Any], registry: KeyRegistry) -> SignatureCheck:
    """Check a decision's electronic signature against the signers' public keys. The key must be
    registered to ``user:<signer_user_id>``."""
    block = event.get(ESIGNATURE_FIELD)
    if not block:
        return SignatureCheck(False, MISSING, "the decision carries no electronic signature", problem="missing")
    key_id, value = block.get("key_id"), block.get("value")
    if not key_id or not value:
        return SignatureCheck(False, BAD, "the electronic signature has no key id or no value", problem="malformed")
    key = registry.get(str(key_id))
    if key is None:
        return SignatureCheck(False, BAD, f"the signer's key {key_id} is not known", key_id, "unknown_key")
    if key.instance != f"user:{block.get('signer_user_id')}":
        return SignatureCheck(False, BAD, f"key {key_id} belongs to {key.instance}, not to the signer "
                                          f"{block.get('signer_user_id')}", key_id, "wrong_source")
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return SignatureCheck(False, BAD, "the electronic signature is not valid base64", key_id, "malformed")
    if not _verifies(key.public_key, raw, decision_bytes(event)):
        return SignatureCheck(False, BAD, f"the electronic signature of {block.get('signer_name')} does not match "
                                          "the decision", key_id, "mismatch")
    return SignatureCheck(True, "SIGNED", f"signed by {block.get('signer_name')} ({block.get('meaning')})", key_id)
