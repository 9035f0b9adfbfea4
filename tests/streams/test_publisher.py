"""The publisher SDK validates before sending and confirms what the broker stored."""
import pytest

from streams.publisher import EventTooLarge
from streams.validation import EventInvalid
from tests.support.events import example


def test_published_event_arrives_on_its_intake_topic(publisher, read_topic, topics):
    event = example("oos_oot")
    event_id = publisher.publish(event)
    assert event_id == event["event_id"]
    reader = read_topic(topics.intake("oos_oot"))
    found = reader.collect(lambda rs: len(rs) >= 1, where=lambda r: r.value and r.value["event_id"] == event_id)
    assert found[0].key == f"{event['agreement_id']}|{event['item_ref']}".encode()
    assert found[0].value["event_type"] == event["event_type"]


def test_invalid_event_is_not_sent_and_the_error_names_the_field(publisher, read_topic, topics):
    event = example("deviation", classification="catastrophic")
    with pytest.raises(EventInvalid, match="classification: 'catastrophic' is not one of"):
        publisher.publish(event)
    reader = read_topic(topics.intake("deviation"))
    assert reader.collect(lambda rs: False, timeout=2,
                          where=lambda r: r.value and r.value["event_id"] == event["event_id"]) == []


def test_publish_many_sends_nothing_if_one_is_bad(publisher):
    good, bad = example("change"), example("change")
    del bad["payload"]
    with pytest.raises(EventInvalid, match="payload: is missing"):
        publisher.publish_many([good, bad])


def test_event_id_and_publication_time_are_filled_in(publisher):
    event = example("adverse_credit")
    del event["event_id"]
    assert len(publisher.publish(event)) == 36


def test_oversized_event_is_refused_before_sending(publisher):
    event = example("deviation")
    event["payload"] = dict(event["payload"], description="x" * (publisher.max_event_bytes + 10))
    with pytest.raises(EventTooLarge, match="the limit is 1048576 bytes"):
        publisher.publish(event)


def test_bus_records_cannot_be_published_by_sources(publisher):
    event = example("deviation", event_type="obligation.opened")
    with pytest.raises(EventInvalid):
        publisher.publish(event)
