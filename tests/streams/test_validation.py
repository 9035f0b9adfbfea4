"""Validation names the field and the problem, in plain words."""
import pytest

from schemas import default_schemas
from streams.validation import EventInvalid, validate_event
from tests.support.events import example

SCHEMAS = default_schemas()


def problems_of(event) -> dict[str, str]:
    with pytest.raises(EventInvalid) as caught:
        validate_event(event, SCHEMAS)
    return {p.path: p.message for p in caught.value.problems}


@pytest.mark.parametrize("category", sorted(SCHEMAS.examples()))
def test_every_committed_example_is_valid(category):
    schema, value = validate_event(example(category), SCHEMAS)
    assert schema.category == category
    assert value["occurred_at"].tzinfo is not None


def test_missing_required_field_is_named():
    event = example("deviation")
    del event["item_ref"]
    assert "is missing" in problems_of(event)["item_ref"]


def test_misspelt_field_gets_a_suggestion():
    event = example("deviation")
    event["agreemnt_id"] = event.pop("agreement_id")
    found = problems_of(event)
    assert "did you mean 'agreement_id'" in found["agreemnt_id"]
    assert "is missing" in found["agreement_id"]


def test_unknown_enum_symbol_lists_the_allowed_ones():
    found = problems_of(example("deviation", classification="majr"))
    assert "'majr' is not one of" in found["classification"]
    assert "MAJOR" in found["classification"]


def test_enum_case_is_forgiven():
    _, value = validate_event(example("deviation", classification="major"), SCHEMAS)
    assert value["classification"] == "MAJOR"


def test_timestamp_without_zone_is_refused():
    found = problems_of(example("deviation", occurred_at="2026-11-20T08:30:00"))
    assert "no time zone" in found["occurred_at"]


def test_event_id_must_be_a_uuid():
    assert "not a UUID" in problems_of(example("deviation", event_id="42"))["event_id"]


def test_unknown_category_and_action():
    with pytest.raises(EventInvalid) as caught:
        validate_event(example("deviation", event_type="deviaton.reported"), SCHEMAS)
    assert caught.value.reason_code == "UNKNOWN_EVENT_TYPE"
    assert "unknown category 'deviaton'" in str(caught.value)
    with pytest.raises(EventInvalid) as caught:
        validate_event(example("deviation", event_type="deviation.exploded"), SCHEMAS)
    assert "'exploded' is not an action of deviation" in str(caught.value)


def test_blank_identifiers_are_refused():
    assert problems_of(example("deviation", agreement_id="  "))["agreement_id"] == "must not be empty"


def test_wrong_type_in_payload_names_the_path():
    event = example("deviation")
    event["payload"] = dict(event["payload"], product_impact="yes")
    assert problems_of(event)["payload.product_impact"] == "must be true or false"


def test_a_named_type_used_only_in_the_payload_resolves():
    # The payload refers to qbus.Classification by name; the envelope's own field is empty.
    event = example("change", classification=None)
    event["payload"] = dict(event["payload"], manufacturer_classification="MAJOR", holder_classification="MINOR")
    _, value = validate_event(event, SCHEMAS)
    assert value["payload"]["manufacturer_classification"] == "MAJOR"
    with pytest.raises(EventInvalid, match="payload.holder_classification: 'huge' is not one of"):
        validate_event(dict(event, payload=dict(event["payload"], holder_classification="huge")), SCHEMAS)
