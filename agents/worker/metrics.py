"""Every Prometheus metric qbus exports, created against a registry passed in.

Long-running processes build one ``QbusMetrics`` on the default registry and call
``start_metrics_server``; tests build one on a fresh ``CollectorRegistry``. The alert rules in
``deploy/prometheus/rules/qbus.rules.yml`` and the Grafana dashboard use these names; a test keeps
them in step (tests/deploy/test_prometheus_rules.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class QbusMetrics:
    """The metrics, by what a QA lead or an operator asks of the bus.

    events_total{category, type, result}        every event an agent handled; result is e.g.
                                                accepted, duplicate, dead_lettered, routed
    dead_letters_total{reason}                  records sent to the dead-letter topic
    obligations_open{agreement, category}       open obligations (gauge, set from the table)
    obligations_overdue{agreement, category}    open obligations past due (gauge)
    obligations_due_soon{agreement, category}   open obligations due within 24 h (gauge)
    escalations_total{step}                     escalation steps reached
    directives_total{agreement, directive}      compliance directives issued (production.suspended)
    notification_attempts_total{channel, outcome}  delivery attempts: delivered, failed, gave_up
    processing_seconds{agent}                   time to handle one event (histogram)
    consumer_lag{group, topic, partition}       messages behind the log end (set by the caller)
    stage_failures_total{stage}                 records a stage could not process (dead-lettered)
    agreements_refused_total                    agreement records of the agreements topic refused
    step_records{stage}                         records appended per ledger transaction (histogram)
    step_seconds{stage, phase}                  time a step spends deciding, appending, sending, committing
    quality_deadlines{agreement, category, kind, outcome}  deadlines due in the last 30 days: on_time,
                                                late (met after it) or missed (not met yet); kind is
                                                NOTIFY, ACKNOWLEDGE, APPROVE or CLOSE
    quality_on_time_ratio{agreement, category, kind}  on_time / all of the above (absent when none fell due)
    quality_open_items{agreement, category, age}     open items by days open: 0-7d, 8-30d, 31-90d, over-90d
    quality_overdue_items{agreement, category, age}  of which with something overdue
    quality_refreshed_timestamp_seconds         when the quality figures were last read from the ledger
    (the quality figures are set by `agents.worker.quality_gauges.QualityGauges`, README "Quality metrics")
    """

    def __init__(self, registry: CollectorRegistry, namespace: str = "qbus") -> None:
        self.registry = registry
        kw = {"namespace": namespace, "registry": registry}
        self.events = Counter(
            "events", "Events handled by the agents, by category, event type and result.",
            ["category", "type", "result"], **kw)
        self.dead_letters = Counter(
            "dead_letters", "Records routed to the dead-letter topic, by reason.",
            ["reason"], **kw)
        self.obligations_open = Gauge(
            "obligations_open", "Open obligations, by quality agreement and category.",
            ["agreement", "category"], **kw)
        self.obligations_overdue = Gauge(
            "obligations_overdue", "Open obligations past their due time, by agreement and category.",
            ["agreement", "category"], **kw)
        self.obligations_due_soon = Gauge(
            "obligations_due_soon", "Open obligations due within the next 24 hours, by agreement and category.",
            ["agreement", "category"], **kw)
        self.escalations = Counter(
            "escalations", "Escalation ladder steps reached, by step number.",
            ["step"], **kw)
        self.directives = Counter(
            "directives", "Compliance directives issued (e.g. production.suspended), by agreement.",
            ["agreement", "directive"], **kw)
        self.notification_attempts = Counter(
            "notification_attempts", "Notification delivery attempts, by channel and outcome.",
            ["channel", "outcome"], **kw)
        self.processing_seconds = Histogram(
            "processing_seconds", "Seconds from receiving an event to finishing with it, by agent.",
            ["agent"], buckets=LATENCY_BUCKETS, **kw)
        self.consumer_lag = Gauge(
            "consumer_lag", "Messages between the committed offset and the log end.",
            ["group", "topic", "partition"], **kw)
        self.agreements_refused = Counter(
            "agreements_refused", "Records of the agreements topic the worker refused (see its log for why).", **kw)
        self.stage_failures = Counter(
            "stage_failures", "Records a stage of the worker could not process; each is dead-lettered.",
            ["stage"], **kw)
        self.step_seconds = Histogram(
            "step_seconds", "Seconds one step of a stage spends in each phase (decide, append, send, commit).",
            ["stage", "phase"], buckets=LATENCY_BUCKETS, **kw)
        self.quality_deadlines = Gauge(
            "quality_deadlines", "Deadlines due in the last 30 days, by agreement, category, timeline (kind) and "
            "outcome: on_time, late (met after the deadline) or missed (not met yet).",
            ["agreement", "category", "kind", "outcome"], **kw)
        self.quality_on_time_ratio = Gauge(
            "quality_on_time_ratio", "Share of the deadlines due in the last 30 days that were met on time, by "
            "agreement, category and timeline (NOTIFY, ACKNOWLEDGE, APPROVE, CLOSE).",
            ["agreement", "category", "kind"], **kw)
        self.quality_open_items = Gauge(
            "quality_open_items", "Open items by how long they have been open (age 0-7d, 8-30d, 31-90d, over-90d), "
            "by agreement and category.", ["agreement", "category", "age"], **kw)
        self.quality_overdue_items = Gauge(
            "quality_overdue_items", "Open items with an overdue obligation, by age, agreement and category.",
            ["agreement", "category", "age"], **kw)
        self.quality_refreshed = Gauge(
            "quality_refreshed_timestamp_seconds", "When the quality figures were last computed from the ledger "
            "(Unix time; 0 until the first time).", **kw)
        self._quality_labels: dict[Gauge, set[tuple[str, ...]]] = {}
        self.step_records = Histogram(
            "step_records", "Records appended to the ledger in one transaction, by stage.",
            ["stage"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000), **kw)

    # Small helpers so call sites read as what happened.

    def event_handled(self, category: str, event_type: str, result: str) -> None:
        self.events.labels(category=category, type=event_type, result=result).inc()

    def dead_lettered(self, reason: str) -> None:
        self.dead_letters.labels(reason=reason).inc()

    def set_obligations(self, agreement: str, category: str, open_: int, overdue: int, due_soon: int = 0) -> None:
        self.obligations_open.labels(agreement=agreement, category=category).set(open_)
        self.obligations_overdue.labels(agreement=agreement, category=category).set(overdue)
        self.obligations_due_soon.labels(agreement=agreement, category=category).set(due_soon)

    def set_quality(self, samples: dict[str, dict[tuple[str, ...], float]], at: float) -> None:
        """Replace the quality gauges' values: `samples` maps a gauge attribute name (quality_deadlines,
        quality_on_time_ratio, quality_open_items, quality_overdue_items) to {label values: value}. Label
        sets that are gone are removed, not left at their last value."""
        for name, values in samples.items():
            gauge = getattr(self, name)
            for labels in self._quality_labels.get(gauge, set()) - set(values):
                gauge.remove(*labels)
            for labels, value in values.items():
                gauge.labels(*labels).set(value)
            self._quality_labels[gauge] = set(values)
        self.quality_refreshed.set(at)

    def stage_failed(self, stage: str) -> None:
        self.stage_failures.labels(stage=stage).inc()

    def escalated(self, step: int) -> None:
        self.escalations.labels(step=str(step)).inc()

    def directive_issued(self, agreement: str, directive: str) -> None:
        self.directives.labels(agreement=agreement, directive=directive).inc()

    def set_consumer_lag(self, group: str, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(group=group, topic=topic, partition=str(partition)).set(lag)

    @contextmanager
    def time_phase(self, stage: str, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.step_seconds.labels(stage=stage, phase=phase).observe(time.perf_counter() - start)

    @contextmanager
    def time_processing(self, agent: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.processing_seconds.labels(agent=agent).observe(time.perf_counter() - start)


@dataclass
class MetricsServer:
    """The running ``/metrics`` endpoint; ``stop()`` shuts it down."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_server(
    registry: CollectorRegistry, port: int, addr: str = "127.0.0.1"
) -> MetricsServer:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread (port 0: any free)."""
    started = start_http_server(port, addr=addr, registry=registry)
    if not isinstance(started, tuple):  # prometheus-client before 0.20 returned nothing
        raise RuntimeError("start_metrics_server needs prometheus-client >= 0.20")
    server, thread = started
    return MetricsServer(server, thread)
