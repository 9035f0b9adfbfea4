"""Deliver a notification to each recipient: dedupe, retry with backoff, receipt per attempt.

For each recipient of a notification the dispatcher
1. skips it if ``<notification_key>:<recipient>`` was already delivered on that channel (the
   dedupe store survives a restart when it is the SQLite one), or if the incident was
   acknowledged (``acknowledge(key)``);
2. attempts delivery on the recipient's channel, retrying transient failures with the policy's
   backoff, until it is delivered, the channel says retrying cannot help, the attempts run out,
   or the incident is acknowledged (which also cuts a pending backoff sleep short);
3. emits a receipt dict for every attempt via ``on_receipt`` (sync or async):
   ``{notification_key, channel, recipient, attempt, outcome, detail, ...}`` where outcome is
   ``delivered``, ``failed`` (another attempt follows) or ``gave_up`` (none follows: the caller
   dead-letters the notification for that recipient and escalates to the next step).
Recipients are served concurrently; one slow channel does not hold up another.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from agents.worker.notify.channels import Channel
from agents.worker.notify.dedupe import DedupeStore
from agents.worker.notify.model import (
    ACTIONABLE_KINDS,
    Notification,
    Outcome,
    Recipient,
    dedupe_key,
    delivery_key,
)
from agents.worker.notify.retry import RetryPolicy

log = logging.getLogger(__name__)

Receipt = dict[str, Any]
OnReceipt = Callable[[Receipt], Awaitable[None] | None]
Status = Literal["delivered", "duplicate", "gave_up", "acknowledged"]

ACK_PREFIX = "ack:"


@dataclass(frozen=True)
class Delivery:
    """What happened for one recipient of one dispatch."""

    recipient: Recipient
    status: Status
    attempts: int = 0
    detail: str = ""


@dataclass(frozen=True)
class DispatchResult:
    notification_key: str
    deliveries: tuple[Delivery, ...] = field(default_factory=tuple)

    def _with(self, status: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == status]

    @property
    def delivered(self) -> list[Delivery]:
        return self._with("delivered")

    @property
    def gave_up(self) -> list[Delivery]:
        """Recipients nobody reached: dead-letter these and escalate to the next step."""
        return self._with("gave_up")

    @property
    def reached_anyone(self) -> bool:
        """Someone has it: delivered now, or delivered before a restart."""
        return any(d.status in ("delivered", "duplicate") for d in self.deliveries)


class Dispatcher:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        policy: RetryPolicy,
        dedupe_store: DedupeStore,
        on_receipt: OnReceipt | None = None,
        *,
        metrics: Any | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        """``metrics``: a ``agents.worker.metrics.QbusMetrics``; counts attempts by channel and outcome."""
        self.channels = dict(channels)
        self.policy = policy
        self.store = dedupe_store
        self.on_receipt = on_receipt
        self.metrics = metrics
        self.clock = clock
        self._acknowledged: set[str] = set()
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._in_flight: dict[str, list] = {}  # key -> [lock, users]

    # ------------------------------------------------------------------ acknowledgement

    def acknowledge(self, key: str, *, remember: bool = True) -> None:
        """Stop pending and future retries for a notification key or an incident key.

        Recorded in the dedupe store too (``remember``), so a restarted worker does not resume
        paging; a caller that writes the store off the event loop passes False and calls
        `remember_acknowledged` itself. Acknowledge and resolve notifications are still delivered.
        """
        self._acknowledged.add(key)
        if remember:
            self.remember_acknowledged(key)
        for event in self._waiters.get(key, ()):
            event.set()

    def remember_acknowledged(self, key: str) -> None:
        self.store.mark(ACK_PREFIX + key)

    def is_acknowledged(self, notification: Notification) -> bool:
        keys = {notification.notification_key, notification.incident_key}
        return any(k in self._acknowledged or self.store.seen(ACK_PREFIX + k) for k in keys)

    # ------------------------------------------------------------------ dispatch

    async def dispatch(self, notification: Notification) -> DispatchResult:
        results = await asyncio.gather(
            *(self._deliver_to(notification, r) for r in notification.recipients)
        )
        return DispatchResult(notification.notification_key, tuple(results))

    async def aclose(self) -> None:
        for channel in self.channels.values():
            await channel.aclose()

    def _stoppable(self, n: Notification) -> bool:
        return n.kind in ACTIONABLE_KINDS and self.is_acknowledged(n)

    async def _deliver_to(self, n: Notification, recipient: Recipient) -> Delivery:
        key = dedupe_key(n, recipient)
        entry = self._in_flight.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:  # a second dispatch of the same key waits, then sees it delivered
                if self.store.seen(key):
                    return Delivery(recipient, "duplicate", 0, "already delivered")
                return await self._attempts(n, recipient, key)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._in_flight[key]

    async def _attempts(self, n: Notification, recipient: Recipient, key: str) -> Delivery:
        channel = self.channels.get(recipient.channel)
        attempt = 0
        while True:
            if self._stoppable(n):
                return Delivery(recipient, "acknowledged", attempt, "acknowledged; retries stopped")
            attempt += 1
            if channel is None:
                outcome = Outcome.give_up(f"no {recipient.channel!r} channel configured")
            else:
                try:
                    outcome = await channel.deliver(n, recipient)
                except Exception as exc:  # a channel bug must not stop the ladder
                    log.exception("channel %s raised for %s", recipient.channel, key)
                    outcome = Outcome.retry(f"{type(exc).__name__}: {exc}")
            if outcome.status == "delivered":
                self.store.mark(key)
                await self._receipt(n, recipient, attempt, "delivered", outcome.detail)
                return Delivery(recipient, "delivered", attempt, outcome.detail)
            final = outcome.status == "give_up" or not self.policy.should_retry(attempt)
            if final:
                detail = outcome.detail
                if outcome.status == "retry":
                    detail = f"{detail} (after {attempt} attempts)"
                await self._receipt(n, recipient, attempt, "gave_up", detail)
                return Delivery(recipient, "gave_up", attempt, detail)
            await self._receipt(n, recipient, attempt, "failed", outcome.detail)
            await self._backoff(n, self.policy.delay(attempt, outcome.retry_after))

    async def _backoff(self, n: Notification, delay: float) -> None:
        """Sleep ``delay`` (the policy's sleep), returning early if the incident is acknowledged."""
        if n.kind not in ACTIONABLE_KINDS:
            await self.policy.sleep(delay)
            return
        woken = asyncio.Event()
        keys = (n.notification_key, n.incident_key)
        for k in keys:
            self._waiters.setdefault(k, set()).add(woken)
        sleeper = asyncio.ensure_future(self.policy.sleep(delay))
        waiter = asyncio.ensure_future(woken.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waiter):
                task.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)
            for k in keys:
                waiters = self._waiters.get(k)
                if waiters is not None:
                    waiters.discard(woken)
                    if not waiters:
                        del self._waiters[k]

    async def _receipt(
        self, n: Notification, recipient: Recipient, attempt: int, outcome: str, detail: str
    ) -> None:
        receipt: Receipt = {
            "notification_key": n.notification_key,
            "delivery_key": delivery_key(n, recipient),
            "incident_key": n.incident_key,
            "kind": n.kind,
            "agreement_id": n.agreement_id,
            "category": n.category,
            "item_ref": n.item_ref,
            "step": n.step,
            "channel": recipient.channel,
            "recipient": recipient.name,
            "attempt": attempt,
            "outcome": outcome,
            "detail": detail,
            "at": self.clock().isoformat(),
        }
        log.info("notify %s -> %s via %s attempt %d: %s %s", n.notification_key, recipient.name,
                 recipient.channel, attempt, outcome, detail)
        if self.metrics is not None:
            self.metrics.notification_attempts.labels(
                channel=recipient.channel, outcome=outcome
            ).inc()
        if self.on_receipt is not None:
            result = self.on_receipt(receipt)
            if inspect.isawaitable(result):
                await result
