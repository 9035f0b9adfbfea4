"""The quality alerts and Grafana panels (deploy/): they use the quality gauges the worker exports,
and each alert fires on the series it is about (promtool)."""
import json

import yaml

from tests.deploy.test_prometheus_rules import (DASHBOARD, PROMTOOL, RULES, exported_metric_names, needs_promtool,
                                                referenced_metric_names, run)

QUALITY_METRICS = {"qbus_quality_deadlines", "qbus_quality_on_time_ratio", "qbus_quality_open_items",
                   "qbus_quality_overdue_items", "qbus_quality_refreshed_timestamp_seconds"}

TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'qbus_quality_deadlines{{agreement="QA-A", category="deviation", kind="ACKNOWLEDGE", outcome="on_time"}}'
        values: '3x90'
      - series: 'qbus_quality_deadlines{{agreement="QA-A", category="deviation", kind="ACKNOWLEDGE", outcome="missed"}}'
        values: '3x90'
      - series: 'qbus_quality_deadlines{{agreement="QA-B", category="change", kind="APPROVE", outcome="on_time"}}'
        values: '9x90'
      - series: 'qbus_quality_deadlines{{agreement="QA-B", category="change", kind="APPROVE", outcome="late"}}'
        values: '1x90'
      - series: 'qbus_quality_open_items{{agreement="QA-A", category="deviation", age="over-90d"}}'
        values: '1x90'
      - series: 'qbus_quality_open_items{{agreement="QA-B", category="change", age="over-90d"}}'
        values: '0x90'
      - series: 'qbus_quality_refreshed_timestamp_seconds'
        values: '60x90'
    alert_rule_test:
      - eval_time: 70m
        alertname: QbusOnTimeRateLow
        exp_alerts:
          - exp_labels: {{severity: minor, agreement: QA-A}}
      - eval_time: 70m
        alertname: QbusItemsOpenOver90Days
        exp_alerts:
          - exp_labels: {{severity: info, agreement: QA-A, category: deviation}}
      - eval_time: 70m
        alertname: QbusQualityFiguresStale
        exp_alerts:
          - exp_labels: {{severity: minor}}
"""


def test_the_quality_gauges_are_exported_and_used():
    assert QUALITY_METRICS <= exported_metric_names()
    dashboard = json.loads(DASHBOARD.read_text())
    used = referenced_metric_names(" ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"]))
    assert {"qbus_quality_deadlines", "qbus_quality_open_items", "qbus_quality_overdue_items"} <= used
    assert {"qbus_quality_deadlines", "qbus_quality_open_items",
            "qbus_quality_refreshed_timestamp_seconds"} <= referenced_metric_names(RULES.read_text())


@needs_promtool
def test_each_quality_alert_fires_on_its_series(tmp_path):
    groups = [g for g in yaml.safe_load(RULES.read_text())["groups"] if g["name"] == "qbus-quality"]
    for rule in groups[0]["rules"]:
        rule.pop("annotations", None)
    rules = tmp_path / "quality.rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}))
    tests = tmp_path / "quality.rules.test.yml"
    tests.write_text(TESTS.format(rules=json.dumps(str(rules))))
    result = run(PROMTOOL, "test", "rules", str(tests))
    assert result.returncode == 0, result.stdout + result.stderr
