"""Open obligations as columns: one slot per obligation, about 50 bytes of arrays plus its share
of the interned tables, instead of a named tuple of 24 fields (~760 bytes, measured).

* The slot is the obligation id's number in a `FixedKeyTable` (ids are 16-byte UUIDs there).
* What obligations opened by one rule under one agreement version have in common (agreement,
  category, kind, classification, rule, deadline, what satisfies it, who owes it, calendar note)
  is one shared `Terms` record; the slot holds its number.
* Instants are epoch microseconds in ``array('q')``; state, ladder step, lateness are bytes.
* Items are byte keys in their own table; the slots of an item are a linked list through
  ``item_next``, in the order they were opened (they satisfy in that order).
* The opening event's id is 17 bytes in a flat column (event ids are UUIDs; other text is
  interned and the column holds its number).
* A rule's own wording and the envelope context are interned too (`contexts.py`).

`Obligation` values are built only on the way out (:meth:`ObligationStore.obligation`).
"""
from __future__ import annotations

import hashlib
from array import array
from operator import itemgetter
from typing import Iterator, NamedTuple

from agents.core.obligations.bytestable import BytesTable
from agents.core.obligations.contexts import NO_CONTEXT, ContextTable, Prepared
from agents.core.obligations.idtable import FixedKeyTable
from agents.core.obligations.model import Kind, Obligation, State, from_us, to_us
from agents.core.obligations.pools import InternPool

STATES = (State.OPEN, State.BREACHED, State.ESCALATED)
STATE_CODE = {state: code for code, state in enumerate(STATES)}
FREE = 255      # state byte of a slot that holds no obligation
NONE = -1


class Terms(NamedTuple):
    """The fields obligations opened by the same rule under the same agreement version share."""

    agreement_id: str
    agreement_version: int
    category: str
    kind: Kind
    classification: str | None
    rule: str
    deadline: str
    starts_from: str
    satisfied_by: tuple[str, ...]
    satisfier_role: str | None
    responsible_party_role: str
    responsible_party_id: str | None
    calendar_note: str | None


# Where each Terms field sits in an Obligation, so that terms are cut out of one in C.
_TERMS_FIELDS = itemgetter(*(Obligation._fields.index(name) for name in Terms._fields))


def terms_of(ob: Obligation) -> Terms:
    return Terms._make(_TERMS_FIELDS(ob))


def uuid_key(text: str) -> bytes | None:
    """0x00 + the 16 bytes of a canonical (lower-case, hyphenated) UUID; None for other text."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-" and text.lower() == text:
        try:
            raw = bytes.fromhex(text.replace("-", ""))
        except ValueError:
            return None
        if len(raw) == 16:
            return b"\x00" + raw
    return None


def id_key(text: str) -> bytes:
    """The 17-byte table key of an obligation id: `uuid_key` for the UUIDs `obligation_id`
    makes; for any other text, 0x01 + a 16-byte BLAKE2 digest (the text itself is kept aside)."""
    return uuid_key(text) or b"\x01" + hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def id_text(key: bytes | bytearray) -> str:
    h = key[1:].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# Column name -> array type code. Every column has one entry per slot.
COLUMNS = {"due_us": "q", "start_us": "q", "opened_us": "q", "state": "B", "step": "H", "late": "B",
           "phase": "B", "terms_of": "I", "item_of": "i", "item_next": "i", "context_of": "i",
           "description_of": "I"}
_DEFAULTS = {"state": FREE, "item_of": NONE, "item_next": NONE, "context_of": NO_CONTEXT}
EVENT_WIDTH = ID_WIDTH = 17    # bytes of an id key: obligation ids, the opening event's id
_NO_EVENT = bytes(EVENT_WIDTH)


class ObligationStore:
    def __init__(self) -> None:
        self.ids = FixedKeyTable(ID_WIDTH)
        self.id_texts: dict[int, str] = {}   # rare: obligation ids that are not UUIDs, by slot
        self.items = BytesTable()          # agreement number (4 bytes) + item_ref
        self.item_head = array("i")        # per item: its first slot
        self.event_ids = bytearray()       # per slot: the opening event's id key (EVENT_WIDTH bytes)
        self.event_texts: InternPool[str] = InternPool()   # event ids that are not UUIDs
        self.contexts = ContextTable()
        self.terms: InternPool[Terms] = InternPool()
        self.descriptions: InternPool[str] = InternPool()
        self.agreement_ids: list[str] = []
        self._agreement_number: dict[str, int] = {}
        self.satisfied_event: dict[int, str] = {}   # rare: open, yet a performing event is known
        self.due_us = array("q")
        self.start_us = array("q")
        self.opened_us = array("q")
        self.state = array("B")
        self.step = array("H")
        self.late = array("B")
        self.phase = array("B")             # gauge phase (gauges.py)
        self.terms_of = array("I")
        self.item_of = array("i")
        self.item_next = array("i")
        self.context_of = array("i")
        self.description_of = array("I")

    def __len__(self) -> int:
        return len(self.ids)

    # -- lookups --
    def slot_of(self, obligation_id: str) -> int:
        return self.ids.find(id_key(obligation_id))

    def event_key(self, event_id: str) -> bytes | None:
        """How an event id appears in the event column; None if no slot can have it."""
        key = uuid_key(event_id)
        if key is not None:
            return key
        number = self.event_texts.find(event_id)
        return None if number is None else _text_event_key(number)

    def opened_by(self, slot: int) -> bytearray:
        return self.event_ids[slot * EVENT_WIDTH:(slot + 1) * EVENT_WIDTH]

    def _event_text(self, slot: int) -> str:
        key = self.opened_by(slot)
        if key[0] == 0:
            return id_text(key)
        text = self.event_texts.values[int.from_bytes(key[1:], "little")]
        assert text is not None
        return text

    def _set_event(self, slot: int, event_id: str, key: bytes | None = None) -> None:
        key = key or uuid_key(event_id) or _text_event_key(self.event_texts.add(event_id))
        self._release_event(slot)
        self.event_ids[slot * EVENT_WIDTH:(slot + 1) * EVENT_WIDTH] = key

    def _release_event(self, slot: int) -> None:
        key = self.opened_by(slot)
        if key[0] == 1:
            self.event_texts.release(int.from_bytes(key[1:], "little"))
        self.event_ids[slot * EVENT_WIDTH:(slot + 1) * EVENT_WIDTH] = _NO_EVENT

    def item_slots(self, agreement_id: str, item_ref: str) -> list[int]:
        number = self._agreement_number.get(agreement_id)
        if number is None:
            return []
        item = self.items.find(_item_key(number, item_ref))
        out: list[int] = []
        slot = self.item_head[item] if item >= 0 else NONE
        while slot != NONE:
            out.append(slot)
            slot = self.item_next[slot]
        return out

    def live_slots(self) -> Iterator[int]:
        return (slot for slot, code in enumerate(self.state) if code != FREE)

    def terms_at(self, slot: int) -> Terms:
        terms = self.terms.values[self.terms_of[slot]]
        assert terms is not None
        return terms

    def item_ref(self, slot: int) -> str:
        return self.items.key(self.item_of[slot])[4:].decode("utf-8")

    def obligation_id(self, slot: int) -> str:
        key = self.ids.key(slot)
        return id_text(key) if key[0] == 0 else self.id_texts[slot]

    def obligation(self, slot: int) -> Obligation:
        """The slot as an `Obligation` value (instants in UTC)."""
        t = self.terms_at(slot)
        # _make skips the named tuple's 24-argument __new__: a third of the cost of building one.
        return Obligation._make((
            self.obligation_id(slot), t.agreement_id, t.agreement_version, self.item_ref(slot), t.category,
            t.kind, t.responsible_party_role, t.responsible_party_id, from_us(self.due_us[slot]), t.deadline,
            t.starts_from, from_us(self.start_us[slot]), self._event_text(slot),
            from_us(self.opened_us[slot]), t.rule, t.satisfied_by, t.satisfier_role, t.classification,
            t.calendar_note, self.descriptions.values[self.description_of[slot]], STATES[self.state[slot]],
            self.step[slot], self.satisfied_event.get(slot), bool(self.late[slot])))

    def context(self, slot: int) -> dict | None:
        """The slot's envelope context as a fresh dict; None when it was opened without one."""
        ident = self.context_of[slot]
        if ident == NO_CONTEXT:
            return None
        return self.contexts.get(ident, self.terms_at(slot).agreement_id, self.item_ref(slot))

    # -- changes --
    def insert(self, ob: Obligation, context: Prepared | None, key: bytes | None = None,
               event_key: bytes | None = None) -> int:
        """A new slot for an obligation not held yet (``key``, ``event_key``: its id key and its
        opening event's `uuid_key`, when the caller has them)."""
        key = key or id_key(ob.obligation_id)
        slot = self.ids.add_new(key)
        if slot >= len(self.state):
            self._grow(slot + 1)
        if key[0] != 0:
            self.id_texts[slot] = ob.obligation_id
        self._set_event(slot, ob.opened_by_event_id, event_key)
        self.context_of[slot] = self.contexts.add(context)
        self._link(slot, ob.agreement_id, ob.item_ref)
        self._write(slot, ob, new=True)
        return slot

    def overwrite(self, slot: int, ob: Obligation) -> None:
        """A later record of the obligation in the slot replaces what it says."""
        if self.terms_at(slot).agreement_id != ob.agreement_id or self.item_ref(slot) != ob.item_ref:
            self._unlink(slot)
            self._link(slot, ob.agreement_id, ob.item_ref)
        self._set_event(slot, ob.opened_by_event_id)
        self._write(slot, ob, new=False)

    def _grow(self, at_least: int) -> None:
        # In blocks, so that opening a million obligations is not 13 million appends.
        more = max(at_least - len(self.state), 1024, len(self.state) // 8)
        for name in COLUMNS:
            column = getattr(self, name)
            column.extend(array(column.typecode, [_DEFAULTS.get(name, 0)]) * more)
        self.event_ids += bytes(EVENT_WIDTH * more)

    def columns_in_use(self) -> dict[str, array]:
        """Each column cut to the slots ever handed out (the tail is room to grow)."""
        used = self.ids.capacity
        return {name: getattr(self, name)[:used] for name in COLUMNS}

    def set_context(self, slot: int, context: Prepared | None) -> None:
        fresh = self.contexts.add(context)
        self.contexts.release(self.context_of[slot])
        self.context_of[slot] = fresh

    def set_progress(self, slot: int, state: State, step: int) -> None:
        self.state[slot] = STATE_CODE[state]
        self.step[slot] = step

    def remove(self, slot: int) -> None:
        self._unlink(slot)
        self.terms.release(self.terms_of[slot])
        self.descriptions.release(self.description_of[slot])
        self._release_event(slot)
        self.contexts.release(self.context_of[slot])
        self.satisfied_event.pop(slot, None)
        self.id_texts.pop(slot, None)
        self.ids.remove(slot)
        self.state[slot] = FREE
        self.terms_of[slot] = self.description_of[slot] = 0
        self.context_of[slot] = NO_CONTEXT

    def _write(self, slot: int, ob: Obligation, new: bool) -> None:
        terms = self.terms.add(terms_of(ob))
        description = self.descriptions.add(ob.custom_description)
        if not new:
            self.terms.release(self.terms_of[slot])
            self.descriptions.release(self.description_of[slot])
        self.terms_of[slot] = terms
        self.description_of[slot] = description
        self.due_us[slot] = to_us(ob.due_at)
        self.start_us[slot] = to_us(ob.start_at)
        self.opened_us[slot] = to_us(ob.opened_at)
        self.state[slot] = STATE_CODE[ob.state]
        self.step[slot] = ob.ladder_step
        self.late[slot] = 1 if ob.late else 0
        if ob.satisfied_by_event_id:
            self.satisfied_event[slot] = ob.satisfied_by_event_id
        else:
            self.satisfied_event.pop(slot, None)

    def _link(self, slot: int, agreement_id: str, item_ref: str) -> None:
        number = self._agreement_number.get(agreement_id)
        if number is None:
            number = self._agreement_number[agreement_id] = len(self.agreement_ids)
            self.agreement_ids.append(agreement_id)
        item = self.items.add(_item_key(number, item_ref))
        while item >= len(self.item_head):
            self.item_head.append(NONE)
        self.item_of[slot] = item
        self.item_next[slot] = NONE
        last = self.item_head[item]
        if last == NONE:
            self.item_head[item] = slot
            return
        while self.item_next[last] != NONE:
            last = self.item_next[last]
        self.item_next[last] = slot

    def _unlink(self, slot: int) -> None:
        item = self.item_of[slot]
        nxt = self.item_next[slot]
        if self.item_head[item] == slot:
            self.item_head[item] = nxt
        else:
            prev = self.item_head[item]
            while self.item_next[prev] != slot:
                prev = self.item_next[prev]
            self.item_next[prev] = nxt
        if self.items.refs(item) == 1:
            self.item_head[item] = NONE
        self.items.release(item)
        self.item_of[slot] = self.item_next[slot] = NONE


def _text_event_key(number: int) -> bytes:
    return b"\x01" + number.to_bytes(EVENT_WIDTH - 1, "little")


def _item_key(agreement_number: int, item_ref: str) -> bytes:
    return agreement_number.to_bytes(4, "little") + item_ref.encode("utf-8")
