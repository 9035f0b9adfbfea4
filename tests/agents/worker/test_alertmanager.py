"""The Alertmanager channel against a real Prometheus Alertmanager (Debian prometheus-alertmanager)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from agents.worker.notify import (
    AlertmanagerChannel,
    AlertmanagerSettings,
    Dispatcher,
    InMemoryDedupeStore,
    Recipient,
    RetryPolicy,
    notification_from_facts,
)

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    BINARY is None,
    reason="prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager; "
           "the Makefile installs it)",
)

CONFIG = """\
route:
  receiver: qa-null
  group_by: [alertname, agreement]
receivers:
  - name: qa-null
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AlertmanagerProcess:
    def __init__(self, tmp: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = tmp / "alertmanager.yml"
        config.write_text(CONFIG)
        self.log_path = tmp / f"alertmanager-{port}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [BINARY, f"--config.file={config}", f"--storage.path={tmp / f'am-data-{port}'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    async def ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"alertmanager exited: {self.log_path.read_text()[-2000:]}")
                try:
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"alertmanager not ready in {timeout}s: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()

    async def alerts(self, **filters: str) -> list[dict]:
        params = [("filter", f'{k}="{v}"') for k, v in filters.items()]
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(f"{self.url}/api/v2/alerts", params=params)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def start_alertmanager(tmp_path):
    started: list[AlertmanagerProcess] = []

    def start(port: int | None = None) -> AlertmanagerProcess:
        am = AlertmanagerProcess(tmp_path, port or free_port())
        started.append(am)
        return am

    yield start
    for am in started:
        am.stop()


@pytest.fixture
async def alertmanager(start_alertmanager):
    am = start_alertmanager()
    await am.ready()
    return am


def escalation(step: int, *, recipients, kind: str = "escalation", template="obligation_overdue"):
    facts = {"agreement_id": "QA-HOLDERA-CMOX", "category": "oos_oot", "severity": "critical",
             "item_ref": "OOS-2026-0013", "party": "CMO-X", "action": "notify", "step": step}
    key = f"obl-c0ffee:step{step}" if kind == "escalation" else f"obl-c0ffee:{kind}"
    return notification_from_facts(template, facts, notification_key=key, kind=kind,
                                   recipients=recipients, page=True, incident_key="obl-c0ffee")


def make_dispatcher(sleep=None):
    receipts: list[dict] = []
    policy = RetryPolicy(base=0.05, max_delay=1.0, max_attempts=4, random=lambda: 1.0,
                         **({"sleep": sleep} if sleep else {}))
    channel = AlertmanagerChannel(AlertmanagerSettings(dashboard_url="http://127.0.0.1:8080"))
    return Dispatcher({"alertmanager": channel}, policy, InMemoryDedupeStore(), receipts.append), receipts


async def test_an_escalation_shows_up_in_alertmanager_with_its_labels(alertmanager):
    qa = Recipient("holder-a-alertmanager", "alertmanager", alertmanager.url, "en")
    d, receipts = make_dispatcher()

    await d.dispatch(escalation(1, recipients=[qa]))
    await d.aclose()

    (alert,) = await alertmanager.alerts(alertname="QbusEscalation", item="OOS-2026-0013")
    assert {k: alert["labels"][k] for k in ("agreement", "category", "severity", "item", "step")} == {
        "agreement": "QA-HOLDERA-CMOX", "category": "oos_oot", "severity": "critical",
        "item": "OOS-2026-0013", "step": "1"}
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"] == "[qbus] Overdue: OOS/OOT result OOS-2026-0013 not notified by CMO-X"
    assert alert["annotations"]["summary_zh"] == "[qbus] 逾期：CMO-X OOS/OOT OOS-2026-0013 未通知"
    assert alert["generatorURL"] == "http://127.0.0.1:8080/items/OOS-2026-0013?agreement=QA-HOLDERA-CMOX"
    assert [r["outcome"] for r in receipts] == ["delivered"]


async def test_alertmanager_down_then_up_gets_the_alert_exactly_once(start_alertmanager):
    port = free_port()
    started: list = []

    async def sleep_then_start(delay: float) -> None:
        # Alertmanager comes up during the first backoff.
        if not started:
            started.append(start_alertmanager(port))
            await started[0].ready()

    qa = Recipient("holder-a-alertmanager", "alertmanager", f"http://127.0.0.1:{port}", "zh")
    d, receipts = make_dispatcher(sleep=sleep_then_start)

    result = await d.dispatch(escalation(1, recipients=[qa]))
    again = await d.dispatch(escalation(1, recipients=[qa]))  # a replay: deduped, not re-sent
    await d.aclose()

    assert [(r["attempt"], r["outcome"]) for r in receipts] == [(1, "failed"), (2, "delivered")]
    assert [x.status for x in result.deliveries] == ["delivered"]
    assert [x.status for x in again.deliveries] == ["duplicate"]
    alerts = await started[0].alerts(alertname="QbusEscalation", incident="obl-c0ffee")
    assert len(alerts) == 1
    assert alerts[0]["annotations"]["summary"] == "[qbus] 逾期：CMO-X OOS/OOT OOS-2026-0013 未通知"


async def test_resolving_ends_the_alert_of_every_step(alertmanager):
    qa = Recipient("holder-a-alertmanager", "alertmanager", alertmanager.url, "en")
    d, _ = make_dispatcher()
    await d.dispatch(escalation(1, recipients=[qa]))
    await d.dispatch(escalation(2, recipients=[qa]))
    firing = await alertmanager.alerts(incident="obl-c0ffee")
    assert sorted(a["labels"]["step"] for a in firing) == ["1", "2"]

    # The obligation is met: the resolve notice carries the last step reached.
    await d.dispatch(escalation(2, recipients=[qa], kind="resolve", template="obligation_resolved"))
    await d.aclose()

    assert await alertmanager.alerts(incident="obl-c0ffee") == []
