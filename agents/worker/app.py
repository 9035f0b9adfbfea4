"""Build the Faust app from settings, and the `Bus` context its agents share.

There is no module-level app: `create_app(settings)` builds one, `build_worker(settings)` adds
every agent. Topics are taken from the catalogue (streams/topics.py) and declared here once.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from dataclasses import dataclass, field
from pathlib import Path

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from prometheus_client import CollectorRegistry

from schemas import SchemaSet, default_schemas
from streams.codec import Codec
from agents.worker.metrics import QbusMetrics
from streams.registry import registry_from_settings
from streams.settings import Settings
from streams.topics import TopicCatalogue, item_key

log = logging.getLogger(__name__)

_create_worker_consumer = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


def _create_worker_consumer_with_short_wait(self, transport):
    # Faust hard-codes fetch_max_wait_ms=1500; Tansu then holds every fetch for part of that
    # wait even when records are there (~1 s per hop). Lower it to the app's setting before the
    # consumer starts (its Fetcher reads the attribute at start). See ../shared/BROKER.md.
    consumer = _create_worker_consumer(self, transport)
    wait = getattr(self.app, "qbus_fetch_max_wait_ms", None)
    if wait is not None:
        consumer._fetch_max_wait_ms = wait
    return consumer


faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer_with_short_wait


def create_app(settings: Settings, app_id: str | None = None) -> faust.App:
    datadir = settings.state_dir / "faust"
    app = faust.App(
        app_id or settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        store=settings.store,
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        producer_linger_ms=1,
        # aiokafka's InitProducerId v0 is refused by Tansu, so exactly-once cannot work there;
        # every consumer is idempotent by event_id instead (BROKER.md).
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_request_timeout=settings.request_timeout_s,
        broker_max_poll_interval=settings.max_poll_interval_s,
        broker_commit_every=100,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        web_enabled=True,
        web_port=settings.worker_web_port,
        web_bind="127.0.0.1",
        table_standby_replicas=0,
    )
    app.qbus_fetch_max_wait_ms = settings.fetch_max_wait_ms
    return app


@dataclass
class Bus:
    """What every agent needs: settings, topics, codec, agreements, the ledger; and the ways out.

    The ledger is the commit point: an event counts as accepted (or dead-lettered, or emitted)
    once it is in the ledger, and only then is it sent on. The embedded broker keeps nothing, so
    a restart rebuilds from the ledger, never from topics.
    """

    app: faust.App
    settings: Settings
    schemas: SchemaSet = field(default_factory=default_schemas)
    intake_checks: list = field(default_factory=list)

    def __post_init__(self):
        from agents.core.agreements import AgreementSet
        from agents.record.ledger import open_ledger

        self.metrics = QbusMetrics(CollectorRegistry())
        self.catalogue = TopicCatalogue.from_settings(self.settings)
        self.codec = Codec(registry_from_settings(self.settings), self.schemas)
        self.agreements = AgreementSet.load_dir(self.settings.agreements_dir) \
            if Path(self.settings.agreements_dir).is_dir() else AgreementSet([])
        self.ledger = open_ledger(self.settings.ledger)
        self._intake_by_topic = {self.catalogue.intake(c): c for c in self.schemas.intake_categories}
        self._owned, self._rebuilders, self._owner_lock = False, [], asyncio.Lock()
        self.topics = {}
        for name in (self.catalogue.accepted, self.catalogue.dead_letters,
                     *[self.catalogue.bus(c) for c in self.schemas.bus_categories]):
            self.topics[name] = self.app.topic(name, value_serializer="raw", key_serializer="raw")

    def on_ownership(self, rebuild) -> None:
        """Register an async rebuild to run (in registration order) whenever this worker gains
        qc.accepted: rules first, then clocks, each from the ledger."""
        self._rebuilders.append(rebuild)

    async def owns_accepted(self) -> bool:
        """Whether this worker owns qc.accepted (one partition, so one owner in the group). The
        rules and the clocks run only in the owner; on gaining it they are rebuilt from the
        ledger, since another worker may have moved them on meanwhile."""
        from faust.types import TP

        if TP(self.catalogue.accepted, 0) not in self.app.consumer.assignment():
            self._owned = False
            return False
        if not self._owned:
            async with self._owner_lock:
                if not self._owned:
                    for rebuild in self._rebuilders:
                        await rebuild()
                    self._owned = True
        return True

    def category_of_topic(self, topic: str) -> str | None:
        return self._intake_by_topic.get(topic)

    def topic(self, name: str):
        if name not in self.topics:
            self.topics[name] = self.app.topic(name, value_serializer="raw", key_serializer="raw")
        return self.topics[name]

    def record(self, item: dict) -> str:
        """Append to the ledger: 'appended', 'duplicate' (already there, same content) or 'conflict'."""
        return self.ledger.append([item])[0].status

    async def forward_accepted(self, event: dict, data: bytes) -> str:
        status = self.record(event)
        if status != "conflict":
            await self.topics[self.catalogue.accepted].send(key=item_key(event), value=data)
        return status

    async def dead_letter(self, record: dict) -> None:
        self.metrics.dead_lettered(record["reason_code"])
        self.record(record)
        key = record.get("original_key") or (record.get("agreement_id") or "").encode() or None
        await self.topics[self.catalogue.dead_letters].send(key=key, value=self.codec.encode_dead_letter(record))

    async def emit(self, event: dict) -> bool:
        """Record and publish an event the bus made. False if the ledger already had it (a replay)."""
        if self.record(event) != "appended":
            return False
        category = event["event_type"].split(".", 1)[0]
        await self.topic(self.catalogue.bus(category)).send(key=item_key(event),
                                                            value=self.codec.encode_event(event))
        self._count(event)
        return True

    def _count(self, event: dict) -> None:
        kind = event["event_type"]
        if kind == "escalation.raised":
            self.metrics.escalated(event["payload"]["step"])
        elif kind == "directive.issued" and event["payload"].get("directive") == "SUSPEND_PRODUCTION":
            self.metrics.directive_issued(event["agreement_id"], "production.suspended")


def build_worker(settings: Settings) -> tuple[faust.App, Bus]:
    """The full worker: every agent installed on one app."""
    from agents.worker import compliance, intake
    from agents.core.admission import Admission
    from agents.core.intake import Refusal
    from agents.worker.notify import agent as notifier_agent
    from agents.worker import obligations as obligations_agent

    app = create_app(settings)
    bus = Bus(app, settings)
    # The rules first: their state is rebuilt from the ledger, and intake asks them for refusals.
    rules = compliance.install(app, bus)

    def refused_by_a_rule(event: dict) -> None:
        refusal = rules.refusal_of(event)
        if refusal is not None:
            raise Refusal(refusal.reason_code, f"{refusal.article} ({refusal.rule_id}): {refusal.reason}")

    # The dashboard signs its users' actions with its own key, which the bus trusts; its users sign
    # their decisions with their own keys.
    admission = Admission(bus.agreements, require_signatures=settings.require_signatures,
                          dashboard_keys=settings.dashboard_keys_path, user_keys=settings.user_keys_path,
                          clock_skew=timedelta(seconds=settings.clock_skew_s))
    bus.intake_checks += [admission, refused_by_a_rule]
    intake.install(app, bus)
    obligations_agent.install(app, bus, extra_openers=[rules.opener])
    notifier_agent.install(app, bus)
    install_lag_gauge(app, bus)
    return app, bus


LAG_SECONDS = 10.0


def install_lag_gauge(app, bus) -> None:
    """Consumer lag per assigned partition: broker high-water mark minus the committed offset.

    On Tansu the high-water mark is the base offset of the last batch + 1 (BROKER.md), so lag
    reads low there; on Kafka it is exact. Nothing in the bus decides from it: it is for alerts.
    """
    @app.timer(interval=LAG_SECONDS)
    async def measure_lag():
        consumer = app.consumer
        for tp in consumer.assignment():
            try:
                high = consumer.highwater(tp)
            except Exception:  # not known yet right after a rebalance
                continue
            committed = consumer._committed_offset.get(tp)  # Faust keeps the last commit per partition
            if high is None:
                continue
            lag = max(0, high - (committed + 1 if committed is not None else 0))
            bus.metrics.set_consumer_lag(app.conf.id, tp.topic, tp.partition, lag)


def holder_ids(settings: Settings) -> tuple[str, ...]:
    """Every holder of the loaded agreements: each gets its own inbox topic (Art. 10)."""
    from agents.core.agreements import AgreementSet

    if not Path(settings.agreements_dir).is_dir():
        return ()
    agreements = AgreementSet.load_dir(settings.agreements_dir, strict=False)
    return tuple(sorted({a.holder.id for aid in agreements.ids() for a in agreements.versions(aid)}))


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker in this process until stopped (SIGTERM/SIGINT)."""
    from faust.worker import Worker

    from streams.admin import admin_client, create_topics

    # Topics come from the catalogue, never from auto-create (a restarted Tansu is empty).
    holders = holder_ids(settings)
    admin = admin_client(settings)
    try:
        create_topics(admin, TopicCatalogue.from_settings(settings).specs(holders), settings.min_insync_replicas)
    finally:
        admin.close()
    app, bus = build_worker(settings)
    if settings.metrics_port:
        from agents.worker.metrics import start_metrics_server

        start_metrics_server(bus.metrics.registry, settings.metrics_port, settings.metrics_host)
        log.info("metrics on http://%s:%d/metrics (QBUS_METRICS_HOST sets the address)", settings.metrics_host,
                 settings.metrics_port)
    # -l info: Faust's default leaves the root logger at DEBUG, which costs throughput.
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
