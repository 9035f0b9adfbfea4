"""The notify stage: escalations and suspension directives reach the agreement's people, once.

It reads ``qc.escalations``, ``qc.directives`` and ``qc.obligations`` (a satisfied or cancelled
obligation stops its retries). Deliveries run in the background with retries and backoff, so a
slow channel never holds up the next record; each attempt becomes a ``delivery.*`` record in the
ledger. What was delivered is marked in the ledger (`LedgerDedupeStore`), which every worker
shares, so a redelivered escalation, a restart or another worker taking over pages nobody twice.
A ladder step that reaches nobody raises the next step at once (issue 7).
"""
from __future__ import annotations

import asyncio
import logging

from aiokafka import ConsumerRecord, TopicPartition

from agents.worker.bus import EVENT_TYPE_HEADER, Bus
from agents.worker.notify.dedupe import LedgerDedupeStore
from agents.worker.notify.dispatcher import Dispatcher
from agents.worker.notify.retry import RetryPolicy
from agents.worker.notify.service import NotifierService, channels_from_settings
from agents.worker.stage import Stage

log = logging.getLogger(__name__)
RECEIPT_BATCH_SECONDS = 0.05
# What this stage acts on; a record without the type header is decoded and looked at (older senders).
WANTED = frozenset({"escalation.raised", "directive.issued", "obligation.satisfied", "obligation.cancelled", None})


def _event_type(record: ConsumerRecord) -> str | None:
    for key, value in record.headers or ():
        if key == EVENT_TYPE_HEADER:
            return value.decode()
    return None


class NotifyStage(Stage):
    name = "notify"

    def __init__(self, bus: Bus, **kwargs):
        super().__init__(bus, **kwargs)
        self.receipts: asyncio.Queue = asyncio.Queue()
        self.abouts: dict[str, dict] = {}
        self.dispatcher = Dispatcher(channels_from_settings(bus.settings),
                                     RetryPolicy(max_attempts=bus.settings.notify_max_attempts),
                                     LedgerDedupeStore(bus.ledger), self.receipts.put_nowait, metrics=bus.metrics)
        self.service = NotifierService(bus.agreements, self.dispatcher, bus.settings)
        self.deliveries: set[asyncio.Task] = set()

    def topics(self) -> list[str]:
        catalogue = self.bus.catalogue
        return [catalogue.bus("escalation"), catalogue.bus("directive"), catalogue.bus("obligation")]

    async def step(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        if not batch:
            return
        failures: list[dict] = []
        done: list[str] = []
        for records in batch.values():
            for record in records:
                if _event_type(record) not in WANTED:
                    continue   # an obligation opened or breached: nobody to reach for it here
                with self.guard(record, failures):
                    self._handle(self.bus.codec.decode(record.value).value, done)
        if done:
            # Remembered in the shared ledger, off the event loop, so no worker pages for them again.
            await asyncio.to_thread(lambda: [self.dispatcher.remember_acknowledged(key) for key in done])
        if failures:
            await self.bus.record_and_send(failures)
        await self.commit(batch)

    def _handle(self, event: dict, done: list[str]) -> None:
        kind = event["event_type"]
        if kind in ("obligation.satisfied", "obligation.cancelled"):
            payload = event["payload"]
            # Only an obligation that went past its deadline can have a page in flight or to come.
            if payload.get("late") or payload.get("ladder_step") or kind == "obligation.cancelled":
                self.dispatcher.acknowledge(payload["obligation_id"], remember=False)   # stops further retries
                done.append(payload["obligation_id"])
            return
        if kind == "escalation.raised":
            notification = self.service.for_escalation(event)
        elif kind == "directive.issued":
            notification = self.service.for_directive(event)
        else:
            return
        if notification is None:
            return
        if not notification.recipients:
            log.error("%s: no recipient for the role of %s; check the agreement's contacts",
                      kind, notification.notification_key)
        task = asyncio.ensure_future(self._deliver(notification, event))
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)

    async def _deliver(self, notification, about: dict) -> None:
        self.abouts[notification.notification_key] = about
        result = await self.dispatcher.dispatch(notification)
        if not result.reached_anyone and about["event_type"] == "escalation.raised":
            log.error("nobody reached for %s: %s", notification.notification_key,
                      "; ".join(f"{d.recipient.name}: {d.detail}" for d in result.deliveries) or "no recipients")
            # Issue 7: a step that reaches nobody goes up the ladder at once.
            following = self.service.next_step(about, result)
            if following is not None:
                await self.bus.record_and_send([following])

    @Stage.task
    async def _record_receipts(self) -> None:
        """Every delivery attempt as a ``delivery.*`` record, a few at a time."""
        while not self.should_stop:
            receipts = [await self.receipts.get()]
            await asyncio.sleep(RECEIPT_BATCH_SECONDS)
            while not self.receipts.empty():
                receipts.append(self.receipts.get_nowait())
            records = [self.service.receipt_event(r, self.abouts[r["notification_key"]])
                       for r in receipts if r["notification_key"] in self.abouts]
            if records:
                await self.bus.record_and_send(records)

    async def on_stop(self) -> None:
        for task in list(self.deliveries):
            task.cancel()
        await self.dispatcher.aclose()
        await super().on_stop()
