"""The embedded stack for `make up` and the tests: Tansu, topics, worker(s), demo traffic.

Memory storage keeps nothing: every start is an empty broker, so topics are created again from
the catalogue; the ledger (on disk) is the durable record.
"""
from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from streams.broker import EmbeddedBroker, PortTaken, free_port
from streams.processes import port_free, port_holder, spawn, stop, wait_for_log
from streams.settings import Settings, child_env

WORKER_READY = "qbus worker ready"   # agents.worker.app.READY: every stage has its partitions
DEMO_AGREEMENTS = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "agreements"


@dataclass
class WorkerProcess:
    settings: Settings
    log_path: Path
    process: object = field(default=None, init=False)

    def start(self, timeout: float = 90.0) -> "WorkerProcess":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")
        self.process = spawn([sys.executable, "-m", "agents.cli.main", "worker"], self.log_path,
                             child_env(self.settings))
        wait_for_log(self.log_path, WORKER_READY, self.process, timeout)
        return self

    def stop(self) -> None:
        stop(self.process, timeout=20)

    def kill(self) -> None:
        """SIGKILL: as a crash would, with no chance to commit or flush."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


def run_local_stack(settings: Settings, demo: bool = True, port: int = 9092) -> int:
    from streams.admin import admin_client, create_topics
    from streams.topics import TopicCatalogue

    state = Path(settings.state_dir)
    state.mkdir(parents=True, exist_ok=True)
    try:
        broker = EmbeddedBroker(port=port, log_path=state / "broker.log").start()
    except PortTaken as taken:
        # Only what `qbus up` started is used: another broker on the port is left alone.
        print(f"broker     port {taken.port} is taken by {taken.holder}; using a free port instead")
        broker = EmbeddedBroker(port=free_port(), log_path=state / "broker.log").start()
    settings = settings.model_copy(update={"bootstrap_servers": broker.bootstrap})
    ports = {}
    for name in ("worker_web_port", "metrics_port"):
        wanted = getattr(settings, name)
        if wanted and not port_free(wanted):
            ports[name] = free_port()
            print(f"ports      {name.replace('_', ' ')} {wanted} is taken by {port_holder(wanted)}; using {ports[name]}")
    settings = settings.model_copy(update=ports)
    if "require_signatures" not in settings.model_fields_set:
        # The embedded demo lets unsigned example events in; production requires signatures.
        settings = settings.model_copy(update={"require_signatures": False})
    agreements = Path(settings.agreements_dir)
    if not agreements.is_dir() and DEMO_AGREEMENTS.is_dir():
        import shutil

        shutil.copytree(DEMO_AGREEMENTS, agreements)
        print(f"agreements {agreements}/ (copied from the demo agreements; edit them or add your own)")
    else:
        print(f"agreements {agreements}/")
    print(f"ledger     {settings.ledger} (the durable record; the broker keeps nothing)")
    print(f"broker     Tansu (memory storage) on {broker.bootstrap}, pid {broker.pid}, log {state / 'broker.log'}")
    print("signatures " + ("required from every source" if settings.require_signatures else
                           "not required from registered sources (demo; QBUS_REQUIRE_SIGNATURES=true to require "
                           "them); events claiming the dashboard are always checked"))
    admin = admin_client(settings)
    try:
        created = create_topics(admin, TopicCatalogue.from_settings(settings).specs()).created
    finally:
        admin.close()
    print(f"topics     {len(created)} created from the catalogue (`qbus topics list`)")
    from agents.cli.schemas import RegistryProcess

    registry_port = settings.registry_port if port_free(settings.registry_port) else free_port()
    registry = RegistryProcess(settings, state / "registry.log", port=registry_port)
    settings = settings.model_copy(update={"embedded_registry_url": registry.url})
    worker = WorkerProcess(settings, state / "worker.log")
    dashboard = None
    try:
        registry.start()
        print(f"schema registry  {registry.url}  (for outside Kafka clients; docs/wire-format.md)")
        print("worker     starting (Faust) ...", flush=True)
        worker.start()
        print(f"worker     ready, pid {worker.process.pid}, log {worker.log_path}")
        from agents.cli.dashboard import DashboardProcess, print_demo_logins
        from agents.web.dashboard.settings import DashboardSettings
        from agents.web.dashboard.users import UserStore

        web_port = 8080 if port_free(8080) else free_port()
        dashboard = DashboardProcess(settings, state / "dashboard.log", port=web_port).start()
        print_demo_logins(UserStore(DashboardSettings.for_bus(settings).users_path), url=dashboard.url)
        if demo:
            from agents.cli.demo import publish_demo

            count = publish_demo(settings)
            print(f"demo       {count} example events published (one per category)")
        bootstrap_hint = "" if broker.port == 9092 else f"QBUS_BOOTSTRAP_SERVERS={broker.bootstrap} "
        print("\nThe bus is running. In another terminal:")
        print(f"  {bootstrap_hint}.venv/bin/qbus publish schemas/examples/deviation.json")
        print(f"  {bootstrap_hint}.venv/bin/qbus tail accepted --from-beginning")
        print(f"  {bootstrap_hint}.venv/bin/qbus tail deadletter --from-beginning")
        print(f"  {bootstrap_hint}.venv/bin/qbus obligations --overdue")
        print("  .venv/bin/qbus ledger verify")
        print("  .venv/bin/qbus tokens add my-qms --source qms-cmox-01    # a token to publish over HTTP:")
        print(f"  curl -H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' "
              f"--data-binary @schemas/examples/deviation.json {dashboard.url}api/v1/events")
        print(f"  metrics: http://127.0.0.1:{settings.metrics_port}/metrics")
        print("Ctrl-C stops everything.", flush=True)
        while all(p.poll() is None for p in (worker.process, broker.process, dashboard.process, registry.process)):
            time.sleep(0.5)
        print("a component stopped; see the logs in", state)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    finally:
        if dashboard is not None:
            dashboard.stop()
        worker.stop()
        registry.stop()
        broker.stop()
