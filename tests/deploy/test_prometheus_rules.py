"""deploy/prometheus and deploy/grafana: the files are valid, the alerts fire on the right series,
and a real Prometheus scraping a process that exposes qbus metrics fires the overdue alert."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from contextlib import contextmanager
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from agents.worker.metrics import QbusMetrics, start_metrics_server

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "deploy" / "prometheus"
RULES = PROM_DIR / "rules" / "qbus.rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "qbus-dashboard.json"

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus is not installed (apt-get install prometheus)")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool is not installed (apt-get install prometheus-alertmanager)")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, cwd=cwd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exported_metric_names() -> set[str]:
    """Every sample name QbusMetrics can produce (counters' _total, histograms' _bucket...)."""
    registry = CollectorRegistry()
    QbusMetrics(registry)
    names = set()
    for family in registry.collect():
        names.add(family.name)
        suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"]}
        names.update(family.name + s for s in suffixes.get(family.type, []))
    return names


def referenced_metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bqbus_[a-z_]+\b", text))


# --------------------------------------------------------------------------- static checks

@needs_promtool
def test_promtool_accepts_the_rules_file():
    result = run(PROMTOOL, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_promtool_accepts_the_prometheus_config():
    result = run(PROMTOOL, "check", "config", str(PROM_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
def test_alertmanager_example_pages_critical_and_mails_the_rest():
    config = str(PROM_DIR / "alertmanager.yml")
    check = run(AMTOOL, "check-config", config)
    assert check.returncode == 0, check.stdout + check.stderr

    def receivers(*labels: str) -> str:
        out = run(AMTOOL, "config", "routes", "test", f"--config.file={config}", *labels)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert receivers("alertname=QbusSignificantRiskDirective", "severity=critical") == "oncall-pagerduty,qa-email"
    assert receivers("alertname=QbusEscalation", "severity=critical") == "oncall-pagerduty,qa-email"
    assert receivers("alertname=QbusObligationOverdue", "severity=major") == "qa-email"


def test_rules_and_dashboard_only_use_metrics_qbus_exports():
    exported = exported_metric_names()
    rules = referenced_metric_names(RULES.read_text())
    dashboard_text = DASHBOARD.read_text()
    dashboard = json.loads(dashboard_text)
    assert rules - exported == set()
    assert referenced_metric_names(dashboard_text) - exported == set()
    # The dashboard has a panel for each family the issue asks for.
    for family in ("events", "dead_letters", "obligations_open", "obligations_overdue",
                   "escalations", "notification_attempts", "processing_seconds", "consumer_lag"):
        assert any(f"qbus_{family}" in t["expr"] for p in dashboard["panels"] for t in p["targets"]), family


def test_the_rules_cover_the_alerts_the_issue_names():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"]}
    for name in ("QbusObligationOverdue", "QbusSignificantRiskDirective", "QbusDeadLetterRate",
                 "QbusConsumerLag", "QbusWorkerDown"):
        assert name in alerts
        assert alerts[name]["labels"]["severity"] in ("critical", "major", "minor", "info")
    assert alerts["QbusSignificantRiskDirective"]["labels"]["severity"] == "critical"


# --------------------------------------------------------------------------- rule unit tests

RULE_TESTS = """\
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  # An overdue deviation obligation for 6 minutes fires; one at zero does not.
  - interval: 1m
    input_series:
      - series: 'qbus_obligations_overdue{{agreement="QA-A",category="deviation",job="qbus-worker",instance="w1"}}'
        values: '1x10'
      - series: 'qbus_obligations_overdue{{agreement="QA-B",category="change",job="qbus-worker",instance="w1"}}'
        values: '0x10'
    alert_rule_test:
      - eval_time: 3m
        alertname: QbusObligationOverdue
        exp_alerts: []
      - eval_time: 6m
        alertname: QbusObligationOverdue
        exp_alerts:
          - exp_labels: {{severity: major, agreement: QA-A, category: deviation}}
  # A production.suspended directive pages at once.
  - interval: 1m
    input_series:
      - series: 'qbus_directives_total{{agreement="QA-A",directive="production.suspended",job="qbus-worker",instance="w1"}}'
        values: '0 0 1 1 1'
    alert_rule_test:
      - eval_time: 1m
        alertname: QbusSignificantRiskDirective
        exp_alerts: []
      - eval_time: 3m
        alertname: QbusSignificantRiskDirective
        exp_alerts:
          - exp_labels: {{severity: critical, agreement: QA-A, directive: production.suspended}}
  # Dead letters at 10 a minute for a quarter of an hour.
  - interval: 1m
    input_series:
      - series: 'qbus_dead_letters_total{{reason="unknown_agreement",job="qbus-worker",instance="w1"}}'
        values: '0+10x30'
    alert_rule_test:
      - eval_time: 20m
        alertname: QbusDeadLetterRate
        exp_alerts:
          - exp_labels: {{severity: major, reason: unknown_agreement}}
  # Lag above 1000 for more than 10 minutes; a worker that stops answering.
  - interval: 1m
    input_series:
      - series: 'qbus_consumer_lag{{group="qbus",topic="intake.deviation",partition="0",job="qbus-worker",instance="w1"}}'
        values: '5000x20'
      - series: 'up{{job="qbus-worker",instance="w1"}}'
        values: '1 1 0 0 0 0 0'
    alert_rule_test:
      - eval_time: 15m
        alertname: QbusConsumerLag
        exp_alerts:
          - exp_labels: {{severity: major, group: qbus, topic: intake.deviation}}
      - eval_time: 5m
        alertname: QbusWorkerDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: qbus-worker, instance: w1}}
"""


@needs_promtool
def test_each_alert_fires_on_the_series_it_is_about(tmp_path):
    # promtool compares annotations too; they are prose (their templates are checked by
    # `promtool check rules` above), so the copy under test drops them and keeps everything else.
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules = tmp_path / "qbus.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    tests = tmp_path / "qbus.rules.test.yml"
    tests.write_text(RULE_TESTS.format(rules=json.dumps(str(rules))))
    result = run(PROMTOOL, "test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- end to end

@pytest.fixture
def overdue_worker():
    """A process exposing qbus metrics: one overdue deviation obligation under QA-A."""
    registry = CollectorRegistry()
    metrics = QbusMetrics(registry)
    metrics.set_obligations("QA-A", "deviation", open_=3, overdue=1)
    metrics.set_obligations("QA-B", "change", open_=2, overdue=0)
    server = start_metrics_server(registry, 0)
    yield server
    server.stop()


@contextmanager
def prometheus_scraping(tmp_path, target_port: int):
    """A real Prometheus scraping 127.0.0.1:target_port every second, with the production overdue
    rule (same expression) but a 2-second ``for:``."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    overdue = [dict(r, **{"for": "2s"}) for g in groups for r in g["rules"]
               if r.get("alert") == "QbusObligationOverdue"]
    rules = tmp_path / "overdue.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "qbus-test", "interval": "1s", "rules": overdue}]}))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "qbus-worker", "static_configs": [
            {"targets": [f"127.0.0.1:{target_port}"]}]}],
    }))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "prometheus did not become ready in 30 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture
def prometheus(tmp_path, overdue_worker):
    with prometheus_scraping(tmp_path, overdue_worker.port) as url:
        yield url


def firing_overdue_alerts(prometheus: str, timeout: float = 60, where=lambda labels: True) -> list[dict]:
    deadline = time.monotonic() + timeout
    firing: list[dict] = []
    while time.monotonic() < deadline and not firing:
        alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        firing = [a for a in alerts if a["labels"]["alertname"] == "QbusObligationOverdue"
                  and a["state"] == "firing" and where(a["labels"])]
        time.sleep(0.5)
    return firing


@needs_prometheus
@pytest.mark.slow
def test_prometheus_scrapes_qbus_and_the_overdue_alert_fires(prometheus):
    # Prometheus scrapes the worker each second and evaluates the rule each second; after the
    # 2-second for: the alert for QA-A's deviation fires, and QA-B (nothing overdue) stays quiet.
    firing = firing_overdue_alerts(prometheus)
    assert [(a["labels"]["agreement"], a["labels"]["category"], a["labels"]["severity"])
            for a in firing] == [("QA-A", "deviation", "major")]
    assert "QA-A" in firing[0]["annotations"]["summary"]
    up = httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="qbus-worker"}'},
                   timeout=5).json()["data"]["result"]
    assert [r["value"][1] for r in up] == ["1"]


@needs_prometheus
@pytest.mark.slow
@pytest.mark.broker
def test_prometheus_scrapes_the_real_worker_and_an_overdue_deviation_fires(worker, publisher, bus_settings, tmp_path):
    """The session's worker (tests/conftest.py): a critical deviation nobody acknowledges within
    3 s (agreement QA-TEST-E2E) makes qbus_obligations_overdue > 0, and the rule fires."""
    from tests.agents.worker.test_obligations_e2e import critical_deviation

    publisher.publish(critical_deviation())
    with prometheus_scraping(tmp_path, bus_settings.metrics_port) as url:
        firing = firing_overdue_alerts(url, timeout=60,
                                       where=lambda labels: labels.get("agreement") == "QA-TEST-E2E")
    assert [(a["labels"]["agreement"], a["labels"]["category"]) for a in firing] == [("QA-TEST-E2E", "deviation")]
