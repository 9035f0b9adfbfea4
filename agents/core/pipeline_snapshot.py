"""A partition's state in bytes: the obligation engine's snapshot and the rules' facts. Pure.

Layout: ``QBPS`` + format version (1 byte) + the lengths of three parts (3 x 8 bytes, little
endian), then a JSON header (what the state covers: the partition, its agreements, the last ledger
record it reflects), the engine's own snapshot (versioned and checksummed by
`agents.core.obligations.snapshot`) and the rules' facts (zlib of a pickle that may only name the
rules' own fact classes and plain types, so loading a damaged or forged one runs no code).
`SnapshotInvalid` for anything that does not fit; the caller then replays the ledger instead.
"""
from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from typing import Any

from agents.core.obligations import SnapshotInvalid
from agents.core.pipeline import Pipeline
from agents.core.rules import state as rule_state

MAGIC = b"QBPS"
FORMAT = 1
_LENGTHS = struct.Struct("<QQQ")
# What the rules' facts may be made of: the classes agents/core/rules/state.py defines (all of them,
# so a new kind of fact needs no edit here) and plain types.
_ALLOWED = {
    (rule_state.__name__, name) for name, value in vars(rule_state).items()
    if isinstance(value, type) and value.__module__ == rule_state.__name__
} | {("builtins", name) for name in ("set", "frozenset", "list", "dict", "tuple", "str", "int", "float", "bool")} \
  | {("datetime", "datetime"), ("datetime", "timezone"), ("datetime", "timedelta"), ("datetime", "date"),
     ("collections", "deque"), ("copyreg", "_reconstructor"), ("builtins", "object")}


class _FactsOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise SnapshotInvalid(f"the rules' part names {module}.{name}, which a partition state never holds")
        return super().find_class(module, name)


def encode(pipeline: Pipeline, header: dict) -> bytes:
    head = json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8")
    engine = pipeline.engine.snapshot()
    facts = zlib.compress(pickle.dumps(pipeline.rules.state, protocol=pickle.HIGHEST_PROTOCOL), 1)
    return MAGIC + bytes([FORMAT]) + _LENGTHS.pack(len(head), len(engine), len(facts)) + head + engine + facts


def header_of(data: bytes) -> dict:
    head, _, _ = _parts(data)
    return head


def decode(data: bytes, pipeline: Pipeline) -> dict:
    """Load a snapshot into ``pipeline`` (its engine and rule state) and return its header."""
    head, engine, facts = _parts(data)
    try:
        state = _FactsOnly(io.BytesIO(zlib.decompress(facts))).load()
    except SnapshotInvalid:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage to the facts is a snapshot that does not load
        raise SnapshotInvalid(f"the rules' part does not load: {type(exc).__name__}: {exc}") from None
    pipeline.engine.load_snapshot(engine)      # raises SnapshotInvalid itself, leaving the engine as it was
    pipeline.rules.state = state
    return head


def _parts(data: bytes) -> tuple[dict, bytes, bytes]:
    fixed = len(MAGIC) + 1 + _LENGTHS.size
    if len(data) < fixed or data[:4] != MAGIC:
        raise SnapshotInvalid("not a partition state (no QBPS header)")
    if data[4] != FORMAT:
        raise SnapshotInvalid(f"partition state format {data[4]}, this code reads {FORMAT}")
    sizes = _LENGTHS.unpack_from(data, 5)
    if fixed + sum(sizes) != len(data):
        raise SnapshotInvalid("the partition state is truncated or has bytes left over")
    head_end = fixed + sizes[0]
    engine_end = head_end + sizes[1]
    try:
        head = json.loads(data[fixed:head_end].decode("utf-8"))
    except ValueError as exc:
        raise SnapshotInvalid(f"the partition state's header is not JSON: {exc}") from None
    return head, data[head_end:engine_end], data[engine_end:]
