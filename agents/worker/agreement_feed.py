"""The worker takes its quality agreements from the agreements topic as well as the folder (Art. 15).

At start the whole topic is read (every version of every agreement) before the stages start, so no
event is checked against terms the worker has not seen; then it follows the topic, and a revision
published while the bus runs takes effect at its ``effective_from``. Obligations opened before keep
the terms of the version they were opened under (the engine looks terms up by version). Each version
taken into force is recorded once in the agreement's own chain of the ledger (``agreement.revised``,
or ``agreement.signed`` for a first version), so the record shows which terms applied when.

A record that does not check out (not an agreement document, text changed in transit, refused by
the lint, or a version number already used with other terms) is refused with its reason in the log
and the ``qbus_agreements_refused_total`` count; the terms in force stay as they were.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import mode
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.core.agreements.published import PublishedAgreement, PublishedAgreementInvalid, agreement_of
from agents.core.emitted import bus_event, derived_id
from agents.worker.bus import Bus

log = logging.getLogger(__name__)
IDLE_SECONDS = 1.5     # at start: the topic is read until nothing new comes for this long


class AgreementFeed(mode.Service):
    def __init__(self, bus: Bus, on_new=None, **kwargs):
        """``on_new(agreement)``: told of every agreement version taken in (the core stage adopts it)."""
        super().__init__(**kwargs)
        self.bus = bus
        self.on_new = on_new
        self.consumer: AIOKafkaConsumer | None = None
        self.taken = 0

    async def on_start(self) -> None:
        self.consumer = AIOKafkaConsumer(enable_auto_commit=False, group_id=None, auto_offset_reset="earliest",
                                         fetch_max_wait_ms=self.bus.settings.fetch_max_wait_ms,
                                         **self.bus.kafka_options())
        await self.consumer.start()
        topic = self.bus.catalogue.agreements
        parts = [TopicPartition(topic, p) for p in (self.consumer.partitions_for_topic(topic) or ())]
        if not parts:
            log.warning("agreements topic %s not found: agreements come from the folder only", topic)
            return
        self.consumer.assign(parts)
        await self.consumer.seek_to_beginning(*parts)
        while True:   # the whole topic before the stages start (end offsets are not trusted on Tansu)
            batch = await self.consumer.getmany(timeout_ms=int(IDLE_SECONDS * 1000))
            if not batch:
                break
            await self._take(batch)
        if self.taken:
            log.info("agreements: %d versions taken from %s", self.taken, topic)

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    @mode.Service.task
    async def _follow(self) -> None:
        while not self.should_stop:
            if self.consumer is None or not self.consumer.assignment():
                await self.sleep(5.0)
                continue
            batch = await self.consumer.getmany(timeout_ms=1000)
            if batch:
                await self._take(batch)

    async def _take(self, batch) -> None:
        records = []
        for messages in batch.values():
            for message in messages:
                try:
                    published = agreement_of(message.value)
                except PublishedAgreementInvalid as refused:
                    self._refuse(message, str(refused))
                    continue
                if self._take_one(published, message):
                    records.append(revision_record(published))
        if records:
            await self.bus.append(records)   # the ledger only: the agreements topic is the feed itself

    def _take_one(self, published: PublishedAgreement, message) -> bool:
        agreement = published.agreement
        known = self.bus.agreements.version(agreement.agreement_id, agreement.version)
        if known is not None:
            if known.model_dump() != agreement.model_dump():
                self._refuse(message, f"version {agreement.version} of {agreement.agreement_id} is already in force "
                                      "with other terms; a revision needs a new version number (Art. 15)")
            return False
        self.bus.agreements.add(agreement)
        self.taken += 1
        log.info("agreements: %s version %d taken in, effective from %s", agreement.agreement_id, agreement.version,
                 agreement.effective_from.isoformat())
        if self.on_new is not None:
            self.on_new(agreement)
        return True

    def _refuse(self, message, reason: str) -> None:
        self.bus.metrics.agreements_refused.inc()
        log.error("agreements: the record at %s[%d]@%d is refused: %s", message.topic, message.partition,
                  message.offset, reason)


def revision_record(published: PublishedAgreement) -> dict:
    """Art. 15: the ledger's record that a version of the agreement is in force from its date."""
    agreement = published.agreement
    product = agreement.products[0] if agreement.products else None
    context = {"agreement_id": agreement.agreement_id, "holder_id": agreement.holder.id,
               "manufacturer_id": agreement.manufacturer.id, "site_id": product.site_id if product else "",
               "product": {"code": product.code, "generic_name": product.generic_name,
                           "dosage_form": product.dosage_form, "sterile": bool(product.sterile)} if product else
               {"code": "", "generic_name": "", "dosage_form": "", "sterile": False},
               "batch_no": None, "line_id": None, "item_ref": agreement.agreement_id, "classification": None}
    action = "signed" if agreement.version == 1 else "revised"
    payload = {"version": str(agreement.version), "previous_version": str(agreement.version - 1) if action == "revised"
               else None, "effective_from": agreement.effective_from.date(), "document_ref": None,
               "document_sha256": published.sha256, "signatories": [],
               "change_summary": f"version {agreement.version} taken into force by the bus from the agreements topic "
                                 f"(published {published.published_at})",
               "terminated_on": None, "termination_reason": None, "responds_to_event_id": None, "note": None}
    return bus_event(f"agreement.{action}", payload, context,
                     event_id=derived_id("agreement", agreement.agreement_id, agreement.version, published.sha256),
                     occurred_at=agreement.effective_from, now=datetime.now(timezone.utc))

