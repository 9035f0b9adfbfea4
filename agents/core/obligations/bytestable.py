"""Interned byte strings with small stable ids, sized for millions of keys.

A Python dict keyed by 16-byte ids costs about 138 bytes an entry (measured); this table keeps
the keys in one bytearray and finds them through an open-addressing index of ids, about 45 bytes
an entry, and every part of it is a flat array that a snapshot copies as bytes. Ids are reused
after release, so columns indexed by id stay as long as the most ever held at once.
"""
from __future__ import annotations

import zlib
from array import array

_FREE = -1
_MIX = 0x9E3779B1          # Fibonacci hashing: spreads crc32 over the top bits
_MIN_BITS = 8
_MIN_GARBAGE = 1 << 16     # bytes of released keys before the heap is worth compacting


def stable_hash(key: bytes) -> int:
    """The same in every process (a snapshot keeps the index as it is), unlike ``hash()``."""
    return (zlib.crc32(key) * _MIX) & 0xFFFFFFFF


class BytesTable:
    """byte string <-> id, with a reference count per id; an id is freed when its count drops
    to zero. Not thread-safe."""

    def __init__(self, index_bits: int = _MIN_BITS):
        self._heap = bytearray()
        self._offsets = array("q")     # per id: where its key starts in the heap; _FREE if unused
        self._lengths = array("I")
        self._hashes = array("I")
        self._refs = array("I")
        self._free = array("q")        # released ids, reused last-in first-out
        self._bits = index_bits
        self._index = array("i", [_FREE]) * (1 << index_bits)
        self._mask, self._shift = (1 << index_bits) - 1, 32 - index_bits
        self._count = 0
        self._garbage = 0              # heap bytes of released keys

    # -- queries --
    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        """One more than the highest id ever handed out: how long id-indexed columns must be."""
        return len(self._offsets)

    def find(self, key: bytes) -> int:
        """The id of ``key``, or -1."""
        return self._lookup(key, (zlib.crc32(key) * _MIX) & 0xFFFFFFFF)   # stable_hash, inlined

    def _lookup(self, key: bytes, h: int) -> int:
        index, mask = self._index, self._mask
        pos = h >> self._shift
        heap, offsets, lengths, hashes = self._heap, self._offsets, self._lengths, self._hashes
        size = len(key)
        while True:
            ident = index[pos]
            if ident == _FREE:
                return -1
            if hashes[ident] == h and lengths[ident] == size:
                start = offsets[ident]
                if heap[start:start + size] == key:
                    return ident
            pos = (pos + 1) & mask

    def key(self, ident: int) -> bytes:
        start = self._offsets[ident]
        return bytes(self._heap[start:start + self._lengths[ident]])

    def refs(self, ident: int) -> int:
        return self._refs[ident]

    # -- changes --
    def add(self, key: bytes) -> int:
        """The id of ``key`` (inserted if new), its count raised by one."""
        h = (zlib.crc32(key) * _MIX) & 0xFFFFFFFF
        ident = self._lookup(key, h)
        if ident < 0:
            ident = self._insert(key, h)
        self._refs[ident] += 1
        return ident

    def add_new(self, key: bytes) -> int:
        """:meth:`add` for a key the caller has just looked up and not found."""
        ident = self._insert(key, stable_hash(key))
        self._refs[ident] = 1
        return ident

    def release(self, ident: int) -> None:
        """Drop one reference; the key goes when none is left."""
        left = self._refs[ident] - 1
        self._refs[ident] = left
        if left <= 0:
            self._remove(ident)

    def _insert(self, key: bytes, h: int) -> int:
        if (self._count + 1) * 5 > len(self._index) * 3:     # keep the index at most 60 % full
            self._resize(self._bits + 1)
        if self._free:
            ident = self._free.pop()
            self._offsets[ident] = len(self._heap)
            self._lengths[ident] = len(key)
            self._hashes[ident] = h
            self._refs[ident] = 0
        else:
            ident = len(self._offsets)
            self._offsets.append(len(self._heap))
            self._lengths.append(len(key))
            self._hashes.append(h)
            self._refs.append(0)
        self._heap += key
        self._place(ident, h)
        self._count += 1
        return ident

    def _place(self, ident: int, h: int) -> None:
        index, mask = self._index, self._mask
        pos = h >> self._shift
        while index[pos] != _FREE:
            pos = (pos + 1) & mask
        index[pos] = ident

    def _remove(self, ident: int) -> None:
        index, mask, shift = self._index, self._mask, self._shift
        hashes = self._hashes
        pos = hashes[ident] >> shift
        while index[pos] != ident:
            pos = (pos + 1) & mask
        # Backward-shift deletion: pull later entries of the probe run into the hole, so that
        # lookups never need tombstones.
        hole, nxt = pos, (pos + 1) & mask
        while True:
            other = index[nxt]
            if other == _FREE:
                break
            home = hashes[other] >> shift
            if (nxt - home) & mask >= (nxt - hole) & mask:
                index[hole] = other
                hole = nxt
            nxt = (nxt + 1) & mask
        index[hole] = _FREE
        self._garbage += self._lengths[ident]
        self._offsets[ident] = _FREE
        self._lengths[ident] = 0
        self._refs[ident] = 0
        self._free.append(ident)
        self._count -= 1
        if self._garbage > _MIN_GARBAGE and self._garbage * 2 > len(self._heap):
            self._compact_heap()

    def _resize(self, bits: int) -> None:
        self._bits = max(bits, _MIN_BITS)
        self._index = array("i", [_FREE]) * (1 << self._bits)
        self._mask, self._shift = (1 << self._bits) - 1, 32 - self._bits
        hashes = self._hashes
        for ident, start in enumerate(self._offsets):
            if start != _FREE:
                self._place(ident, hashes[ident])

    def _compact_heap(self) -> None:
        heap, offsets, lengths = self._heap, self._offsets, self._lengths
        fresh = bytearray()
        for ident, start in enumerate(offsets):
            if start != _FREE:
                offsets[ident] = len(fresh)
                fresh += heap[start:start + lengths[ident]]
        self._heap = fresh
        self._garbage = 0

    # -- snapshot --
    def export(self) -> dict[str, bytes | int]:
        return {"heap": bytes(self._heap), "offsets": self._offsets.tobytes(), "lengths": self._lengths.tobytes(),
                "hashes": self._hashes.tobytes(), "refs": self._refs.tobytes(), "free": self._free.tobytes(),
                "index": self._index.tobytes(), "bits": self._bits, "count": self._count,
                "garbage": self._garbage}

    @classmethod
    def from_export(cls, parts: dict) -> "BytesTable":
        """Rebuild from :meth:`export` output; raises ValueError if the parts do not fit together."""
        table = cls.__new__(cls)
        table._heap = bytearray(parts["heap"])
        table._offsets = array_from("q", parts["offsets"])
        table._lengths = array_from("I", parts["lengths"])
        table._hashes = array_from("I", parts["hashes"])
        table._refs = array_from("I", parts["refs"])
        table._free = array_from("q", parts["free"])
        table._index = array_from("i", parts["index"])
        table._bits, table._count, table._garbage = int(parts["bits"]), int(parts["count"]), int(parts["garbage"])
        table._mask, table._shift = (1 << table._bits) - 1, 32 - table._bits
        n = len(table._offsets)
        if not (len(table._lengths) == len(table._hashes) == len(table._refs) == n
                and len(table._index) == 1 << table._bits and 0 <= table._count <= n
                and n - len(table._free) == table._count):
            raise ValueError("key table parts do not fit together")
        return table


def array_from(typecode: str, data: bytes | memoryview) -> array:
    """An array of ``typecode`` holding ``data`` (bytes-like), for loading snapshots."""
    out = array(typecode)
    if len(data) % out.itemsize:
        raise ValueError(f"{len(data)} bytes is not a whole number of {typecode!r} items")
    out.frombytes(data)
    return out
