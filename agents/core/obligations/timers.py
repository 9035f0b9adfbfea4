"""Timers bucketed by the minute they fall due, for millions of obligations.

A timer is an instant (epoch microseconds) and a packed ``slot << 8 | token``. Until its minute
begins it sits in that minute's bucket, a flat ``array('q')``: 16 bytes a timer, or 8 when the
caller can tell a timer's instant from its slot (``fire_of``), plus one bucket per distinct
minute. Deadlines cluster (23:59:59 local of a working day), so one bucket holds many; where they
do not, a bucket per *second* would cost ~240 bytes a timer (measured), a bucket per minute
amortises that over the timers of the minute.

When a minute begins, its bucket moves into a small heap ("ready"), ordered by the exact instant,
then by a caller-supplied order key (the obligation id), then by the packed token; timers fire
from there. So a tick costs in proportion to what falls due (each timer is moved once and popped
once), never to what is open. Timers of closed obligations are not searched for: they are
skipped when they come up (the caller says which are still live).
"""
from __future__ import annotations

import heapq
from array import array
from typing import Callable

BUCKET_SECONDS = 60
_US = 1_000_000

Ready = tuple[int, bytes, int]          # (fire_us, order key, packed)


class BucketedTimers:
    def __init__(self, order_of: Callable[[int], bytes] | None = None,
                 fire_of: Callable[[int], int | None] | None = None, bucket_seconds: int = BUCKET_SECONDS):
        """``order_of(packed)``: the tie-break between timers due at the same microsecond.
        ``fire_of(packed)``: when given, buckets keep only ``packed`` and the instant is asked for
        when the minute begins (None, or an instant outside the minute: the timer is stale)."""
        self.bucket_us = bucket_seconds * _US
        self._order_of = order_of or _no_order
        self._fire_of = fire_of
        self._step = 1 if fire_of else 2        # array items per timer in a bucket
        self._buckets: dict[int, array] = {}    # minute -> [fire_us, packed, ...] or [packed, ...]
        self._minutes: list[int] = []           # heap of the keys of _buckets
        self._ready: list[Ready] = []           # heap of timers whose minute has begun
        self._ready_upto: int | None = None     # every minute up to this one has moved to _ready

    def __len__(self) -> int:
        return len(self._ready) + sum(len(a) for a in self._buckets.values()) // self._step

    def push(self, fire_us: int, packed: int) -> None:
        minute = fire_us // self.bucket_us
        if self._ready_upto is not None and minute <= self._ready_upto:
            heapq.heappush(self._ready, (fire_us, self._order_of(packed), packed))
            return
        bucket = self._buckets.get(minute)
        if bucket is None:
            bucket = self._buckets[minute] = array("q")
            heapq.heappush(self._minutes, minute)
        if self._step == 2:
            bucket.append(fire_us)
        bucket.append(packed)

    def pop_due(self, now_us: int) -> Ready | None:
        """The earliest timer due at or before ``now_us``, taken off; None when nothing is due.
        Timers pushed meanwhile (the next ladder step) are seen by the next call."""
        minutes = self._minutes
        if minutes and minutes[0] <= now_us // self.bucket_us:
            now_minute = now_us // self.bucket_us
            while minutes and minutes[0] <= now_minute:
                self._activate(heapq.heappop(minutes))
        if self._ready and self._ready[0][0] <= now_us:
            return heapq.heappop(self._ready)
        return None

    def first(self, is_live: Callable[[int, bytes, int], bool]) -> Ready | None:
        """The earliest live timer, left in place; stale ones met on the way are dropped."""
        ready = self._ready
        while ready:
            if is_live(*ready[0]):
                return ready[0]
            heapq.heappop(ready)
        while self._minutes:
            minute = self._minutes[0]
            live = [entry for entry in self._entries(minute, self._buckets[minute]) if is_live(*entry)]
            if live:
                kept = array("q")
                for fire_us, _, packed in live:
                    if self._step == 2:
                        kept.append(fire_us)
                    kept.append(packed)
                self._buckets[minute] = kept
                return min(live)
            del self._buckets[minute]
            heapq.heappop(self._minutes)
        return None

    def clear(self) -> None:
        self._buckets.clear()
        self._minutes.clear()
        self._ready.clear()
        self._ready_upto = None

    def _activate(self, minute: int) -> None:
        self._ready.extend(self._entries(minute, self._buckets.pop(minute)))
        heapq.heapify(self._ready)
        if self._ready_upto is None or minute > self._ready_upto:
            self._ready_upto = minute

    def _entries(self, minute: int, bucket: array) -> list[Ready]:
        order_of = self._order_of
        if self._step == 2:
            return [(bucket[i], order_of(bucket[i + 1]), bucket[i + 1]) for i in range(0, len(bucket), 2)]
        fire_of, width = self._fire_of, self.bucket_us
        assert fire_of is not None
        out = []
        for packed in bucket:
            fire_us = fire_of(packed)
            if fire_us is not None and fire_us // width == minute:
                out.append((fire_us, order_of(packed), packed))
        return out

    # -- snapshot: buckets as (minute, length) plus one flat run; ready timers go back into the
    # buckets of their minute, so a loaded set starts with nothing activated --
    def export(self) -> tuple[bytes, bytes, bytes]:
        merged: dict[int, array] = dict(self._buckets)
        for fire_us, _, packed in self._ready:
            minute = fire_us // self.bucket_us
            bucket = merged.get(minute)
            if bucket is None or bucket is self._buckets.get(minute):
                bucket = merged[minute] = array("q", bucket or ())
            if self._step == 2:
                bucket.append(fire_us)
            bucket.append(packed)
        minutes, lengths, flat = array("q"), array("q"), array("q")
        for minute in sorted(merged):
            minutes.append(minute)
            lengths.append(len(merged[minute]))
            flat.extend(merged[minute])
        return minutes.tobytes(), lengths.tobytes(), flat.tobytes()

    def load(self, minutes: array, lengths: array, flat: array) -> None:
        """Replace every timer with what :meth:`export` wrote (each as an ``array('q')``)."""
        if (len(minutes) != len(lengths) or sum(lengths) != len(flat)
                or any(n <= 0 or n % self._step for n in lengths)):
            raise ValueError("timer buckets do not fit together")
        self.clear()
        at = 0
        for minute, length in zip(minutes, lengths, strict=True):
            self._buckets[minute] = flat[at:at + length]
            at += length
        self._minutes = list(minutes)
        heapq.heapify(self._minutes)
        if len(self._buckets) != len(self._minutes):
            raise ValueError("timer buckets repeat a minute")


def _no_order(packed: int) -> bytes:
    return b""
