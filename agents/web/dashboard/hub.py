"""Live fan-out: tells each open live stream which of *its* agreements changed."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any


class Subscription:
    def __init__(self, allow: Callable[[str], bool]):
        self.allow = allow
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=64)

    def offer(self, message: Any) -> None:
        if self.queue.full():  # a slow reader only needs the latest news: drop the oldest
            try:
                self.queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
        self.queue.put_nowait(message)


class Hub:
    """Fans 'these agreements changed' out to live streams, each filtered by what its user may see.

    A message carries the position *of the stream's own agreements* (`position_of`: the sum of their
    chain lengths), never the ledger's global seq, so the numbers a holder sees say nothing about how
    busy other holders' agreements are (Art. 10)."""

    def __init__(self, position_of: Callable[[Iterable[str]], int] = lambda agreements: 0):
        self._subs: set[Subscription] = set()
        self.position_of = position_of

    def subscribe(self, allow: Callable[[str], bool]) -> Subscription:
        sub = Subscription(allow)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def notify(self, agreements: Iterable[str]) -> None:
        agreements = set(agreements)
        for sub in list(self._subs):
            mine = sorted(a for a in agreements if sub.allow(a))
            if mine:
                sub.offer({"position": self.position_of(mine), "agreements": mine})

    def close(self) -> None:
        for sub in list(self._subs):
            sub.offer(None)

    def __len__(self) -> int:
        return len(self._subs)
