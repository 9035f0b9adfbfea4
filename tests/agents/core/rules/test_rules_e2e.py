"""End to end through the real broker and a real worker: intake -> compliance rules -> directives,
findings, escalations, holders' inboxes, dead letters.

Each test runs against a worker of its own (module scope) on its own topic prefix, with the test
agreements of tests/agents/core/rules/fixtures/agreements, so nothing here depends on the session worker.
"""
from __future__ import annotations

import sys
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from streams.broker import free_port
from agents.cli.local import WORKER_READY
from streams.settings import child_env
from streams.processes import spawn, stop, wait_for_log
from tests.agents.core.rules.support import A_CAP, A_INJ, AGREEMENTS_DIR, make

pytestmark = [pytest.mark.broker, pytest.mark.slow]
HOLDERS = ("HOLDER-A", "HOLDER-B", "HOLDER-C", "HOLDER-D")
# The worker the lead's build_worker runs (agents.worker.compliance.install added there).
WORKER_COMMAND = [sys.executable, "-m", "agents.cli.main", "worker"]


def own_settings(bus_settings, state_dir):
    """Settings of a worker of our own: its own topic prefix, group, ports, state and the test agreements."""
    from streams.admin import admin_client, create_topics
    from streams.topics import TopicCatalogue

    settings = bus_settings.model_copy(update={
        "topic_prefix": f"qr{uuid.uuid4().hex[:6]}", "app_id": f"qbus-rules-{uuid.uuid4().hex[:6]}",
        "agreements_dir": AGREEMENTS_DIR, "state_dir": state_dir,
        "worker_web_port": free_port(), "metrics_port": free_port()})
    admin = admin_client(settings)
    try:
        create_topics(admin, TopicCatalogue.from_settings(settings).specs(HOLDERS))
    finally:
        admin.close()
    return settings


def start_worker(settings, log):
    process = spawn(WORKER_COMMAND, log, child_env(settings))
    wait_for_log(log, WORKER_READY, process, 90)
    return process


@pytest.fixture(scope="module")
def rules_settings(bus_settings, tmp_path_factory):
    return own_settings(bus_settings, tmp_path_factory.mktemp("rules-state"))


@pytest.fixture(scope="module")
def rules_worker(rules_settings, tmp_path_factory):
    process = start_worker(rules_settings, tmp_path_factory.mktemp("rules-worker") / "worker.log")
    yield process
    stop(process, timeout=20)


@pytest.fixture
def catalogue(rules_settings):
    from streams.topics import TopicCatalogue

    return TopicCatalogue.from_settings(rules_settings)


@pytest.fixture
def send(rules_settings, rules_worker):
    from streams.publisher import Publisher

    with Publisher.from_settings(rules_settings) as publisher:
        yield publisher.publish


@pytest.fixture
def reader(rules_settings):
    from streams.subscriber import TopicReader

    readers = []

    def open_reader(name):
        readers.append(TopicReader.from_settings(rules_settings, name))
        return readers[-1]

    yield open_reader
    for r in readers:
        r.close()


def about(event_id):
    return lambda r: r.value is not None and (r.value.get("payload") or {}).get("triggered_by_event_id") == event_id


def as_json(event: dict) -> dict:
    """The normalized test event back in the JSON form a publisher sends."""
    def plain(v):
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v.isoformat() if hasattr(v, "isoformat") else v
    return plain(event)


def now_event(event_type, where, **kw):
    at = datetime.now(timezone.utc) - timedelta(minutes=2)
    return as_json(make(event_type, where, at=at, **kw))


@pytest.mark.clause("Art. 5")
def test_significant_risk_suspends_production_within_a_second_of_intake(send, reader, catalogue):
    event = now_event("deviation.reported", A_INJ, classification="CRITICAL", batch_no="2611-03",
                      payload={"description": "glass particles", "product_impact": True})
    sent_at = datetime.now(timezone.utc)
    send(event)
    [directive] = reader(catalogue.bus("directive")).collect(lambda f: len(f) >= 1, timeout=30,
                                                             where=about(event["event_id"]))
    assert directive.value["event_type"] == "directive.issued"
    assert directive.value["payload"]["directive"] == "SUSPEND_PRODUCTION"
    assert directive.value["published_at"] - sent_at < timedelta(seconds=1)
    inbox = reader(catalogue.inbox("HOLDER-A")).collect(
        lambda f: len(f) >= 2, timeout=30,
        where=lambda r: r.value and (r.value["event_id"] == event["event_id"] or about(event["event_id"])(r)))
    assert sorted(r.value["event_type"] for r in inbox) == ["deviation.reported", "directive.issued"]


@pytest.mark.clause("Art. 8", "Art. 10")
def test_coline_notice_reaches_both_holders_redacted_and_nobody_else(send, reader, catalogue, rules_settings):
    from agents.record.ledger import open_ledger

    event = now_event("coline_change.notified", A_INJ, payload={
        "risk_assessment_conclusion": "acceptable (RA-1)", "risk_acceptable": True,
        "new_product_holder": "HOLDER-B", "new_product_name": "secret product"})
    send(event)
    from agents.core.routing import copy_reference

    ref = copy_reference(event["event_id"])
    mine = lambda r: r.value is not None and (r.value["event_id"] == event["event_id"]
                                             or r.value.get("copy_of_event_id") == ref)
    [a] = reader(catalogue.inbox("HOLDER-A")).collect(lambda f: len(f) >= 1, timeout=30, where=mine)
    [b] = reader(catalogue.inbox("HOLDER-B")).collect(lambda f: len(f) >= 1, timeout=30, where=mine)
    assert (a.value["agreement_id"], b.value["agreement_id"]) == ("QA-HOLDERA-CMOX-001", "QA-HOLDERB-CMOX-001")
    assert a.value["payload"]["new_product_name"] is None and b.value["payload"]["new_product_holder"] is None
    assert "HOLDER-A" not in str(b.value) and "HOLDER-B" not in str(a.value)
    assert reader(catalogue.inbox("HOLDER-C")).collect(lambda f: False, timeout=3, where=mine) == []
    # B's copy is B's own record: its own id, an opaque reference to the original (whose id belongs
    # to A's chain and appears nowhere in B's copy), in B's ledger chain.
    assert b.value["event_id"] != event["event_id"] and event["event_id"] not in str(b.value)
    with open_ledger(rules_settings.ledger) as ledger:
        stored = ledger.get(b.value["event_id"])
        assert stored is not None and stored.chain == "QA-HOLDERB-CMOX-001"
        assert stored.data["payload"]["new_product_holder"] is None
        assert ledger.verify().ok


@pytest.mark.clause("Art. 8")
def test_coline_notice_without_conclusion_is_dead_lettered(send, reader, catalogue):
    event = now_event("coline_change.notified", A_INJ, payload={"risk_assessment_conclusion": None})
    send(event)
    [letter] = reader(catalogue.dead_letters).collect(
        lambda f: len(f) >= 1, timeout=30, where=lambda r: r.value and r.value["event_id"] == event["event_id"])
    assert letter.value["reason_code"] == "RULE_REFUSED"
    assert "risk_assessment_conclusion" in letter.value["reason"]


@pytest.mark.clause("Art. 9")
def test_change_implemented_before_approval_is_recorded_and_paged(send, reader, catalogue):
    event = now_event("change.implemented", A_CAP, item_ref=f"CHG-{uuid.uuid4().hex[:6]}")
    send(event)
    [finding] = reader(catalogue.bus("finding")).collect(lambda f: len(f) >= 1, timeout=30,
                                                         where=about(event["event_id"]))
    assert finding.value["payload"]["rule_id"] == "art9.change.implemented_before_approval"
    [page] = reader(catalogue.bus("escalation")).collect(
        lambda f: len(f) >= 1, timeout=30,
        where=lambda r: r.value and r.value["item_ref"] == event["item_ref"] and r.value["payload"]["page"])
    assert page.value["payload"]["channel"] == "PAGERDUTY"


@pytest.mark.clause("Art. 5")
def test_a_restarted_worker_remembers_the_suspension_from_the_ledger(bus_settings, tmp_path):
    from streams.publisher import Publisher
    from streams.subscriber import TopicReader
    from streams.topics import TopicCatalogue

    settings = own_settings(bus_settings, tmp_path / "state")
    catalogue = TopicCatalogue.from_settings(settings)
    deviation = now_event("deviation.reported", A_INJ, classification="CRITICAL", payload={"product_impact": True})
    # A worker suspends production on a significant risk, then stops.
    worker = start_worker(settings, tmp_path / "first.log")
    try:
        with Publisher.from_settings(settings) as publisher, \
                TopicReader.from_settings(settings, catalogue.bus("directive")) as directives:
            publisher.publish(deviation)
            [issued] = directives.collect(lambda f: len(f) >= 1, timeout=30, where=about(deviation["event_id"]))
    finally:
        stop(worker, timeout=20)
    # A new worker rebuilds the rule state from the ledger; the holder approves resumption.
    worker = start_worker(settings, tmp_path / "second.log")
    try:
        resumed = now_event("production.resumed", A_INJ, payload={
            "approved_by_holder": True, "holder_approval_ref": "APPR-1",
            "suspended_by_directive_id": issued.value["payload"]["directive_id"]})
        with Publisher.from_settings(settings) as publisher, \
                TopicReader.from_settings(settings, catalogue.bus("directive")) as directives:
            publisher.publish(resumed)
            [lifted] = directives.collect(lambda f: len(f) >= 1, timeout=30, where=about(resumed["event_id"]))
    finally:
        stop(worker, timeout=20)
    assert lifted.value["event_type"] == "directive.lifted"
    assert lifted.value["payload"]["directive_id"] == issued.value["payload"]["directive_id"]
