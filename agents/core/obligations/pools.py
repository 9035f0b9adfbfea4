"""Reference-counted interning of Python values that few obligations have distinct: the shared
terms of an obligation, the envelope "shape" of its context, a rule's own wording.

Id 0 always stands for None and is never counted, so a column of ids can say "none" with 0."""
from __future__ import annotations

from array import array
from typing import Generic, Hashable, TypeVar

T = TypeVar("T", bound=Hashable)


class InternPool(Generic[T]):
    def __init__(self) -> None:
        self.values: list[T | None] = [None]
        self._ids: dict[T, int] = {}
        self._refs = array("I", [0])
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, value: T | None) -> int:
        """The id of ``value`` (interned if new), its count raised by one."""
        if value is None:
            return 0
        ident = self._ids.get(value)
        if ident is None:
            if self._free:
                ident = self._free.pop()
                self.values[ident] = value
            else:
                ident = len(self.values)
                self.values.append(value)
                self._refs.append(0)
            self._ids[value] = ident
        self._refs[ident] += 1
        return ident

    def release(self, ident: int) -> None:
        if ident == 0:
            return
        left = self._refs[ident] - 1
        self._refs[ident] = left
        if left <= 0:
            value = self.values[ident]
            self.values[ident] = None
            self._refs[ident] = 0
            del self._ids[value]   # type: ignore[arg-type]
            self._free.append(ident)

    def find(self, value: T) -> int | None:
        return self._ids.get(value)

    def get(self, ident: int) -> T | None:
        return self.values[ident]

    # -- snapshot: the values go through the caller's encoder (they are domain records) --
    def export_refs(self) -> tuple[bytes, list[int]]:
        return self._refs.tobytes(), list(self._free)

    @classmethod
    def rebuilt(cls, values: list[T | None], refs: bytes, free: list[int]) -> "InternPool[T]":
        pool: InternPool[T] = cls()
        counts = array("I")
        if len(refs) % counts.itemsize:
            raise ValueError("pool counts are not whole items")
        counts.frombytes(refs)
        if len(counts) != len(values) or not values or values[0] is not None:
            raise ValueError("pool values and counts do not fit together")
        pool.values = list(values)
        pool._refs = counts
        pool._free = [int(i) for i in free]
        pool._ids = {v: i for i, v in enumerate(values) if v is not None}
        if len(pool._ids) + len(pool._free) + 1 != len(values):
            raise ValueError("pool has repeated values or a wrong free list")
        return pool
