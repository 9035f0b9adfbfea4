"""Shared fixtures. Tests that need the broker get a real Tansu through `broker`; none mock it."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.settings import Settings

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    broker = EmbeddedBroker(log_path=log).start()
    yield broker
    broker.stop()
    # The fixture must leave no broker behind.
    assert broker.process.poll() is not None, "Tansu still running after stop()"


ROOT = Path(__file__).resolve().parent.parent
TEST_AGREEMENTS = [ROOT / "deploy/demo/agreements", ROOT / "tests/fixtures/agreements",
                   ROOT / "tests/fixtures/e2e_agreements"]


@pytest.fixture(scope="session")
def agreements_dir(tmp_path_factory) -> Path:
    """The demo agreements (the examples' parties) plus the second-scale test agreements."""
    import shutil

    target = tmp_path_factory.mktemp("agreements")
    for source in TEST_AGREEMENTS:
        for path in source.glob("*.yaml"):
            shutil.copy(path, target / f"{source.parent.name}-{path.name}")
    return target


class _Sinks:
    """An SMTP server and an HTTP endpoint that accept everything, for the session's worker: its
    escalations must be deliverable, or the notifier (rightly) jumps straight up the ladder."""

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from aiosmtpd.controller import Controller

        self.mails, self.posts = [], []
        sink = self

        class Mail:
            async def handle_DATA(self, server, session, envelope):
                sink.mails.append(envelope)
                return "250 OK"

        class Http(BaseHTTPRequestHandler):
            def do_POST(self):
                sink.posts.append((self.path, self.rfile.read(int(self.headers.get("Content-Length", 0)))))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.smtp = Controller(Mail(), hostname="127.0.0.1", port=free_port())
        self.smtp.start()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def close(self):
        self.smtp.stop()
        self.http.shutdown()


@pytest.fixture(scope="session")
def sinks():
    sinks = _Sinks()
    yield sinks
    sinks.close()


@pytest.fixture(scope="session")
def bus_settings(broker, agreements_dir, sinks, tmp_path_factory) -> Settings:
    state = tmp_path_factory.mktemp("state")
    return Settings(bootstrap_servers=broker.bootstrap, state_dir=state, store="memory://",
                    agreements_dir=agreements_dir, smtp_host="127.0.0.1", smtp_port=sinks.smtp.port,
                    smtp_starttls="off", pagerduty_url=f"{sinks.url}/v2/enqueue", pagerduty_routing_key="test",
                    notify_webhook_url=f"{sinks.url}/webhook", alertmanager_url=sinks.url,
                    worker_web_port=free_port(), metrics_port=free_port(),
                    app_id=f"qbus-test-{uuid.uuid4().hex[:6]}",
                    # Most end-to-end tests publish the unsigned examples, as the demo does; the
                    # trust tests (tests/agents/worker/test_trust_e2e.py) run with signatures required.
                    require_signatures=False)


@pytest.fixture(scope="session")
def topics(bus_settings):
    from streams.admin import admin_client, create_topics
    from streams.topics import TopicCatalogue

    admin = admin_client(bus_settings)
    try:
        create_topics(admin, TopicCatalogue.from_settings(bus_settings).specs())
    finally:
        admin.close()
    return TopicCatalogue.from_settings(bus_settings)


@pytest.fixture(scope="session")
def worker(bus_settings, topics, tmp_path_factory):
    """One Faust worker (all agents) in a child process, shared by the session's end-to-end tests."""
    from agents.cli.local import WorkerProcess

    proc = WorkerProcess(bus_settings, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield proc
    proc.stop()


@pytest.fixture
def publisher(bus_settings, topics):
    from streams.publisher import Publisher

    with Publisher.from_settings(bus_settings) as pub:
        yield pub


@pytest.fixture
def read_topic(bus_settings):
    """read_topic(name) -> TopicReader from the beginning; closed after the test."""
    from streams.subscriber import TopicReader

    readers = []

    def open_reader(name: str, from_beginning: bool = True) -> TopicReader:
        reader = TopicReader.from_settings(bus_settings, name, from_beginning)
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        reader.close()


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def isolated_stack(bus_settings, tmp_path):
    """Settings for a stack of its own on the shared broker: own topic prefix, group, ledger, ports.

    For tests that kill and restart workers without disturbing the session's worker."""
    from streams.admin import admin_client, create_topics
    from streams.topics import TopicCatalogue

    prefix = f"iso{uuid.uuid4().hex[:6]}"
    settings = bus_settings.model_copy(update={
        "topic_prefix": prefix, "app_id": f"qbus-{prefix}", "state_dir": tmp_path / "state",
        "worker_web_port": free_port(), "metrics_port": free_port()})
    admin = admin_client(settings)
    try:
        create_topics(admin, TopicCatalogue.from_settings(settings).specs())
    finally:
        admin.close()
    return settings
