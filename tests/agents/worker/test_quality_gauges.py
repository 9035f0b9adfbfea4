"""The quality figures as Prometheus gauges (agents/worker/quality_gauges.py): the last 30 days'
deadlines by outcome and the open items by age, the same numbers as the dashboard."""
from prometheus_client import CollectorRegistry

from agents.record.ledger import open_ledger
from agents.worker.metrics import QbusMetrics
from agents.worker.quality_gauges import QualityGauges
from tests.agents.core.quality_metrics.records import A, Chain, end_of, local
from tests.agents.core.quality_metrics.test_figures import NOW, quarter


def gauges_over(tmp_path, records):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.append(records)
    registry = CollectorRegistry()
    gauges = QualityGauges(QbusMetrics(registry), ledger, clock=lambda: NOW)
    return ledger, registry, gauges


def value(registry, name, **labels):
    return registry.get_sample_value(f"qbus_{name}", labels)


def test_the_last_30_days_and_the_open_items_by_age(tmp_path):
    ledger, registry, gauges = gauges_over(tmp_path, quarter().events())
    assert gauges.refresh() == 1
    # 2-31 December: OOS-1's notification and acknowledgement fell due (both on time); PV-1's is not due yet.
    assert value(registry, "quality_deadlines", agreement=A, category="oos_oot", kind="ACKNOWLEDGE",
                 outcome="on_time") == 1
    assert value(registry, "quality_on_time_ratio", agreement=A, category="oos_oot", kind="ACKNOWLEDGE") == 1.0
    assert value(registry, "quality_on_time_ratio", agreement=A, category="deviation", kind="ACKNOWLEDGE") is None
    assert value(registry, "quality_open_items", agreement=A, category="deviation", age="over-90d") == 1
    assert value(registry, "quality_overdue_items", agreement=A, category="deviation", age="over-90d") == 1
    assert value(registry, "quality_open_items", agreement=A, category="oos_oot", age="8-30d") == 1
    assert value(registry, "quality_open_items", agreement=A, category="oos_oot", age="0-7d") == 0
    assert value(registry, "quality_refreshed_timestamp_seconds") > 0
    ledger.close()


def test_a_refresh_reads_only_what_is_new_and_drops_what_is_gone(tmp_path):
    ledger, registry, gauges = gauges_over(tmp_path, quarter().events())
    gauges.refresh()
    later = Chain()
    later.event("deviation.closed", "DEV-2", local("2026-12-30 09:00"), classification="MINOR")
    later.obligation("satisfied", "DEV-2", "D2-A", kind="ACKNOWLEDGE", category="deviation",
                     due=end_of("2026-10-16"), basis=local("2026-09-28 10:00"), at=local("2026-12-30 09:00"), late=True)
    ledger.append(later.events())
    assert gauges.source.refresh() == 2          # two new records, not the whole ledger again
    gauges.refresh()
    assert value(registry, "quality_open_items", agreement=A, category="deviation", age="over-90d") == 0
    assert value(registry, "quality_overdue_items", agreement=A, category="deviation", age="over-90d") == 0
    ledger.close()


def test_a_worker_exports_only_the_agreements_it_owns(tmp_path):
    ledger, registry, gauges = gauges_over(tmp_path, quarter().events())
    gauges.owned = lambda: ["QA-SOMEONE-ELSE"]
    assert gauges.refresh() == 0
    assert value(registry, "quality_open_items", agreement=A, category="deviation", age="over-90d") is None
    ledger.close()
