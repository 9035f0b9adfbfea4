"""QbusMetrics on a fresh registry: each metric moves as the bus does."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry

from agents.worker.metrics import QbusMetrics, start_metrics_server


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry) -> QbusMetrics:
    return QbusMetrics(registry)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_events_are_counted_by_category_type_and_result(registry, metrics):
    metrics.event_handled("deviation", "deviation.reported", "accepted")
    metrics.event_handled("deviation", "deviation.reported", "accepted")
    metrics.event_handled("deviation", "deviation.reported", "duplicate")
    assert value(registry, "qbus_events_total", category="deviation",
                 type="deviation.reported", result="accepted") == 2
    assert value(registry, "qbus_events_total", category="deviation",
                 type="deviation.reported", result="duplicate") == 1


def test_dead_letters_are_counted_by_reason(registry, metrics):
    metrics.dead_lettered("unknown_agreement")
    metrics.dead_lettered("unknown_agreement")
    metrics.dead_lettered("bad_signature")
    assert value(registry, "qbus_dead_letters_total", reason="unknown_agreement") == 2
    assert value(registry, "qbus_dead_letters_total", reason="bad_signature") == 1


def test_open_and_overdue_obligations_follow_the_table(registry, metrics):
    metrics.set_obligations("QA-HOLDERA-CMOX", "deviation", open_=3, overdue=1)
    metrics.set_obligations("QA-HOLDERA-CMOX", "deviation", open_=2, overdue=0)  # one was closed
    metrics.set_obligations("QA-HOLDERB-CMOX", "change", open_=1, overdue=1)
    labels = {"agreement": "QA-HOLDERA-CMOX", "category": "deviation"}
    assert value(registry, "qbus_obligations_open", **labels) == 2
    assert value(registry, "qbus_obligations_overdue", **labels) == 0
    assert value(registry, "qbus_obligations_overdue", agreement="QA-HOLDERB-CMOX", category="change") == 1


def test_escalations_directives_and_notification_attempts(registry, metrics):
    metrics.escalated(1)
    metrics.escalated(2)
    metrics.escalated(2)
    metrics.directive_issued("QA-HOLDERA-CMOX", "production.suspended")
    metrics.notification_attempts.labels(channel="email", outcome="failed").inc()
    metrics.notification_attempts.labels(channel="email", outcome="delivered").inc()
    assert value(registry, "qbus_escalations_total", step="2") == 2
    assert value(registry, "qbus_directives_total", agreement="QA-HOLDERA-CMOX",
                 directive="production.suspended") == 1
    assert value(registry, "qbus_notification_attempts_total", channel="email", outcome="failed") == 1


def test_processing_latency_lands_in_the_histogram(registry, metrics):
    with metrics.time_processing("obligations"):
        pass
    metrics.processing_seconds.labels(agent="obligations").observe(0.3)
    assert value(registry, "qbus_processing_seconds_count", agent="obligations") == 2
    assert value(registry, "qbus_processing_seconds_bucket", agent="obligations", le="0.25") == 1
    assert value(registry, "qbus_processing_seconds_bucket", agent="obligations", le="0.5") == 2


def test_processing_is_timed_even_when_the_handler_raises(registry, metrics):
    with pytest.raises(ValueError):
        with metrics.time_processing("intake"):
            raise ValueError("malformed")
    assert value(registry, "qbus_processing_seconds_count", agent="intake") == 1


def test_consumer_lag_is_whatever_the_caller_last_set(registry, metrics):
    metrics.set_consumer_lag("qbus", "intake.deviation", 0, 120)
    metrics.set_consumer_lag("qbus", "intake.deviation", 0, 7)
    assert value(registry, "qbus_consumer_lag", group="qbus", topic="intake.deviation", partition="0") == 7


def test_two_registries_do_not_share_values():
    a, b = CollectorRegistry(), CollectorRegistry()
    QbusMetrics(a).dead_lettered("duplicate")
    QbusMetrics(b)
    assert a.get_sample_value("qbus_dead_letters_total", {"reason": "duplicate"}) == 1
    assert b.get_sample_value("qbus_dead_letters_total", {"reason": "duplicate"}) is None


def test_the_metrics_endpoint_serves_the_registry(registry, metrics):
    metrics.set_obligations("QA-HOLDERA-CMOX", "deviation", open_=1, overdue=1)
    server = start_metrics_server(registry, 0)
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
    finally:
        server.stop()
    assert 'qbus_obligations_overdue{agreement="QA-HOLDERA-CMOX",category="deviation"} 1.0' in text
    assert "# TYPE qbus_processing_seconds histogram" in text
