"""POST /api/v1/events: a source system publishes over HTTP, as its own source only, with the SDK's checks."""
import json

import pytest

from streams.publisher import Publisher
from tests.agents.web.api.conftest import auth
from tests.support.events import example

pytestmark = pytest.mark.broker


def cloud_event(event: dict) -> dict:
    return {"specversion": "1.0", "id": event["event_id"], "type": event["event_type"],
            "source": event["source"]["instance"], "datacontenttype": "application/json", "data": event}


SOURCE_TOKENS = {"qms-cmox-01": "qms", "lims-cmox-01": "lims", "qms-holdera-01": "holder_a_qms"}


def token_of(tokens, event: dict) -> str:
    """The token of the source the committed example was published by."""
    return tokens[SOURCE_TOKENS[event["source"]["instance"]]]


async def post(client, token, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await client.post("/api/v1/events", data=data, headers=auth(token, content_type))
    return response.status, await response.json()


async def test_an_event_is_accepted_once_the_broker_confirmed_it_and_again_when_reposted(
        make_client, tokens, read_topic, topics):
    client = await make_client()
    event = example("deviation")
    assert await post(client, tokens["qms"], event) == (202, {"event_ids": [event["event_id"]]})
    # Posting the same event again is safe: the same answer, the bus keeps one (its intake dedupes by id).
    assert await post(client, tokens["qms"], event) == (202, {"event_ids": [event["event_id"]]})
    found = read_topic(topics.intake("deviation")).collect(
        lambda rs: len(rs) >= 2, where=lambda r: r.value and r.value["event_id"] == event["event_id"])
    assert found[0].key == f"{event['agreement_id']}|{event['item_ref']}".encode()


async def test_curl_without_a_content_type_is_read_as_json(make_client, tokens):
    # `curl --data @file` sends application/x-www-form-urlencoded unless told otherwise.
    client = await make_client()
    event = example("deviation")
    assert (await post(client, tokens["qms"], event, "application/x-www-form-urlencoded"))[0] == 202


async def test_a_batch_of_100(make_client, tokens):
    client = await make_client()
    events = [example("change") for _ in range(100)]
    status, body = await post(client, token_of(tokens, events[0]), events)
    assert status == 202 and body["event_ids"] == [e["event_id"] for e in events]


async def test_a_batch_is_all_or_nothing_and_names_the_bad_event(make_client, tokens, read_topic, topics):
    client = await make_client()
    events = [example("deviation") for _ in range(5)]
    events[3]["payload"]["investigation_status"] = "sideways"
    status, body = await post(client, tokens["qms"], events)
    assert status == 422 and body["index"] == 3 and body["reason_code"] == "SCHEMA_VIOLATION"
    assert body["problems"][0]["path"] == "payload.investigation_status"
    assert body["error"].startswith("event [3]: payload.investigation_status: 'sideways' is not one of")
    ids = {e["event_id"] for e in events}
    assert read_topic(topics.intake("deviation")).collect(
        lambda rs: False, timeout=2, where=lambda r: r.value and r.value["event_id"] in ids) == []


@pytest.mark.parametrize("change, path", [
    (lambda e: e.update(classification="majr"), "classification"),
    (lambda e: e.pop("payload"), "payload"),
    (lambda e: e["payload"].update(affected_batches="2611-07"), "payload.affected_batches"),
    (lambda e: e.update(event_id="not-a-uuid"), "event_id"),
    (lambda e: e.update(occurred_at="2026-11-20T08:30:00"), "occurred_at"),
])
async def test_a_bad_field_is_named_by_its_path(make_client, tokens, change, path):
    client = await make_client()
    event = example("deviation")
    change(event)
    status, body = await post(client, tokens["qms"], event)
    assert status == 422 and path in [p["path"] for p in body["problems"]], body
    assert "index" not in body


async def test_cloudevents_one_and_a_batch(make_client, tokens):
    client = await make_client()
    one = example("retention_stability")
    assert await post(client, token_of(tokens, one), cloud_event(one), "application/cloudevents+json") == (
        202, {"event_ids": [one["event_id"]]})
    batch = [cloud_event(example("qualification_validation")) for _ in range(3)]
    for ce in batch[:2]:   # the attributes stand for the event's own id and type where it leaves them out
        del ce["data"]["event_id"], ce["data"]["event_type"]
    status, body = await post(client, tokens["qms"], batch, "application/cloudevents-batch+json")
    assert status == 202 and body["event_ids"] == [ce["id"] for ce in batch]


async def test_cloudevent_attributes_must_agree_with_the_event(make_client, tokens):
    client = await make_client()
    ce = cloud_event(example("deviation"))
    ce["type"] = "deviation.closed"
    status, body = await post(client, tokens["qms"], ce, "application/cloudevents+json")
    assert status == 400 and body["path"] == "type" and "differ" in body["error"]
    ce = cloud_event(example("deviation"))
    ce["specversion"] = "0.3"
    assert (await post(client, tokens["qms"], [ce], "application/cloudevents-batch+json"))[1]["index"] == 0


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer qbt_000000000000_wrong", "Basic abc"])
async def test_no_valid_token_401(make_client, header):
    client = await make_client()
    response = await client.post("/api/v1/events", json=example("deviation"),
                                 headers={"Authorization": header} if header else {})
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_revoked_token_401(make_client, tokens, users):
    client = await make_client()
    users.revoke_token(users.check_token(tokens["qms"]).token_id)
    assert (await post(client, tokens["qms"], example("deviation")))[0] == 401


async def test_a_token_publishes_as_its_own_source_and_party_only(make_client, tokens):
    client = await make_client()
    event = example("deviation")   # claims qms-cmox-01 of CMO-X
    status, body = await post(client, tokens["lims"], event)
    assert status == 403 and body["path"] == "source.instance" and "lims-cmox-01" in body["error"]
    event["source"]["instance"] = "lims-cmox-01"
    event["source"]["party_id"] = "HOLDER-A"
    assert (await post(client, tokens["lims"], event))[1]["path"] == "source.party_id"
    status, body = await post(client, tokens["holder_a_reader"], example("deviation"))
    assert status == 403 and "only reads" in body["error"]


async def test_an_agreement_that_does_not_register_the_source_is_refused_like_an_unknown_one(make_client, tokens):
    client = await make_client()
    event = example("deviation")
    event["source"].update(instance="qms-holdera-01", party_id="HOLDER-A", party_role="HOLDER")
    not_registered = dict(event, agreement_id="QA-HOLDERB-CMOX-001", holder_id="HOLDER-B")
    unknown = dict(event, agreement_id="QA-NOBODY-001")
    answers = [await post(client, tokens["holder_a_qms"], e) for e in (not_registered, unknown)]
    assert [a[0] for a in answers] == [403, 403] and all(a[1]["path"] == "agreement_id" for a in answers)


async def test_oversized_bodies_and_events_413(make_client, tokens, bus_settings, topics):
    client = await make_client()
    event = example("deviation")
    event["payload"]["description"] = "x" * (bus_settings.max_event_bytes + 1)
    status, body = await post(client, tokens["qms"], event)
    assert status == 413 and body["limit_bytes"] == bus_settings.max_event_bytes
    small = Publisher.from_settings(bus_settings.model_copy(update={"max_event_bytes": 3000}))
    try:
        client = await make_client(publisher=small)
        event["payload"]["description"] = "x" * 3000
        status, body = await post(client, tokens["qms"], [example("deviation"), event])
        assert status == 413 and body["reason_code"] == "TOO_LARGE" and body["index"] == 1
    finally:
        small.close()


@pytest.mark.parametrize("body, content_type, status, words", [
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"[]", "application/json", 400, "batch is empty"),
    (b'"a string"', "application/json", 400, "must be a JSON object"),
    (b"<event/>", "application/xml", 415, "content type 'application/xml' is not accepted"),
    (b'{"event_type": "nonsense"}', "application/json", 422, "must look like '<category>.<action>'"),
])
async def test_malformed_bodies(make_client, tokens, body, content_type, status, words):
    client = await make_client()
    answer = await post(client, tokens["qms"], body, content_type)
    assert answer[0] == status and words in answer[1]["error"], answer


async def test_without_a_gateway_the_server_does_not_publish(make_client, tokens):
    client = await make_client(publisher=None)
    status, body = await post(client, tokens["qms"], example("deviation"))
    assert status == 503 and "does not publish" in body["error"]
