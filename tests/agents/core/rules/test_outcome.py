"""The envelope of what the bus emits: valid for its schema, deterministic ids, bus as source."""
import pytest

from agents.core.rules.outcome import Outcome, Page, bus_event, page_escalation_payload
from schemas import default_schemas
from streams.validation import validate_event
from tests.agents.core.rules.support import A_INJ, T0, days, make

FINDING = {"rule_id": "art9.change.implemented_before_approval", "article": "Art. 9", "severity": "CRITICAL",
           "message": "Change implemented before approval", "triggered_by_event_id": None, "obligation_id": None}
DIRECTIVE = {"directive_id": "d-1", "directive": "SUSPEND_PRODUCTION", "line_id": "LINE-INJ-2",
             "product_code": "HA-ONS-2ML", "reason": "Sterility failure", "article": "Art. 5",
             "triggered_by_event_id": None}


@pytest.mark.parametrize("event_type, payload", [
    ("finding.violation_recorded", FINDING),
    ("finding.breach_recorded", FINDING),
    ("finding.warning_raised", FINDING),
    ("directive.issued", DIRECTIVE),
    ("directive.lifted", {**DIRECTIVE, "directive": "RESUME_PRODUCTION"}),
])
def test_every_kind_the_rules_emit_passes_validation(event_type, payload):
    about = make("deviation.reported", A_INJ, batch_no="2611-03")
    emitted = bus_event(event_type, payload, about, now=T0 + days(1))
    _, valid = validate_event(emitted, default_schemas())
    assert valid["source"] == {"system": "QBUS", "instance": "qbus-rules", "party_id": "qbus",
                               "party_role": "BUS", "user": None}
    for name in ("agreement_id", "holder_id", "manufacturer_id", "site_id", "product", "batch_no", "line_id",
                 "item_ref", "occurred_at"):
        assert valid[name] == about[name], name
    assert valid["published_at"] == T0 + days(1)


def test_page_escalation_uses_the_agreements_paging_step_and_validates(agreements):
    about = make("change.implemented", A_INJ)
    payload = page_escalation_payload(Page("art9.change.implemented_before_approval", "Art. 9", "implemented early"),
                                      about, agreements.latest("QA-HOLDERA-CMOX-001"), T0)
    assert (payload["step"], payload["role"], payload["channel"], payload["page"]) == (3, "qa_on_call", "PAGERDUTY", True)
    assert payload["recipient"] == "Night Owl"
    validate_event(bus_event("escalation.raised", payload, about, now=T0, rule_id="art9"), default_schemas())


def test_ids_are_derived_from_the_triggering_event_and_the_rule():
    about = make("deviation.reported", A_INJ)
    first = bus_event("finding.warning_raised", FINDING, about, now=T0)
    again = bus_event("finding.warning_raised", FINDING, about, now=T0 + days(3))
    other_rule = bus_event("finding.warning_raised", {**FINDING, "rule_id": "art12.x"}, about, now=T0)
    other_event = bus_event("finding.warning_raised", FINDING, make("deviation.reported", A_INJ), now=T0)
    assert first["event_id"] == again["event_id"]
    assert len({first["event_id"], other_rule["event_id"], other_event["event_id"]}) == 3


def test_outcome_bus_events_cover_findings_and_directives():
    about = make("deviation.reported", A_INJ)
    outcome = Outcome()
    outcome.violation("r1", "Art. 9", "HIGH", "one", about)
    outcome.warning("r2", "Art. 12", "HIGH", "two", about)
    events = outcome.bus_events(about, T0)
    assert [e["event_type"] for e in events] == ["finding.violation_recorded", "finding.warning_raised"]
    assert all(e["payload"]["triggered_by_event_id"] == about["event_id"] for e in events)
    assert not outcome.empty and Outcome().empty
