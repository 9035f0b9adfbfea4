"""The pure parts of the compliance agent: what it would publish, and that all of it encodes."""
import io
from types import SimpleNamespace

import fastavro
import pytest

from agents.worker.compliance import load_agreements, outgoing, refusal_record
from agents.core.rules import ComplianceRules
from schemas import default_schemas
from streams.validation import validate_event
from tests.agents.core.rules.support import A_CAP, A_INJ, AGREEMENTS_DIR, T0, make

SCHEMAS = default_schemas()


def encodes(event: dict) -> None:
    category = SCHEMAS.for_event_type(event["event_type"])
    fastavro.schemaless_writer(io.BytesIO(), category.parsed, validate_event(event, SCHEMAS)[1])


@pytest.fixture
def rules(agreements):
    return ComplianceRules(agreements, clock=lambda: T0)


@pytest.mark.clause("Art. 5")
def test_a_suspension_emits_the_directive_and_copies_it_to_the_holders_inbox(rules):
    event = make("deviation.reported", A_INJ, classification="CRITICAL", payload={"product_impact": True})
    emitted, inbox = outgoing(rules, event, rules.evaluate(event), T0)
    assert [e["event_type"] for e in emitted] == ["directive.issued"]   # the directive pages; no extra escalation
    assert sorted((h, c["event_type"]) for h, c in inbox) == [
        ("HOLDER-A", "deviation.reported"), ("HOLDER-A", "directive.issued")]
    for record in emitted + [c for _, c in inbox]:
        encodes(record)


@pytest.mark.clause("Art. 9")
def test_a_page_without_a_directive_becomes_a_paging_escalation(rules):
    event = make("change.implemented", A_CAP, item_ref="CHG-99")
    emitted, inbox = outgoing(rules, event, rules.evaluate(event), T0)
    assert sorted(e["event_type"] for e in emitted) == ["escalation.raised", "finding.violation_recorded"]
    escalation = next(e for e in emitted if e["event_type"] == "escalation.raised")
    assert escalation["payload"]["page"] is True and escalation["payload"]["channel"] == "PAGERDUTY"
    # Findings go to the holder's inbox; escalations do not (they go to people, through the notifier).
    assert sorted(c["event_type"] for _, c in inbox) == ["change.implemented", "finding.violation_recorded"]
    for record in emitted + [c for _, c in inbox]:
        encodes(record)


@pytest.mark.clause("Art. 8", "Art. 10")
def test_coline_copies_encode_for_every_inbox(rules):
    event = make("coline_change.notified", A_INJ, payload={"risk_assessment_conclusion": "ok", "risk_acceptable": True,
                                                          "new_product_holder": "HOLDER-B"})
    _, inbox = outgoing(rules, event, rules.evaluate(event), T0)
    assert sorted(h for h, _ in inbox) == ["HOLDER-A", "HOLDER-B"]
    for _, copy in inbox:
        encodes(copy)


@pytest.mark.clause("Art. 8")
def test_a_refusal_becomes_a_dead_letter_with_the_reason(rules):
    event = make("coline_change.notified", A_INJ, payload={"risk_assessment_conclusion": None})
    outcome = rules.evaluate(event)
    record = refusal_record(outcome.refusal, event, b"\x00raw", "qc.accepted", 2, 17, b"k")
    assert record["reason_code"] == "RULE_REFUSED"
    assert record["reason"].startswith("Art. 8 (art8.coline.risk_conclusion_required): ")
    assert (record["original_topic"], record["original_partition"], record["original_offset"]) == ("qc.accepted", 2, 17)
    fastavro.schemaless_writer(io.BytesIO(), SCHEMAS.dead_letter_parsed, record)


def test_agreements_load_from_the_settings_directory(tmp_path):
    assert load_agreements(SimpleNamespace(agreements_dir=AGREEMENTS_DIR)).ids()[0] == "QA-HOLDERA-CMOX-001"
    assert len(load_agreements(SimpleNamespace(agreements_dir=tmp_path / "missing"))) == 0
