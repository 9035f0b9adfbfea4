"""The worker's step, pure (agents/core/pipeline.py): one accepted event becomes the records the bus
appends (rules → obligations → routing), and what goes out is derived from those records alone."""
import io
import json

import fastavro
import pytest

from agents.core.pipeline import Pipeline, outbound
from agents.core.rules import change_control
from schemas import default_schemas
from streams.canonical import canonical_json
from streams.validation import validate_event
from tests.agents.core.rules.support import A_CAP, A_INJ, B_INJ, T0, days, holder, make

SCHEMAS = default_schemas()


def encodes(event: dict) -> None:
    category = SCHEMAS.for_event_type(event["event_type"])
    fastavro.schemaless_writer(io.BytesIO(), category.parsed, validate_event(event, SCHEMAS)[1])


def types(records):
    return [r["event_type"] for r in records]


@pytest.fixture(scope="module")
def agreements():
    from agents.core.agreements import AgreementSet
    from tests.agents.core.rules.support import AGREEMENTS_DIR

    return AgreementSet.load_dir(AGREEMENTS_DIR)


@pytest.fixture
def pipeline(agreements):
    return Pipeline(agreements)


@pytest.mark.clause("Art. 5")
def test_a_critical_deviation_is_recorded_with_its_directive_and_both_reach_the_holder(pipeline, agreements):
    event = make("deviation.reported", A_INJ, classification="CRITICAL", payload={"product_impact": True})
    step = pipeline.process(event, T0)
    assert types(step.records)[:2] == ["deviation.reported", "directive.issued"]
    assert {"obligation.opened"} <= set(types(step.records))
    out = outbound(step.records, step.deliveries, agreements)
    assert sorted(r["event_type"] for where, r in out if where == "inbox:HOLDER-A") == [
        "deviation.reported", "directive.issued"]
    assert not [where for where, _ in out if where.startswith("inbox:") and where != "inbox:HOLDER-A"]
    for record in step.records:
        encodes(record)


@pytest.mark.clause("Art. 9")
def test_a_change_implemented_before_approval_pages_through_an_escalation(pipeline):
    step = pipeline.process(make("change.implemented", A_CAP, item_ref="CHG-99"), T0)
    escalation = next(r for r in step.records if r["event_type"] == "escalation.raised")
    assert escalation["payload"]["page"] is True and "finding.violation_recorded" in types(step.records)


@pytest.mark.clause("Art. 8", "Art. 10")
def test_a_coline_copy_for_another_holder_is_that_holders_own_record(pipeline, agreements):
    notice = make("coline_change.notified", A_INJ, payload={"risk_assessment_conclusion": "ok", "risk_acceptable": True,
                                                           "new_product_holder": "HOLDER-B"})
    step = pipeline.process(notice, T0)
    copies = [r for r in step.records if r.get("copy_of_event_id")]
    assert [c["agreement_id"] for c in copies] == [B_INJ["agreement_id"]]
    inboxes = {where for where, _ in outbound(step.records, step.deliveries, agreements) if where.startswith("inbox:")}
    assert inboxes == {"inbox:HOLDER-A", "inbox:HOLDER-B"}
    # B's feedback obligation is about B's own copy: B's parties, never A's.
    feedback = [r for r in step.records if r["event_type"] == "obligation.opened" and r["agreement_id"] == B_INJ["agreement_id"]]
    assert feedback and all(r["holder_id"] == "HOLDER-B" for r in feedback)
    for record in step.records:
        encodes(record)


@pytest.mark.clause("Art. 8")
def test_a_refused_event_produces_no_record(pipeline):
    step = pipeline.process(make("coline_change.notified", A_INJ, payload={"risk_assessment_conclusion": None}), T0)
    assert step.refusal is not None and step.refusal.reason_code == "RULE_REFUSED" and step.records == []


def test_a_failing_rule_never_withholds_the_event_its_copies_or_its_clocks(pipeline, agreements, monkeypatch):
    def broken(ctx):
        raise RuntimeError("a bug in a rule")
    monkeypatch.setattr(change_control, "apply", broken)
    event = make("deviation.reported", A_CAP, classification="MAJOR")
    step = pipeline.process(event, T0)
    assert types(step.records)[0] == "deviation.reported" and "obligation.opened" in types(step.records)
    assert [where for where, _ in outbound(step.records, step.deliveries, agreements)
            if where.startswith("inbox:")] == ["inbox:HOLDER-A"]
    [(failed, reason)] = step.failures
    assert failed["event_id"] == event["event_id"] and "a bug in a rule" in reason


def test_what_goes_out_is_derived_from_the_records_alone(pipeline, agreements):
    # After a crash the worker sends the last step again from the ledger, with no routing at hand.
    notice = make("coline_change.notified", A_INJ, payload={"risk_assessment_conclusion": "ok", "risk_acceptable": True})
    step = pipeline.process(notice, T0)
    first = outbound(step.records, step.deliveries, agreements)
    again = outbound([json.loads(canonical_json(r)) for r in step.records], None, agreements)
    assert [(w, r["event_id"]) for w, r in first] == [(w, r["event_id"]) for w, r in again]


def test_a_pipeline_rebuilt_from_the_records_is_in_the_same_state(pipeline, agreements):
    events = [make("deviation.reported", A_CAP, item_ref="DEV-1", classification="MAJOR", batch_no="2611-07"),
              make("change.proposed", A_CAP, item_ref="CHG-1", classification="MINOR"),
              make("deviation.acknowledged", A_CAP, item_ref="DEV-1", by=holder(), at=T0 + days(1))]
    recorded = []
    for event in events:
        recorded += pipeline.process(event, T0).records
    recorded += pipeline.tick(T0 + days(40)).records
    rebuilt = Pipeline(agreements)
    rebuilt.replay(validate_event(json.loads(canonical_json(r)), SCHEMAS)[1] for r in recorded)
    assert rebuilt.rules.state == pipeline.rules.state
    key = lambda o: (o.obligation_id, o.state, o.ladder_step)  # noqa: E731
    assert sorted(map(key, rebuilt.engine.open_obligations())) == sorted(map(key, pipeline.engine.open_obligations()))
