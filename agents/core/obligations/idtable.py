"""Fixed-width keys (obligation ids: 0x00 + the 16 bytes of a UUID) -> small ids, at about
25 bytes a key: the keys side by side in one bytearray, a live byte each, and an open-addressing
index of ids. `BytesTable` does the same for keys of any length, at ~45 bytes a key."""
from __future__ import annotations

import zlib
from array import array

from agents.core.obligations.bytestable import array_from

_FREE = -1
_MIX = 0x9E3779B1
_MIN_BITS = 8


class FixedKeyTable:
    def __init__(self, width: int, index_bits: int = _MIN_BITS):
        self.width = width
        self._keys = bytearray()          # id * width: that id's key
        self._live = bytearray()          # 1 while the id holds a key
        self._free = array("q")
        self._count = 0
        self._set_index(index_bits)

    def _set_index(self, bits: int) -> None:
        self._bits = max(bits, _MIN_BITS)
        self._index = array("i", [_FREE]) * (1 << self._bits)
        self._mask, self._shift = (1 << self._bits) - 1, 32 - self._bits

    def __len__(self) -> int:
        return self._count

    @property
    def capacity(self) -> int:
        """One more than the highest id ever handed out."""
        return len(self._live)

    def key(self, ident: int) -> bytes:
        w = self.width
        return bytes(self._keys[ident * w:(ident + 1) * w])

    def find(self, key: bytes) -> int:
        """The id of ``key``, or -1."""
        index, mask, keys, w = self._index, self._mask, self._keys, self.width
        pos = ((zlib.crc32(key) * _MIX) & 0xFFFFFFFF) >> self._shift
        while True:
            ident = index[pos]
            if ident == _FREE:
                return -1
            if keys[ident * w:(ident + 1) * w] == key:
                return ident
            pos = (pos + 1) & mask

    def add_new(self, key: bytes) -> int:
        """Insert a key the caller has just looked up and not found; its id."""
        if len(key) != self.width:
            raise ValueError(f"key of {len(key)} bytes in a table of {self.width}-byte keys")
        if (self._count + 1) * 5 > len(self._index) * 3:     # keep the index at most 60 % full
            self._set_index(self._bits + 1)
            for ident in range(len(self._live)):
                if self._live[ident]:
                    self._place(ident)
        w = self.width
        if self._free:
            ident = self._free.pop()
            self._keys[ident * w:(ident + 1) * w] = key
            self._live[ident] = 1
        else:
            ident = len(self._live)
            self._keys += key
            self._live.append(1)
        self._place(ident)
        self._count += 1
        return ident

    def remove(self, ident: int) -> None:
        index, mask, shift, keys, w = self._index, self._mask, self._shift, self._keys, self.width
        pos = self._home(ident)
        while index[pos] != ident:
            pos = (pos + 1) & mask
        # Backward-shift deletion (no tombstones): pull later entries of the run into the hole.
        hole, nxt = pos, (pos + 1) & mask
        while True:
            other = index[nxt]
            if other == _FREE:
                break
            home = ((zlib.crc32(keys[other * w:(other + 1) * w]) * _MIX) & 0xFFFFFFFF) >> shift
            if (nxt - home) & mask >= (nxt - hole) & mask:
                index[hole] = other
                hole = nxt
            nxt = (nxt + 1) & mask
        index[hole] = _FREE
        self._live[ident] = 0
        self._keys[ident * w:(ident + 1) * w] = bytes(w)
        self._free.append(ident)
        self._count -= 1

    def _home(self, ident: int) -> int:
        w = self.width
        return ((zlib.crc32(self._keys[ident * w:(ident + 1) * w]) * _MIX) & 0xFFFFFFFF) >> self._shift

    def _place(self, ident: int) -> None:
        index, mask = self._index, self._mask
        pos = self._home(ident)
        while index[pos] != _FREE:
            pos = (pos + 1) & mask
        index[pos] = ident

    # -- snapshot --
    def export(self) -> dict:
        return {"width": self.width, "keys": bytes(self._keys), "live": bytes(self._live),
                "free": self._free.tobytes(), "index": self._index.tobytes(), "bits": self._bits,
                "count": self._count}

    @classmethod
    def from_export(cls, parts: dict) -> "FixedKeyTable":
        table = cls(int(parts["width"]))
        table._keys, table._live = bytearray(parts["keys"]), bytearray(parts["live"])
        table._free = array_from("q", parts["free"])
        table._set_index(int(parts["bits"]))
        table._index = array_from("i", parts["index"])
        table._count = int(parts["count"])
        if (len(table._keys) != len(table._live) * table.width or len(table._index) != 1 << table._bits
                or table._live.count(1) != table._count or len(table._free) + table._count != len(table._live)):
            raise ValueError("id table parts do not fit together")
        return table
