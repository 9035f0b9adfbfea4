"""Obligations: who must do what about which item by when, and what happens when they don't.

Pure Python, no Kafka: the agent layer feeds events to :meth:`ObligationEngine.on_event`, calls
:meth:`ObligationEngine.tick` on a timer, and publishes every returned :class:`Change` (as
``obligation.<action>`` or ``escalation.raised``) to the ledger. A restarted worker rebuilds its
state with :meth:`ObligationEngine.restore` from those same records.

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
* Timers are a binary heap holding one ``(fire_at, obligation_id, token)`` tuple per open
  obligation; satisfied obligations are not searched for in it but skipped when their entry comes
  up (lazy cancellation), so a tick costs in proportion to what falls due, not to what is open.
"""
from __future__ import annotations

import heapq
import logging
import sys
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, NamedTuple
from zoneinfo import ZoneInfo

from agents.core.agreements import Agreement, AgreementSet, LadderStep
from agents.core.calendar import WorkingCalendar
from agents.core.obligations.model import (TERMINAL, Change, Escalation, Obligation, ObligationSpec, State, _iso,
                                           as_utc, human_span)
from agents.core.obligations.openers import Opener, OpenerRegistry, _party_role, default_openers, obligation_id

log = logging.getLogger(__name__)


@dataclass
class EngineStats:
    heap_pops: int = 0      # every entry taken off the timer heap
    stale_pops: int = 0     # of which skipped: their obligation was satisfied or had moved on
    fired: int = 0          # breaches and escalation steps fired


class ObligationEngine:
    """Opens, satisfies and escalates obligations. Not thread-safe: one worker owns one engine
    (per partition of agreement + item)."""

    def __init__(self, agreements: AgreementSet, clock: Callable[[], datetime] | None = None,
                 openers: OpenerRegistry | Iterable[Opener] | None = None,
                 closed_retention: timedelta | None = timedelta(days=90)):
        """``closed_retention``: how long the ids of closed obligations are kept, so that a
        redelivered opening event does not open them again (None: forever)."""
        self.agreements = agreements
        self.closed_retention = closed_retention
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        if openers is None:
            openers = default_openers()
        self.openers = openers if isinstance(openers, OpenerRegistry) else OpenerRegistry(openers)
        self.stats = EngineStats()
        self._open: dict[str, Obligation] = {}
        self._by_item: dict[tuple[str, str], list[str]] = {}
        self._closed: set[str] = set()
        self._closed_order: deque[tuple[float, str]] = deque()
        self._heap: list[tuple[float, str, int]] = []
        self._terms_cache: dict[tuple[str, int], _Terms] = {}
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = {}

    # -- queries --
    def __len__(self) -> int:
        return len(self._open)

    def get(self, obligation_id: str) -> Obligation | None:
        return self._open.get(obligation_id)

    def is_closed(self, obligation_id: str) -> bool:
        return obligation_id in self._closed

    def open_obligations(self, agreement: str | None = None, overdue_only: bool = False,
                         now: datetime | None = None) -> list[Obligation]:
        """Open obligations, soonest due first; ``overdue_only`` keeps those past their deadline."""
        now = now or self.clock()
        out = [o for o in self._open.values()
               if (agreement is None or o.agreement_id == agreement) and (not overdue_only or o.due_at < now)]
        out.sort(key=lambda o: (o.due_at, o.obligation_id))
        return out

    def next_firing(self) -> tuple[datetime, str, int] | None:
        """When the next timer is due: (instant, obligation_id, token); token -1 = the deadline,
        k >= 0 = ladder step k. Drops stale entries on the way."""
        while self._heap:
            ts, oid, token = self._heap[0]
            ob = self._open.get(oid)
            if ob is not None and token == self._next_token(ob):
                return _from_ts(ts), oid, token
            heapq.heappop(self._heap)
        return None

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

        for oid in list(self._by_item.get((agreement_id, item_ref), ())):
            ob = self._open[oid]
            if ob.opened_by_event_id == event_id or etype not in ob.satisfied_by:
                continue
            if ob.satisfier_role is not None and ob.satisfier_role != role:
                continue
            changes.append(self._close(ob._replace(state=State.SATISFIED, satisfied_by_event_id=event_id,
                                               late=published > ob.due_at), "satisfied", published,
                                       reason=f"{etype} {event_id}"))

        corrected = event.get("corrects_event_id")
        if corrected:
            # A correction replaces what the corrected event opened (e.g. a new classification);
            # its notification already happened, so no new NOTIFY is opened.
            for oid in list(self._by_item.get((agreement_id, item_ref), ())):
                ob = self._open[oid]
                if ob.opened_by_event_id == corrected:
                    changes.append(self._close(ob._replace(state=State.CANCELLED), "cancelled", published,
                                               reason=f"corrected by {etype} {event_id}"))

        agreement = self.agreements.effective(agreement_id, published)
        if agreement is None:
            log.warning("event %s (%s): no version of agreement %s in force at %s; no obligations opened",
                        event_id, etype, agreement_id, _iso(published))
            return changes
        calendar = self.agreements.calendar(agreement)
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
                changes.extend(self._open_spec(spec, event, agreement, published))
        return changes

    def _open_spec(self, spec: ObligationSpec, event: dict, agreement: Agreement,
                   published: datetime) -> list[Change]:
        target = spec.agreement or agreement
        item_ref = spec.item_ref or event["item_ref"]
        event_id = event.get("event_id") or ""
        oid = obligation_id(target.agreement_id, item_ref, spec.kind, event_id, spec.discriminator)
        if oid in self._closed:
            return []  # a replay of the opening event
        if oid in self._open:
            if not spec.satisfied_by_opening_event:
                return []  # a replay of the opening event
            # Restored open although its own opening event performs it: a crash fell between
            # recording 'opened' and 'satisfied'. Finish it now instead of leaving it open forever.
            ob = self._open[oid]
            self._remove(ob)
            return self._perform_at_once(ob, event, event_id, published, [])
        ob = Obligation(
            obligation_id=oid,
            agreement_id=sys.intern(target.agreement_id),
            agreement_version=target.version,
            item_ref=item_ref,
            category=sys.intern(spec.category),
            kind=spec.kind,
            responsible_party_role=sys.intern(spec.responsible_party_role),
            responsible_party_id=target.party_id(spec.responsible_party_role),
            due_at=spec.due_at,
            deadline=sys.intern(spec.deadline),
            starts_from=sys.intern(spec.starts_from),
            start_at=spec.start_at,
            opened_by_event_id=event_id,
            opened_at=published,
            rule=sys.intern(spec.rule),
            satisfied_by=self._shared(spec.satisfied_by),
            satisfier_role=spec.satisfier_role,
            classification=spec.classification,
            calendar_note=spec.calendar_note,
            custom_description=spec.description,
        )
        changes = [Change("opened", ob, published)]
        if spec.satisfied_by_opening_event:
            return self._perform_at_once(ob, event, event_id, published, changes)
        self._insert(ob)
        heapq.heappush(self._heap, (ob.due_at.timestamp(), oid, -1))
        return changes

    def _perform_at_once(self, ob: Obligation, event: dict, event_id: str, published: datetime,
                         changes: list[Change]) -> list[Change]:
        """The opening event is itself the performance (NOTIFY): satisfied, or a late breach."""
        oid = ob.obligation_id
        if published <= ob.due_at:
            self._mark_closed(oid, published)
            changes.append(Change("satisfied", ob._replace(state=State.SATISFIED, satisfied_by_event_id=event_id),
                                  published, reason=f"{event.get('event_type')} {event_id} published in time"))
        else:
            # Art. 7: a notification later than agreed is a breach, recorded at once.
            late = published - ob.due_at
            reason = (f"late notification: published {_iso(published)}, due {_iso(ob.due_at)} "
                      f"({human_span(late)} late)")
            breached = ob._replace(state=State.BREACHED, satisfied_by_event_id=event_id, late=True)
            self._mark_closed(oid, published)
            changes.append(Change("breached", breached, published, reason=reason, breach="late_notification"))
            changes.append(Change("satisfied", breached._replace(state=State.SATISFIED), published,
                                  reason=reason))
        return changes

    def _shared(self, names: tuple[str, ...]) -> tuple[str, ...]:
        # One tuple object per distinct set of satisfying event types, however many obligations.
        names = tuple(sys.intern(n) for n in names)
        return self._tuples.setdefault(names, names)

    # -- timers --
    def tick(self, now: datetime | None = None) -> list[Change]:
        """Fire every timer due at or before ``now``: deadlines passing (breached) and ladder steps
        (escalated), in time order. Each fires once; cost is proportional to what falls due."""
        now = now or self.clock()
        now_ts = now.timestamp()
        self._forget_closed(now_ts)
        changes: list[Change] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ts:
            ts, oid, token = heapq.heappop(heap)
            self.stats.heap_pops += 1
            ob = self._open.get(oid)
            if ob is None or token != self._next_token(ob):
                self.stats.stale_pops += 1
                continue
            self.stats.fired += 1
            at = _from_ts(ts)
            terms = self._terms(ob)
            ladder = terms.ladder
            if token == -1:
                ob = ob._replace(state=State.BREACHED)
                reason = f"{ob.kind.value} for {ob.item_ref} was due {_iso(ob.due_at)} and has not been done"
                changes.append(Change("breached", ob, at, reason=reason, breach="overdue"))
            else:
                step = ladder[token]
                ob = ob._replace(state=State.ESCALATED, ladder_step=token + 1)
                changes.append(Change("escalated", ob, at, reason=None, breach="overdue",
                                      escalation=self._escalation(ob, step, token, terms, at)))
            self._open[oid] = ob
            nxt = token + 1
            if nxt < len(ladder):
                heapq.heappush(heap, (self._fire_ts(ob, nxt, terms), oid, nxt))
        return changes

    def _escalation(self, ob: Obligation, step: LadderStep, index: int, terms: "_Terms",
                    at: datetime) -> Escalation:
        agreement = terms.agreement
        recipients: tuple[dict, ...] = ()
        if agreement is not None:
            people = agreement.people_for_role(step.role, category=ob.category,
                                               party=ob.responsible_party_role, at=at)
            recipients = tuple({"name": p.name, "email": p.email, "phone": p.phone, "language": p.language,
                                "party": p.party} for p in people)
        total = len(terms.ladder)
        reason = (f"{ob.description}: due {ob.due_at.astimezone(terms.tz):%Y-%m-%d %H:%M %Z}, overdue by "
                  f"{human_span(at - ob.due_at)}; step {index + 1} of {total}: {step.role} by {step.channel}"
                  + (" (page)" if step.page else ""))
        if not recipients:
            reason += f"; nobody holds the role '{step.role}' at this time"
        return Escalation(index + 1, total, step.role, step.channel, step.page, reason, recipients)

    @staticmethod
    def _next_token(ob: Obligation) -> int:
        return -1 if ob.state == State.OPEN else ob.ladder_step

    def _terms(self, ob: Obligation) -> "_Terms":
        """The agreement version that opened the obligation, its ladder and the ladder's fixed
        offsets, cached per version (Art. 15: the terms in force when it was opened apply)."""
        key = (ob.agreement_id, ob.agreement_version)
        terms = self._terms_cache.get(key)
        if terms is None:
            agreement = (self.agreements.version(ob.agreement_id, ob.agreement_version)
                         or self.agreements.latest(ob.agreement_id))
            ladder = tuple(agreement.escalation_ladder) if agreement else ()
            terms = _Terms(
                agreement, ladder,
                tuple(float(st.after.seconds()) if st.after.is_wall_clock else None for st in ladder),
                self.agreements.calendar(agreement) if agreement else WorkingCalendar(),
                ZoneInfo(agreement.timezone) if agreement else timezone.utc)
            if agreement is not None:
                self._terms_cache[key] = terms
        return terms

    def _fire_ts(self, ob: Obligation, token: int, terms: "_Terms") -> float:
        due_ts = ob.due_at.timestamp()
        if token < 0:
            return due_ts
        offset = terms.offsets[token]
        if offset is not None:
            return due_ts + offset
        return terms.ladder[token].after.after(ob.due_at, terms.calendar)[0].timestamp()

    # -- bookkeeping --
    def _insert(self, ob: Obligation) -> None:
        self._open[ob.obligation_id] = ob
        self._by_item.setdefault((ob.agreement_id, ob.item_ref), []).append(ob.obligation_id)

    def _remove(self, ob: Obligation) -> None:
        self._open.pop(ob.obligation_id, None)
        key = (ob.agreement_id, ob.item_ref)
        ids = self._by_item.get(key)
        if ids is not None:
            try:
                ids.remove(ob.obligation_id)
            except ValueError:
                pass
            if not ids:
                del self._by_item[key]

    def _close(self, ob: Obligation, action: str, at: datetime, reason: str | None = None) -> Change:
        self._remove(ob)
        self._mark_closed(ob.obligation_id, at)
        return Change(action, ob, at, reason=reason)

    def _mark_closed(self, oid: str, at: datetime) -> None:
        if oid not in self._closed:
            self._closed.add(oid)
            self._closed_order.append((at.timestamp(), oid))

    def _forget_closed(self, now_ts: float) -> None:
        if self.closed_retention is None:
            return
        horizon = now_ts - self.closed_retention.total_seconds()
        order = self._closed_order
        while order and order[0][0] < horizon:
            self._closed.discard(order.popleft()[1])

    # -- rebuilding from the ledger --
    def restore(self, changes: Iterable[Change | dict]) -> int:
        """Rebuild state from past changes, oldest first (Change objects or their payloads, bare or
        enveloped). Later records of an obligation win; ladder steps already recorded never fire
        again. Returns the number of open obligations."""
        for item in changes:
            change = item if isinstance(item, Change) else Change.from_payload(item)
            ob = change.obligation
            if ob.obligation_id in self._closed:
                continue
            shared = self._shared(ob.satisfied_by)
            if shared is not ob.satisfied_by:
                ob = ob._replace(satisfied_by=shared)
            if ob.state in TERMINAL:
                self._remove(ob)
                self._mark_closed(ob.obligation_id, change.at)
            elif ob.obligation_id in self._open:
                current = self._open[ob.obligation_id]
                if (ob.ladder_step, ob.state != State.OPEN) >= (current.ladder_step, current.state != State.OPEN):
                    self._open[ob.obligation_id] = ob
            else:
                self._insert(ob)
        self._rebuild_heap()
        return len(self._open)

    def _rebuild_heap(self) -> None:
        heap: list[tuple[float, str, int]] = []
        for oid, ob in self._open.items():
            token = self._next_token(ob)
            terms = self._terms(ob)
            if token < len(terms.ladder):
                heap.append((self._fire_ts(ob, token, terms), oid, token))
        heapq.heapify(heap)
        self._heap = heap


class _Terms(NamedTuple):
    agreement: Agreement | None
    ladder: tuple[LadderStep, ...]
    offsets: tuple[float | None, ...]   # seconds after the deadline, for wall-clock steps
    calendar: WorkingCalendar
    tz: Any


def _from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)
