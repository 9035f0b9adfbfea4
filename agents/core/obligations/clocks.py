"""When each open obligation's next timer fires: its deadline, then the steps of the escalation
ladder of the agreement version it was opened under (Arts. 7, 15).

Each open obligation has one timer set at a time, its next: token -1 is the deadline, k >= 0
ladder step k, packed with the slot as ``slot << 8 | (token + 1)`` (ladders are far shorter than
255 steps). When an obligation is satisfied its timer is not searched for; it is found stale when
it comes up and skipped (`live`).
"""
from __future__ import annotations

from agents.core.obligations.ladders import Ladder, Ladders
from agents.core.obligations.model import State
from agents.core.obligations.store import FREE, STATE_CODE, ObligationStore
from agents.core.obligations.timers import BucketedTimers, Ready

_OPEN = STATE_CODE[State.OPEN]
DEADLINE = -1


class Clocks:
    def __init__(self, store: ObligationStore, ladders: Ladders):
        self.store = store
        self.ladders = ladders
        self.timers = BucketedTimers(order_of=self._order_key)

    def ladder(self, slot: int) -> Ladder:
        terms = self.store.terms_at(slot)
        return self.ladders.of(terms.agreement_id, terms.agreement_version)

    def next_token(self, slot: int) -> int:
        return DEADLINE if self.store.state[slot] == _OPEN else self.store.step[slot]

    def next_timer(self, slot: int) -> tuple[int, int] | None:
        """(token, fire_us) of the slot's next timer; None once its ladder is spent."""
        ladder, token = self.ladder(slot), self.next_token(slot)
        return (token, ladder.fire_us(self.store.due_us[slot], token)) if token < len(ladder.steps) else None

    def schedule(self, slot: int) -> None:
        timer = self.next_timer(slot)
        if timer is not None:
            self.timers.push(timer[1], slot << 8 | (timer[0] + 1))

    def schedule_after(self, slot: int, token: int, ladder: Ladder) -> None:
        """Set the timer that follows ``token``, which just fired (the next ladder step)."""
        if token + 1 < len(ladder.steps):
            self.timers.push(ladder.fire_us(self.store.due_us[slot], token + 1), slot << 8 | (token + 2))

    def live(self, fire_us: int, order: bytes, packed: int) -> tuple[int, int, Ladder] | None:
        """(slot, token, ladder) of a timer that still stands: its obligation is open, has not
        moved on, and is the one the timer was set for (slots are reused); None when stale."""
        store = self.store
        slot, token = packed >> 8, (packed & 0xFF) - 1
        if slot >= len(store.state) or store.state[slot] == FREE or token != self.next_token(slot):
            return None
        if order and order != store.ids.key(slot):
            return None
        ladder = self.ladder(slot)
        return (slot, token, ladder) if fire_us == ladder.fire_us(store.due_us[slot], token) else None

    def first(self) -> tuple[int, int, int] | None:
        """(fire_us, slot, token) of the earliest timer that still stands."""
        entry: Ready | None = self.timers.first(lambda *timer: self.live(*timer) is not None)
        if entry is None:
            return None
        return entry[0], entry[2] >> 8, (entry[2] & 0xFF) - 1

    def _order_key(self, packed: int) -> bytes:
        # Timers due at the same instant fire in obligation-id order, as a heap of ids would.
        slot = packed >> 8
        return self.store.ids.key(slot) if self.store.state[slot] != FREE else b""
