"""Open / due-soon / overdue counts per (agreement, category), kept as obligations come and go.

The Prometheus gauges used to walk every open obligation (2.8-4.1 s at a million); here each
obligation adds itself when opened and takes itself away when closed, and the two moments at
which it changes column are timers of their own: "due soon" at ``due - window`` and "overdue" at
``due`` (DESIGN "Obligations and escalation": timers cost in proportion to what falls due). These
crossings emit nothing; they run on a `BucketedTimers` of their own (8 bytes a crossing: its
instant follows from the slot's deadline), so that the counts can be brought up to any later
instant without firing breaches or ladder steps, which only ``tick`` does.

Overdue = its deadline has come (``due <= now``) and it is not done; due soon = ``due - window <=
now < due``. Time only moves forward here: counts asked for an earlier instant than already seen
are those of the latest instant.
"""
from __future__ import annotations

from typing import NamedTuple

from agents.core.obligations.store import FREE, ObligationStore
from agents.core.obligations.timers import BucketedTimers

AHEAD, SOON, OVERDUE = 0, 1, 2          # gauge phase of a slot
_TO_SOON, _TO_OVERDUE = 0, 1            # crossing tokens


class Counts(NamedTuple):
    open: int
    due_soon: int
    overdue: int


GaugeKey = tuple[str, str]              # (agreement_id, category)


class Gauges:
    def __init__(self, store: ObligationStore, window_us: int, at_us: int):
        self.store = store
        self.window_us = window_us
        self.at_us = at_us              # crossings are applied up to this instant
        self.timers = BucketedTimers(fire_of=self._fire_of)
        self.crossings = 0
        self._counts: dict[GaugeKey, list[int]] = {}

    def counts(self) -> dict[GaugeKey, Counts]:
        return {key: Counts(*values) for key, values in self._counts.items()}

    def add(self, slot: int, already_set: tuple[int, int] | None = None) -> None:
        """Count a slot just written (its due instant and terms are set). ``already_set``: the
        (phase, due) whose crossing timer is pending for this slot, if any: not set again."""
        store = self.store
        due = store.due_us[slot]
        if due <= self.at_us:
            phase = OVERDUE
        elif due - self.window_us <= self.at_us:
            phase = SOON
        else:
            phase = AHEAD
        store.phase[slot] = phase
        key = self._key(slot)
        values = self._counts.get(key)
        if values is None:
            values = self._counts[key] = [0, 0, 0]
        values[0] += 1
        if phase:
            values[phase] += 1
        if already_set != (phase, due):
            self._schedule(slot, phase, due)

    def remove(self, slot: int) -> None:
        """Stop counting a slot (before it is freed or rewritten)."""
        key = self._key(slot)
        values = self._counts[key]
        values[0] -= 1
        phase = self.store.phase[slot]
        if phase:
            values[phase] -= 1
        if values[0] <= 0:
            del self._counts[key]

    def advance(self, now_us: int) -> None:
        """Apply every crossing due at or before ``now_us``."""
        store, timers, window = self.store, self.timers, self.window_us
        while True:
            entry = timers.pop_due(now_us)
            if entry is None:
                break
            fire_us, _, packed = entry
            slot, token = packed >> 8, packed & 0xFF
            if slot >= len(store.state) or store.state[slot] == FREE:
                continue
            phase, due = store.phase[slot], store.due_us[slot]
            if token == _TO_SOON and phase == AHEAD and fire_us == due - window:
                self._move(slot, AHEAD, SOON)
                self._schedule(slot, SOON, due)
            elif token == _TO_OVERDUE and phase == SOON and fire_us == due:
                self._move(slot, SOON, OVERDUE)
        if now_us > self.at_us:
            self.at_us = now_us

    def _move(self, slot: int, old: int, new: int) -> None:
        values = self._counts[self._key(slot)]
        if old:
            values[old] -= 1
        values[new] += 1
        self.store.phase[slot] = new
        self.crossings += 1

    def _schedule(self, slot: int, phase: int, due: int) -> None:
        if phase == AHEAD:
            self.timers.push(due - self.window_us, slot << 8 | _TO_SOON)
        elif phase == SOON:
            self.timers.push(due, slot << 8 | _TO_OVERDUE)

    def _fire_of(self, packed: int) -> int | None:
        """When a crossing timer fires, if it still stands."""
        store = self.store
        slot, token = packed >> 8, packed & 0xFF
        if slot >= len(store.state) or store.state[slot] == FREE:
            return None
        phase = store.phase[slot]
        if token == _TO_SOON and phase == AHEAD:
            return store.due_us[slot] - self.window_us
        if token == _TO_OVERDUE and phase == SOON:
            return store.due_us[slot]
        return None

    def _key(self, slot: int) -> GaugeKey:
        terms = self.store.terms_at(slot)
        return terms.agreement_id, terms.category

    # -- snapshot --
    def export(self) -> dict:
        minutes, lengths, flat = self.timers.export()
        return {"window_us": self.window_us, "at_us": self.at_us, "crossings": self.crossings,
                "counts": [[a, c, *v] for (a, c), v in self._counts.items()],
                "minutes": minutes, "lengths": lengths, "flat": flat}

    def restore_counts(self, rows: list, at_us: int, crossings: int) -> None:
        self._counts = {(str(a), str(c)): [int(o), int(s), int(d)] for a, c, o, s, d in rows}
        self.at_us, self.crossings = int(at_us), int(crossings)
