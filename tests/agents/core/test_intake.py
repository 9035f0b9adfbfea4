"""Intake checks, without a broker: each kind of bad input gets its reason; nothing is dropped."""
import pytest

from agents.core.intake import Accepted, DedupeWindow, Intake, Origin, Refusal, Rejected
from schemas import default_schemas
from streams.codec import Codec
from streams.registry import FileRegistry
from streams.validation import validate_event
from tests.support.events import example

SCHEMAS = default_schemas()


@pytest.fixture
def codec(tmp_path):
    return Codec(FileRegistry(tmp_path / "r.json"), SCHEMAS)


@pytest.fixture
def intake(codec):
    return Intake(codec, lambda topic: topic.rsplit(".", 1)[-1], max_event_bytes=10_000)


def encoded(codec, category="deviation", **changes) -> tuple[dict, bytes]:
    _, event = validate_event(example(category, **changes), SCHEMAS)
    return event, codec.encode_event(event)


def at(offset: int, topic="qc.intake.deviation") -> Origin:
    return Origin(topic, 0, offset, b"k")


def test_a_valid_event_is_accepted(intake, codec):
    event, data = encoded(codec)
    outcome = intake.check(data, at(1))
    assert isinstance(outcome, Accepted) and outcome.event == event and outcome.data == data


@pytest.mark.parametrize("value, code, words", [
    (None, "UNDECODABLE", "no value"),
    (b"hello, not avro", "UNDECODABLE", "magic byte"),
    (b"\x00" * 20_000, "TOO_LARGE", "the limit is 10000"),
])
def test_undecodable_and_oversized_input(intake, value, code, words):
    outcome = intake.check(value, at(5))
    assert isinstance(outcome, Rejected)
    letter = outcome.dead_letter
    assert letter["reason_code"] == code and words in letter["reason"]
    assert (letter["original_topic"], letter["original_partition"], letter["original_offset"]) == ("qc.intake.deviation", 0, 5)
    assert letter["original_value"] == (value or b"")


def test_event_on_the_wrong_topic(intake, codec):
    _, data = encoded(codec, "change")
    outcome = intake.check(data, at(1))
    assert outcome.dead_letter["reason_code"] == "SCHEMA_VIOLATION"
    assert "carries 'deviation' events only" in outcome.reason


def test_decodable_but_invalid_event(intake, codec):
    # Another SDK wrote valid Avro with an action the category does not have.
    event, _ = encoded(codec)
    event["event_type"] = "deviation.vanished"
    outcome = intake.check(codec.encode_event(event), at(1))
    assert outcome.dead_letter["reason_code"] == "UNKNOWN_EVENT_TYPE"
    assert outcome.dead_letter["event_id"] == event["event_id"]
    assert outcome.dead_letter["agreement_id"] == event["agreement_id"]


def test_duplicate_event_id_is_dead_lettered_but_a_redelivery_is_not(intake, codec):
    _, data = encoded(codec)
    first = intake.check(data, at(1))
    intake.remember(first, at(1))
    # at-least-once: the same record delivered again (same offset) is not a duplicate publication
    assert isinstance(intake.check(data, at(1)), Accepted)
    again = intake.check(data, at(2))
    assert again.dead_letter["reason_code"] == "DUPLICATE"
    assert "already accepted from qc.intake.deviation[0]@1" in again.reason


def test_extra_checks_refuse_with_their_reason(codec):
    def unknown_agreement(event):
        raise Refusal("UNKNOWN_AGREEMENT", f"no quality agreement '{event['agreement_id']}' is known")

    intake = Intake(codec, lambda t: None, checks=[unknown_agreement])
    _, data = encoded(codec)
    outcome = intake.check(data, at(1))
    assert outcome.dead_letter["reason_code"] == "UNKNOWN_AGREEMENT"


def test_dedupe_window_forgets_the_oldest():
    window = DedupeWindow(capacity=2)
    for n in range(3):
        window.remember(f"e{n}", ("t", 0, n))
    assert window.first_seen("e0") is None and window.first_seen("e2") == ("t", 0, 2) and len(window) == 2
