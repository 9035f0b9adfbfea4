"""A checkpoint of an obligation engine, so a restarted worker need not replay every record.

Layout: a fixed head (magic, format version, flags, body length, SHA-256 over the head's other
fields and the body), then the
body: a JSON description (small: terms, shapes, counts, and where each binary part lies) followed
by the binary parts, which are the engine's arrays as they are in memory. Loading is a few
``array.frombytes`` calls, no per-obligation work. Nothing in it is code (no pickle), so a
tampered snapshot can at worst be refused. Where it is stored is the ledger layer's choice.
"""
from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from typing import TYPE_CHECKING, Any

from agents.core.obligations.bytestable import BytesTable, array_from
from agents.core.obligations.clocks import Clocks
from agents.core.obligations.closed import ClosedIds
from agents.core.obligations.contexts import ContextTable
from agents.core.obligations.gauges import Gauges
from agents.core.obligations.idtable import FixedKeyTable
from agents.core.obligations.model import Kind
from agents.core.obligations.pools import InternPool
from agents.core.obligations.store import COLUMNS, EVENT_WIDTH, FREE, ObligationStore, Terms

if TYPE_CHECKING:
    from agents.core.obligations.engine import ObligationEngine

MAGIC = b"QBOBSNAP"
FORMAT_VERSION = 1
_FIELDS = struct.Struct(">8sHHQ")       # magic, format version, flags, body length
_HEAD = struct.Struct(">8sHHQ32s")      # the same + SHA-256 of (those fields + body)
_COMPRESSED = 1                          # flag: the body is zlib-compressed
_KNOWN_FLAGS = _COMPRESSED


class SnapshotInvalid(ValueError):
    """The bytes are not a snapshot this code can load; replay the ledger instead."""


def encode(engine: "ObligationEngine", compress: bool = False) -> bytes:
    store, gauges = engine._store, engine._gauges
    tree = {
        "byteorder": sys.byteorder,
        "bucket_us": engine._clocks.timers.bucket_us,
        "store": _store_parts(store),
        "closed": engine._closed.export(),
        "timers": dict(zip(("minutes", "lengths", "flat"), engine._clocks.timers.export(), strict=True)),
        "gauges": gauges.export(),
    }
    blobs: list[bytes] = []
    described = _describe(tree, blobs)
    described["blob_lengths"] = [len(b) for b in blobs]
    meta = json.dumps(described, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    body = b"".join([struct.pack(">Q", len(meta)), meta, *blobs])
    flags = 0
    if compress:
        body, flags = zlib.compress(body, 1), _COMPRESSED
    fields = _FIELDS.pack(MAGIC, FORMAT_VERSION, flags, len(body))
    return fields + hashlib.sha256(fields + body).digest() + body


def decode(data: bytes, engine: "ObligationEngine") -> None:
    """Load ``data`` into ``engine``; on any fault raise SnapshotInvalid and leave it untouched."""
    view = memoryview(data)
    if len(view) < _HEAD.size:
        raise SnapshotInvalid(f"snapshot truncated: {len(view)} bytes, the head alone is {_HEAD.size}")
    magic, version, flags, length, digest = _HEAD.unpack_from(view)
    if magic != MAGIC:
        raise SnapshotInvalid("not an obligation-engine snapshot (wrong magic bytes)")
    if version != FORMAT_VERSION:
        raise SnapshotInvalid(f"snapshot format {version}; this code reads format {FORMAT_VERSION}")
    body = view[_HEAD.size:]
    if len(body) != length:
        raise SnapshotInvalid(f"snapshot body is {len(body)} bytes, its head says {length} (truncated or padded)")
    digester = hashlib.sha256(view[:_FIELDS.size])
    digester.update(body)
    if digester.digest() != digest:
        raise SnapshotInvalid("snapshot checksum does not match its content (corrupt or edited)")
    if flags & ~_KNOWN_FLAGS:
        raise SnapshotInvalid(f"snapshot has flags {flags:#x} this code does not know")
    try:
        if flags & _COMPRESSED:
            body = memoryview(zlib.decompress(body))
        (meta_length,) = struct.unpack_from(">Q", body)
        described = json.loads(bytes(body[8:8 + meta_length]).decode("utf-8"))
        blobs, at = [], 8 + meta_length
        for size in described.pop("blob_lengths"):
            blobs.append(body[at:at + size])
            at += size
        if at != len(body):
            raise ValueError("binary parts do not add up to the body")
        _install(_resolve(described, blobs), engine)
    except SnapshotInvalid:
        raise
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, struct.error, zlib.error) as exc:
        raise SnapshotInvalid(f"snapshot does not hold together: {exc}") from exc


def _store_parts(store: ObligationStore) -> dict:
    terms_refs, terms_free = store.terms.export_refs()
    description_refs, description_free = store.descriptions.export_refs()
    event_text_refs, event_text_free = store.event_texts.export_refs()
    return {
        "columns": {name: column.tobytes() for name, column in store.columns_in_use().items()},
        "ids": store.ids.export(), "items": store.items.export(), "item_head": store.item_head.tobytes(),
        "event_ids": bytes(store.event_ids[:store.ids.capacity * EVENT_WIDTH]),
        "event_texts": store.event_texts.values, "event_text_refs": event_text_refs,
        "event_text_free": event_text_free, "contexts": store.contexts.export(),
        "terms": [None if t is None else [*t[:3], t.kind.value, *t[4:8], list(t.satisfied_by), *t[9:]]
                  for t in store.terms.values],
        "terms_refs": terms_refs, "terms_free": terms_free,
        "descriptions": store.descriptions.values, "description_refs": description_refs,
        "description_free": description_free,
        "agreement_ids": store.agreement_ids,
        "satisfied_event": sorted(store.satisfied_event.items()),
        "id_texts": sorted(store.id_texts.items()),
    }


def _install(tree: dict, engine: "ObligationEngine") -> None:
    if tree["byteorder"] != sys.byteorder:
        # Arrays are kept as in memory; a snapshot from another byte order is replayed instead.
        raise SnapshotInvalid(f"snapshot written on a {tree['byteorder']}-endian machine, this one is {sys.byteorder}")
    if tree["bucket_us"] != engine._clocks.timers.bucket_us:
        raise SnapshotInvalid("snapshot timers are bucketed differently from this code's")
    parts = tree["store"]
    store = ObligationStore()
    for name, code in COLUMNS.items():
        setattr(store, name, array_from(code, parts["columns"][name]))
    store.ids = FixedKeyTable.from_export(parts["ids"])
    store.id_texts = {int(slot): str(text) for slot, text in parts["id_texts"]}
    store.items = BytesTable.from_export(parts["items"])
    store.item_head = array_from("i", parts["item_head"])
    store.event_ids = bytearray(parts["event_ids"])
    store.event_texts = InternPool.rebuilt(parts["event_texts"], bytes(parts["event_text_refs"]),
                                           parts["event_text_free"])
    store.contexts = ContextTable.from_export(parts["contexts"])
    store.terms = InternPool.rebuilt([None if t is None else _terms(t) for t in parts["terms"]],
                                     bytes(parts["terms_refs"]), parts["terms_free"])
    store.descriptions = InternPool.rebuilt(parts["descriptions"], bytes(parts["description_refs"]),
                                            parts["description_free"])
    store.agreement_ids = [str(a) for a in parts["agreement_ids"]]
    store._agreement_number = {a: i for i, a in enumerate(store.agreement_ids)}
    store.satisfied_event = {int(slot): str(text) for slot, text in parts["satisfied_event"]}
    slots = store.ids.capacity
    if (any(len(getattr(store, name)) != slots for name in COLUMNS) or len(store.item_head) != store.items.capacity
            or len(store.event_ids) != slots * EVENT_WIDTH):
        raise SnapshotInvalid("snapshot columns are not all as long as its id table")
    if len(store.state) - store.state.count(FREE) != len(store.ids):
        raise SnapshotInvalid("snapshot slots in use do not match its id table")

    closed = ClosedIds.from_export(tree["closed"])
    clocks = Clocks(store, engine._ladders)
    clocks.timers.load(*(array_from("q", tree["timers"][k]) for k in ("minutes", "lengths", "flat")))
    saved = tree["gauges"]
    if saved["window_us"] != engine._gauges.window_us:
        raise SnapshotInvalid(f"snapshot counts 'due soon' over {saved['window_us'] // 1_000_000} s, this engine "
                              f"over {engine._gauges.window_us // 1_000_000} s")
    gauges = Gauges(store, saved["window_us"], saved["at_us"])
    gauges.timers.load(*(array_from("q", saved[k]) for k in ("minutes", "lengths", "flat")))
    gauges.restore_counts(saved["counts"], saved["at_us"], saved["crossings"])
    if sum(c.open for c in gauges.counts().values()) != len(store.ids):
        raise SnapshotInvalid("snapshot counts do not match its open obligations")
    # Only now, with everything built, does the engine take the new state.
    engine._store, engine._closed, engine._clocks, engine._gauges = store, closed, clocks, gauges


def _terms(fields: list) -> Terms:
    values: list[Any] = list(fields)
    values[3] = Kind(values[3])
    values[8] = tuple(values[8])
    return Terms(*values)


def _describe(node: Any, blobs: list[bytes]) -> Any:
    """The tree with every bytes value replaced by a reference to a binary part."""
    if isinstance(node, (bytes, bytearray, memoryview)):
        blobs.append(bytes(node))
        return {"$blob": len(blobs) - 1}
    if isinstance(node, dict):
        return {k: _describe(v, blobs) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_describe(v, blobs) for v in node]
    return node


def _resolve(node: Any, blobs: list[memoryview]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$blob"}:
            return blobs[node["$blob"]]
        return {k: _resolve(v, blobs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, blobs) for v in node]
    return node
