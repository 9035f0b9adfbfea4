"""Intake checks, without a broker: each kind of bad input gets its reason; nothing is dropped."""
import pytest

from datetime import datetime, timezone

from agents.core.intake import KEPT_BYTES, Accepted, Intake, Origin, Refusal, Rejected
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


NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)


def test_a_valid_event_is_accepted_with_the_buses_receipt(intake, codec):
    event, data = encoded(codec)
    outcome = intake.check(data, at(1), NOW)
    assert isinstance(outcome, Accepted) and not outcome.urgent
    assert outcome.event["receipt"] == {"received_at": NOW, "topic": "qc.intake.deviation", "partition": 0, "offset": 1}
    assert {k: v for k, v in outcome.event.items() if k != "receipt"} == {k: v for k, v in event.items() if k != "receipt"}


def test_a_receipt_sent_by_the_publisher_is_replaced(intake, codec):
    forged = {"received_at": datetime(2020, 1, 1, tzinfo=timezone.utc), "topic": "x", "partition": 9, "offset": 9}
    _, data = encoded(codec, receipt=forged)
    assert intake.check(data, at(3), NOW).event["receipt"]["received_at"] == NOW


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


def test_a_record_refused_twice_gets_the_same_dead_letter(intake):
    # at-least-once: intake may read a record again after a crash; the ledger keeps one dead letter.
    first, again = intake.check(b"garbage", at(7)), intake.check(b"garbage", at(7))
    assert first.dead_letter["dead_letter_id"] == again.dead_letter["dead_letter_id"]
    assert intake.check(b"garbage", at(8)).dead_letter["dead_letter_id"] != first.dead_letter["dead_letter_id"]


def test_a_dead_letter_keeps_at_most_64_kib_of_a_huge_record_and_its_digest(codec):
    import hashlib

    huge = b"\x00" * (5 * 1024 * 1024)
    letter = Intake(codec, lambda t: None).check(huge, at(1), NOW).dead_letter
    assert letter["reason_code"] == "TOO_LARGE" and len(letter["original_value"]) == KEPT_BYTES
    assert letter["original_size"] == len(huge) and letter["original_sha256"] == hashlib.sha256(huge).hexdigest()


def test_extra_checks_refuse_with_their_reason(codec):
    def unknown_agreement(event, received_at):
        raise Refusal("UNKNOWN_AGREEMENT", f"no quality agreement '{event['agreement_id']}' is known")

    intake = Intake(codec, lambda t: None, checks=[unknown_agreement])
    _, data = encoded(codec)
    outcome = intake.check(data, at(1))
    assert outcome.dead_letter["reason_code"] == "UNKNOWN_AGREEMENT"
