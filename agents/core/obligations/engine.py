"""Obligations: who must do what about which item by when, and what happens when they don't.

Pure Python, no Kafka: the agent layer feeds events to :meth:`ObligationEngine.on_event`, calls
:meth:`ObligationEngine.tick` on a timer, and publishes every returned :class:`Change` (as
``obligation.<action>`` or ``escalation.raised``) to the ledger. A restarted worker rebuilds its
state with :meth:`ObligationEngine.restore` from those same records, or loads a snapshot
(:meth:`ObligationEngine.snapshot`, :meth:`ObligationEngine.from_snapshot`) and restores only the
records written since.

* An event opens obligations through *openers*: functions ``(event, agreement, calendar) ->
  list[ObligationSpec]`` kept in an :class:`OpenerRegistry`. The communication-list openers of
  Art. 7 live here; the compliance rules add theirs.
* A later event satisfies an open obligation when it is on the same agreement and item, its type
  is one the obligation names, and (where set) it comes from the party that owes it.
* A NOTIFY obligation is satisfied by the very event that opens it when that event was published
  by its deadline (counted from ``occurred_at``); published later, it is recorded at once as a
  late-notification breach (Art. 7: timelines).
* When a deadline passes, the obligation is recorded as breached, then steps up the agreement's
  escalation ladder: step k fires at ``due_at + ladder[k].after``, once, in order, and the ladder
  stops as soon as the obligation is satisfied.
* State is columnar (`store.py`) and timers are bucketed by minute (`timers.py`); a satisfied
  obligation's timer is not searched for but skipped when it comes up, so a tick costs in
  proportion to what falls due, not to what is open. The gauges (`gauges.py`) are kept the same way.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, NamedTuple

from agents.core.agreements import Agreement, AgreementSet
from agents.core.emitted import context_of
from agents.core.obligations import snapshot
from agents.core.obligations.clocks import DEADLINE, Clocks
from agents.core.obligations.closed import ClosedIds
from agents.core.obligations.contexts import Prepared
from agents.core.obligations.gauges import Counts, GaugeKey, Gauges
from agents.core.obligations.ladders import Ladders
from agents.core.obligations.model import (TERMINAL, Change, Obligation, ObligationSpec, State, _iso, as_utc,
                                           from_us, human_span, required_utc, span_us, to_us)
from agents.core.obligations.openers import Opener, OpenerRegistry, _party_role, default_openers, obligation_uuid
from agents.core.obligations.store import STATE_CODE, ObligationStore, id_key, id_text, uuid_key

log = logging.getLogger(__name__)

_OPEN = STATE_CODE[State.OPEN]


class _Opening(NamedTuple):
    """What every obligation an event opens shares, worked out once."""

    event: dict
    event_id: str
    published: datetime
    context: dict                   # context_of(event)
    prepared: Prepared | None       # the same, as the store keeps it
    event_key: bytes | None         # uuid_key(event_id)


@dataclass
class EngineStats:
    heap_pops: int = 0      # every timer taken off when due
    stale_pops: int = 0     # of which skipped: their obligation was satisfied or had moved on
    fired: int = 0          # breaches and escalation steps fired


class ObligationEngine:
    """Opens, satisfies and escalates obligations. Not thread-safe: one worker owns one engine
    (per partition of agreement + item)."""

    def __init__(self, agreements: AgreementSet, clock: Callable[[], datetime] | None = None,
                 openers: OpenerRegistry | Iterable[Opener] | None = None,
                 closed_retention: timedelta | None = timedelta(days=90),
                 due_soon: timedelta = timedelta(hours=24)):
        """``closed_retention``: how long the ids of closed obligations are kept, so that a
        redelivered opening event does not open them again (None: forever). ``due_soon``: how
        long before its deadline an open obligation counts as due soon in :meth:`counts`."""
        self.agreements = agreements
        self.closed_retention = closed_retention
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        if openers is None:
            openers = default_openers()
        self.openers = openers if isinstance(openers, OpenerRegistry) else OpenerRegistry(openers)
        self.stats = EngineStats()
        self._ladders = Ladders(agreements)
        self._store = ObligationStore()
        self._closed = ClosedIds()
        self._clocks = Clocks(self._store, self._ladders)
        self._gauges = Gauges(self._store, span_us(due_soon), to_us(self.clock()))

    # -- queries --
    def __len__(self) -> int:
        return len(self._store)

    def get(self, obligation_id: str) -> Obligation | None:
        slot = self._store.slot_of(obligation_id)
        return self._store.obligation(slot) if slot >= 0 else None

    def is_closed(self, obligation_id: str) -> bool:
        return id_key(obligation_id) in self._closed

    def context_for(self, obligation: Obligation | str) -> dict:
        """The envelope fields events about this open obligation copy (those of the event that
        opened it, with the obligation's own agreement and item); {} when not known."""
        oid = obligation if isinstance(obligation, str) else obligation.obligation_id
        slot = self._store.slot_of(oid)
        return (self._store.context(slot) or {}) if slot >= 0 else {}

    def open_obligations(self, agreement: str | None = None, overdue_only: bool = False,
                         now: datetime | None = None) -> list[Obligation]:
        """Open obligations, soonest due first; ``overdue_only`` keeps those past their deadline."""
        store = self._store
        now_us = to_us(now or self.clock())
        due = store.due_us
        slots = [slot for slot in store.live_slots()
                 if (agreement is None or store.terms_at(slot).agreement_id == agreement)
                 and (not overdue_only or due[slot] < now_us)]
        out = [store.obligation(slot) for slot in slots]
        out.sort(key=lambda o: (o.due_at, o.obligation_id))
        return out

    def counts(self, now: datetime | None = None) -> dict[GaugeKey, Counts]:
        """(agreement_id, category) -> Counts(open, due_soon, overdue) at ``now``, kept as
        obligations open and close; only the crossings since the last call are worked through."""
        self._gauges.advance(to_us(now or self.clock()))
        return self._gauges.counts()

    def next_firing(self) -> tuple[datetime, str, int] | None:
        """When the next timer is due: (instant, obligation_id, token); token -1 = the deadline,
        k >= 0 = ladder step k. Drops stale entries on the way."""
        first = self._clocks.first()
        if first is None:
            return None
        fire_us, slot, token = first
        return from_us(fire_us), self._store.obligation_id(slot), token

    # -- events --
    def on_event(self, event: dict) -> list[Change]:
        """Satisfy what the event satisfies, then open what it opens. Never raises for one bad
        opener: the failure is logged with the event id and the other openers still run."""
        changes: list[Change] = []
        agreement_id = event.get("agreement_id")
        item_ref = event.get("item_ref")
        event_id = event.get("event_id") or ""
        etype = event.get("event_type") or ""
        if not agreement_id or not item_ref:
            return changes
        published = as_utc(event.get("published_at")) or self.clock()
        role = _party_role(event)
        store = self._store
        slots = store.item_slots(agreement_id, item_ref)
        this_event = store.event_key(event_id) if slots else None

        for slot in slots:
            terms = store.terms_at(slot)
            if etype not in terms.satisfied_by or store.opened_by(slot) == this_event:
                continue
            if terms.satisfier_role is not None and terms.satisfier_role != role:
                continue
            ob = store.obligation(slot)
            changes.append(self._close(slot, ob._replace(state=State.SATISFIED, satisfied_by_event_id=event_id,
                                                         late=published > ob.due_at),
                                       "satisfied", published, reason=f"{etype} {event_id}"))

        corrected = event.get("corrects_event_id")
        if corrected:
            # A correction replaces what the corrected event opened (e.g. a new classification);
            # its notification already happened, so no new NOTIFY is opened.
            corrected_event = store.event_key(corrected)
            for slot in store.item_slots(agreement_id, item_ref):
                if corrected_event is not None and store.opened_by(slot) == corrected_event:
                    changes.append(self._close(slot, store.obligation(slot)._replace(state=State.CANCELLED),
                                               "cancelled", published, reason=f"corrected by {etype} {event_id}"))

        agreement = self.agreements.effective(agreement_id, published)
        if agreement is None:
            log.warning("event %s (%s): no version of agreement %s in force at %s; no obligations opened",
                        event_id, etype, agreement_id, _iso(published))
            return changes
        calendar = self.agreements.calendar(agreement)
        context = context_of(event)
        opening = _Opening(event, event_id, published, context, store.contexts.prepare(context),
                           uuid_key(event_id))
        for opener in self.openers:
            try:
                specs = opener(event, agreement, calendar) or []
            except Exception:
                log.exception("opener %s failed on event %s (%s)", getattr(opener, "__name__", opener),
                              event_id, etype)
                continue
            for spec in specs:
                if corrected and spec.satisfied_by_opening_event:
                    continue
                changes.extend(self._open_spec(spec, agreement, opening))
        return changes

    def _open_spec(self, spec: ObligationSpec, agreement: Agreement, opening: "_Opening") -> list[Change]:
        event, event_id, published = opening.event, opening.event_id, opening.published
        target = spec.agreement or agreement
        item_ref = spec.item_ref or event["item_ref"]
        key = b"\x00" + obligation_uuid(target.agreement_id, item_ref, spec.kind, event_id, spec.discriminator)
        oid = id_text(key)
        if key in self._closed:
            return []  # a replay of the opening event
        slot = self._store.ids.find(key)
        if slot >= 0:
            if not spec.satisfied_by_opening_event:
                return []  # a replay of the opening event
            # Restored open although its own opening event performs it: a crash fell between
            # recording 'opened' and 'satisfied'. Finish it now instead of leaving it open forever.
            ob, known = self._store.obligation(slot), self._store.context(slot)
            self._forget(slot)
            return self._perform_at_once(ob, event, event_id, published, [], known)
        ob = Obligation(
            obligation_id=oid, agreement_id=target.agreement_id, agreement_version=target.version,
            item_ref=item_ref, category=spec.category, kind=spec.kind,
            responsible_party_role=spec.responsible_party_role,
            responsible_party_id=target.party_id(spec.responsible_party_role),
            due_at=required_utc(spec.due_at, "due_at"), deadline=spec.deadline, starts_from=spec.starts_from,
            start_at=required_utc(spec.start_at, "start_at"), opened_by_event_id=event_id, opened_at=published,
            rule=spec.rule, satisfied_by=spec.satisfied_by, satisfier_role=spec.satisfier_role,
            classification=spec.classification, calendar_note=spec.calendar_note,
            custom_description=spec.description)
        own_context = dict(opening.context, agreement_id=ob.agreement_id, item_ref=ob.item_ref)
        changes = [Change("opened", ob, published, context=own_context)]
        if spec.satisfied_by_opening_event:
            return self._perform_at_once(ob, event, event_id, published, changes, own_context)
        self._insert(ob, opening.prepared, key, opening.event_key)
        return changes

    def _perform_at_once(self, ob: Obligation, event: dict, event_id: str, published: datetime,
                         changes: list[Change], context: dict | None) -> list[Change]:
        """The opening event is itself the performance (NOTIFY): satisfied, or a late breach."""
        key = id_key(ob.obligation_id)
        if published <= ob.due_at:
            self._closed.add(key, to_us(published))
            changes.append(Change("satisfied", ob._replace(state=State.SATISFIED, satisfied_by_event_id=event_id),
                                  published, reason=f"{event.get('event_type')} {event_id} published in time",
                                  context=context))
        else:
            # Art. 7: a notification later than agreed is a breach, recorded at once.
            late = published - ob.due_at
            reason = (f"late notification: published {_iso(published)}, due {_iso(ob.due_at)} "
                      f"({human_span(late)} late)")
            breached = ob._replace(state=State.BREACHED, satisfied_by_event_id=event_id, late=True)
            self._closed.add(key, to_us(published))
            changes.append(Change("breached", breached, published, reason=reason, breach="late_notification",
                                  context=context))
            changes.append(Change("satisfied", breached._replace(state=State.SATISFIED), published,
                                  reason=reason, context=context))
        return changes

    # -- timers --
    def tick(self, now: datetime | None = None) -> list[Change]:
        """Fire every timer due at or before ``now``: deadlines passing (breached) and ladder steps
        (escalated), in time order. Each fires once; cost is proportional to what falls due."""
        now_us = to_us(now or self.clock())
        self._forget_closed(now_us)
        self._gauges.advance(now_us)
        changes: list[Change] = []
        store, clocks, stats = self._store, self._clocks, self.stats
        # A breach and its first step often fire together: build the obligation once for both.
        last_slot, last_ob, last_context = -1, None, None
        while True:
            entry = clocks.timers.pop_due(now_us)
            if entry is None:
                break
            stats.heap_pops += 1
            live = clocks.live(*entry)
            if live is None:
                stats.stale_pops += 1
                continue
            stats.fired += 1
            slot, token, ladder = live
            at = from_us(entry[0])
            if token == DEADLINE:
                store.set_progress(slot, State.BREACHED, store.step[slot])
                ob, context = store.obligation(slot), store.context(slot)
                reason = f"{ob.kind.value} for {ob.item_ref} was due {_iso(ob.due_at)} and has not been done"
                changes.append(Change("breached", ob, at, reason=reason, breach="overdue", context=context))
            else:
                store.set_progress(slot, State.ESCALATED, token + 1)
                if slot == last_slot and last_ob is not None:
                    ob, context = last_ob._replace(state=State.ESCALATED, ladder_step=token + 1), last_context
                else:
                    ob, context = store.obligation(slot), store.context(slot)
                changes.append(Change("escalated", ob, at, reason=None, breach="overdue",
                                      escalation=ladder.escalation(ob, token, at), context=context))
            last_slot, last_ob, last_context = slot, ob, context
            clocks.schedule_after(slot, token, ladder)
        return changes

    # -- bookkeeping --
    def _insert(self, ob: Obligation, context: Prepared | None, key: bytes | None = None,
                event_key: bytes | None = None) -> int:
        slot = self._store.insert(ob, context, key, event_key)
        self._gauges.add(slot)
        self._clocks.schedule(slot)
        return slot

    def _forget(self, slot: int) -> None:
        self._gauges.remove(slot)
        self._store.remove(slot)

    def _close(self, slot: int, ob: Obligation, action: str, at: datetime, reason: str | None = None) -> Change:
        context = self._store.context(slot)
        self._forget(slot)
        self._closed.add(id_key(ob.obligation_id), to_us(at))
        return Change(action, ob, at, reason=reason, context=context)

    def _forget_closed(self, now_us: int) -> None:
        if self.closed_retention is not None:
            self._closed.forget_before(now_us - span_us(self.closed_retention))

    # -- rebuilding from the ledger --
    def restore(self, changes: Iterable[Change | dict]) -> int:
        """Rebuild state from past changes, oldest first (Change objects or their payloads, bare or
        enveloped). Later records of an obligation win; ladder steps already recorded never fire
        again. Returns the number of open obligations."""
        return self.restore_with_contexts((change, None) for change in changes)

    def restore_with_contexts(self, records: Iterable[tuple[Change | dict, dict | None]]) -> int:
        """:meth:`restore` from (change, context) pairs: the context is the envelope of the
        ledger record (`agents.core.emitted.context_of`); the latest one of an open obligation
        is kept for the events it emits. None leaves the context as it was."""
        for item, context in records:
            change = item if isinstance(item, Change) else Change.from_payload(item)
            self._restore_one(change.obligation, change.at, context)
        return len(self._store)

    def _restore_one(self, ob: Obligation, at: datetime, context: dict | None) -> None:
        key = id_key(ob.obligation_id)
        if key in self._closed:
            return
        store = self._store
        slot = store.ids.find(key)
        if ob.state in TERMINAL:
            if slot >= 0:
                self._forget(slot)
            self._closed.add(key, to_us(at))
            return
        if slot < 0:
            self._insert(ob, store.contexts.prepare(context), key)
            return
        if (ob.ladder_step, ob.state != State.OPEN) >= (store.step[slot], store.state[slot] != _OPEN):
            # Timers already set for what the record leaves as it was are not set twice.
            timer, gauge = self._clocks.next_timer(slot), (store.phase[slot], store.due_us[slot])
            self._gauges.remove(slot)
            store.overwrite(slot, ob)
            self._gauges.add(slot, already_set=gauge)
            if self._clocks.next_timer(slot) != timer:
                self._clocks.schedule(slot)
        if context is not None:
            store.set_context(slot, store.contexts.prepare(context))

    # -- snapshot (the ledger layer decides where it is kept) --
    def snapshot(self, compress: bool = False) -> bytes:
        """Everything needed to resume: open obligations, ladder positions, closed ids, contexts,
        gauges and timers, versioned and checksummed (`snapshot.py`). ``compress``: zlib, about
        a third of the size for three times the writing time."""
        return snapshot.encode(self, compress)

    def load_snapshot(self, data: bytes) -> int:
        """Replace this engine's state with a snapshot's; raises `SnapshotInvalid` (state left as
        it was) when the data is corrupt, truncated or of another format. Returns open count."""
        snapshot.decode(data, self)
        return len(self._store)

    @classmethod
    def from_snapshot(cls, data: bytes, agreements: AgreementSet, clock: Callable[[], datetime] | None = None,
                      openers: OpenerRegistry | Iterable[Opener] | None = None,
                      closed_retention: timedelta | None = timedelta(days=90),
                      due_soon: timedelta = timedelta(hours=24)) -> "ObligationEngine":
        engine = cls(agreements, clock, openers, closed_retention, due_soon)
        engine.load_snapshot(data)
        return engine
