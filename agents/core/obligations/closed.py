"""Ids of closed obligations, kept for a while so that a redelivered opening event does not open
them again (the bus is at-least-once: the same event may come twice, days apart)."""
from __future__ import annotations

from array import array

from agents.core.obligations.bytestable import array_from
from agents.core.obligations.idtable import FixedKeyTable

_COMPACT_AFTER = 4096    # forgotten entries at the head of the queue before it is shortened


class ClosedIds:
    """A set of id keys with a first-in first-out queue of when each was closed."""

    def __init__(self) -> None:
        self.keys = FixedKeyTable(17)
        self._closed_us = array("q")
        self._ident = array("q")
        self._head = 0

    def __len__(self) -> int:
        return len(self.keys)

    def __contains__(self, key: bytes) -> bool:
        return len(self.keys) > 0 and self.keys.find(key) >= 0

    def add(self, key: bytes, closed_us: int) -> None:
        if self.keys.find(key) >= 0:
            return
        self._ident.append(self.keys.add_new(key))
        self._closed_us.append(closed_us)

    def forget_before(self, horizon_us: int) -> None:
        """Forget ids in the order they were closed while the oldest is older than the horizon."""
        head, closed, ident = self._head, self._closed_us, self._ident
        while head < len(closed) and closed[head] < horizon_us:
            self.keys.remove(ident[head])
            head += 1
        if head > _COMPACT_AFTER and head * 2 > len(closed):
            del closed[:head]
            del ident[:head]
            head = 0
        self._head = head

    # -- snapshot --
    def export(self) -> dict:
        return {"keys": self.keys.export(), "closed_us": self._closed_us[self._head:].tobytes(),
                "ident": self._ident[self._head:].tobytes()}

    @classmethod
    def from_export(cls, parts: dict) -> "ClosedIds":
        out = cls()
        out.keys = FixedKeyTable.from_export(parts["keys"])
        out._closed_us, out._ident = array_from("q", parts["closed_us"]), array_from("q", parts["ident"])
        if len(out._closed_us) != len(out._ident) or len(out._ident) != len(out.keys):
            raise ValueError("closed-id queue and set do not match")
        return out
