"""The worker: one Faust app, built in one place from settings, running the bus's three stages.

`create_app(settings)` builds the Faust app (the process's lifecycle, logging and readiness);
`build_worker(settings)` adds the `Bus` and its stages as services: intake (check and admit),
core (rules, clocks, routing, one ledger transaction per step) and notify (people reached, once).
There is no module-level app. `run_worker` provisions the topics from the catalogue (never by
auto-create: a restarted memory broker is empty) and runs until SIGTERM or SIGINT.
"""
from __future__ import annotations

import asyncio
import logging
import sys

import faust
import mode

from agents.worker.agreement_feed import AgreementFeed
from agents.worker.bus import Bus
from agents.worker.core import CoreStage
from agents.worker.intake import IntakeStage
from agents.worker.notify.stage import NotifyStage
from streams.settings import Settings
from streams.topics import TopicCatalogue

log = logging.getLogger(__name__)
READY = "qbus worker ready"     # logged once every stage has its partitions; `qbus up` and the tests wait for it


def create_app(settings: Settings, app_id: str | None = None) -> faust.App:
    return faust.App(
        app_id or settings.app_id,
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        store="memory://",
        datadir=str(settings.state_dir / "faust"),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=False,
        producer_acks=-1,
        producer_linger_ms=1,
        # aiokafka's InitProducerId v0 is refused by Tansu, so exactly-once cannot work there;
        # every consumer is idempotent by event_id instead (BROKER.md).
        processing_guarantee="at_least_once",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_request_timeout=settings.request_timeout_s,
        broker_max_poll_interval=settings.max_poll_interval_s,
        web_enabled=True,
        web_port=settings.worker_web_port,
        web_bind="127.0.0.1",
    )


class Worker(mode.Service):
    """The bus and its stages, started in order and stopped in reverse."""

    def __init__(self, bus: Bus, **kwargs):
        super().__init__(**kwargs)
        self.bus = bus
        self.stages = [IntakeStage(bus), CoreStage(bus), NotifyStage(bus)]
        self.feed = AgreementFeed(bus, on_new=self._new_agreement)
        self._holders = set(bus.agreements.holders())

    async def on_start(self) -> None:
        await self.bus.start()
        # Art. 15: every agreement version on the agreements topic is known before the first event.
        await self.add_runtime_dependency(self.feed)
        for stage in self.stages:
            await self.add_runtime_dependency(stage)

    def _new_agreement(self, agreement) -> None:
        """A version taken in while running: the core stage adopts it; a new holder gets its inbox."""
        core = next(s for s in self.stages if isinstance(s, CoreStage))
        core.adopt(agreement)
        if agreement.holder.id not in self._holders:
            self._holders.add(agreement.holder.id)
            self.add_future(asyncio.to_thread(provision, self.bus.settings, self.bus.agreements))


    async def on_started(self) -> None:
        self.add_future(self._announce())
        if self.bus.settings.quality_gauges_interval_s > 0:
            self.add_future(self._quality_gauges())

    async def _quality_gauges(self) -> None:
        """The quality figures (README "Quality metrics") as gauges, for the agreements whose
        partitions this worker owns; read from the ledger off the event loop."""
        from agents.worker.quality_gauges import QualityGauges

        core = next(s for s in self.stages if isinstance(s, CoreStage))
        gauges = QualityGauges(self.bus.metrics, self.bus.ledger, self.bus.agreements,
                               owned=lambda: {a for part in list(core.parts.values()) for a in part.agreement_ids})
        await core.ready.wait()
        while not self.should_stop:
            try:
                await asyncio.to_thread(gauges.refresh)
            except Exception:  # noqa: BLE001 - figures for Grafana must never stop the bus
                log.exception("the quality gauges could not be refreshed; trying again later")
            await self.sleep(self.bus.settings.quality_gauges_interval_s)

    async def _announce(self) -> None:
        core = next(s for s in self.stages if isinstance(s, CoreStage))
        await core.ready.wait()
        log.warning("%s: intake, core (partitions %s) and notify running", READY, sorted(core.parts))

    async def on_shutdown(self) -> None:
        # After the stages have stopped (mode stops a service's children after its on_stop): the
        # core stage's checkpoints at stop still need the ledger.
        await self.bus.stop()


def build_worker(settings: Settings) -> tuple[faust.App, Worker]:
    """The full worker: the Faust app, and the bus's stages as the service the Faust worker runs."""
    app = create_app(settings)
    worker = Worker(Bus(settings))

    @app.page("/ready")
    async def ready(web, request):
        core = next(s for s in worker.stages if isinstance(s, CoreStage))
        status = 200 if core.ready.is_set() else 503
        return web.json({"ready": status == 200, "core_partitions": sorted(core.parts)}, status=status)

    return app, worker


def provision(settings: Settings, bus_agreements=None) -> None:
    """Create every topic of the catalogue, each holder's inbox included (Art. 10)."""
    from streams.admin import admin_client, create_topics

    from agents.worker.bus import load_agreements

    agreements = bus_agreements if bus_agreements is not None else load_agreements(settings)
    holders = agreements.holders()
    admin = admin_client(settings)
    try:
        create_topics(admin, TopicCatalogue.from_settings(settings).specs(holders), settings.min_insync_replicas)
    finally:
        admin.close()


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker in this process until stopped (SIGTERM/SIGINT)."""
    from faust.worker import Worker as FaustWorker

    # The ledger appends run in a thread beside the event loop; a short switch interval hands the GIL
    # between them every millisecond instead of every five, which is most of a quiet step's latency.
    sys.setswitchinterval(0.001)
    provision(settings)
    app, worker = build_worker(settings)
    if settings.metrics_port:
        from agents.worker.metrics import start_metrics_server

        start_metrics_server(worker.bus.metrics.registry, settings.metrics_port, settings.metrics_host)
        log.info("metrics on http://%s:%d/metrics (QBUS_METRICS_HOST sets the address)", settings.metrics_host,
                 settings.metrics_port)
    # -l info: Faust's default leaves the root logger at DEBUG, which costs throughput.
    FaustWorker(app, worker, loglevel=loglevel, quiet=True).execute_from_commandline()
