"""Subscriber API and the Python `Subscriber`: a holder's systems read its stream, and only its stream."""
import asyncio
import threading
import time

import pytest

from agents.web.dashboard import cursor
from agents.web.dashboard.app import DASHBOARD, create_app
from streams.http_subscriber import Subscriber, SubscriberError
from tests.agents.web.dashboard.factory import A, B, event
from tests.agents.web.dashboard.server import ServerThread


@pytest.fixture
def tokens(users):
    return {party: users.add_token(party, f"{party.lower()}-qms")[1] for party in ("HOLDER-A", "HOLDER-B", "CMO-X")}


@pytest.fixture
def two_holders(ledger):
    ledger.append([event("deviation", "reported", A, "DEV-A-1"), event("deviation", "reported", B, "DEV-B-1"),
                   event("change", "proposed", A, "CHG-A-1")])


def auth(token):
    return {"Authorization": f"Bearer {token}"}


async def test_records_are_read_from_a_cursor_and_only_the_tokens_own(two_holders, tokens, client):
    body = await (await client.get("/api/v1/records?since=0", headers=auth(tokens["HOLDER-A"]))).json()
    assert [r["item_ref"] for r in body["records"]] == ["DEV-A-1", "CHG-A-1"]
    assert all(r["agreement_id"] == A and len(r["hash"]) == 64 for r in body["records"])
    first = body["records"][0]["cursor"]
    later = await (await client.get(f"/api/v1/records?since={first}", headers=auth(tokens["HOLDER-A"]))).json()
    assert [r["item_ref"] for r in later["records"]] == ["CHG-A-1"]
    assert later["next_since"] == later["head"] == body["next_since"]
    manufacturer = await (await client.get("/api/v1/records", headers=auth(tokens["CMO-X"]))).json()
    assert {r["agreement_id"] for r in manufacturer["records"]} == {A, B}


async def test_event_type_filter(two_holders, tokens, client):
    body = await (await client.get("/api/v1/records?types=change.*", headers=auth(tokens["HOLDER-A"]))).json()
    assert [r["event_type"] for r in body["records"]] == ["change.proposed"]


async def test_holder_b_token_is_refused_holder_as_agreement_everywhere(two_holders, tokens, client):
    headers = auth(tokens["HOLDER-B"])
    for path in (f"/api/v1/records?agreement={A}", f"/api/v1/records?agreement={A}&wait=1",
                 f"/api/v1/stream?agreement={A}"):
        response = await client.get(path, headers=headers)
        text = await response.text()
        assert response.status == 403, path
        assert "DEV-A-1" not in text and "HOLDER-A" not in text
    body = await (await client.get("/api/v1/records", headers=headers)).json()
    assert [r["item_ref"] for r in body["records"]] == ["DEV-B-1"]
    listing = await (await client.get("/api/v1/agreements", headers=headers)).json()
    assert [a["agreement_id"] for a in listing["agreements"]] == [B]


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Bearer qbt_000000000000_wrong", "Basic abc"])
async def test_no_valid_token_no_data(two_holders, tokens, client, header):
    response = await client.get("/api/v1/records", headers={"Authorization": header} if header else {})
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_revoked_token_stops_working(two_holders, tokens, users, client):
    token = users.check_token(tokens["HOLDER-A"])
    users.revoke_token(token.token_id)
    assert (await client.get("/api/v1/records", headers=auth(tokens["HOLDER-A"]))).status == 401


async def test_long_poll_returns_when_a_record_arrives(two_holders, tokens, client, ledger):
    dash = client.server.app[DASHBOARD]
    head = (await (await client.get("/api/v1/records", headers=auth(tokens["HOLDER-A"]))).json())["head"]
    request = client.get(f"/api/v1/records?since={head}&wait=5", headers=auth(tokens["HOLDER-A"]))
    pending = asyncio.ensure_future(request)
    await asyncio.sleep(0.2)
    assert not pending.done()
    ledger.append([event("deviation", "reported", B, "DEV-B-2")])   # not A's: keeps waiting
    await dash.poll_once()
    await asyncio.sleep(0.2)
    assert not pending.done()
    ledger.append([event("oos_oot", "reported", A, "OOS-A-1")])
    await dash.poll_once()
    body = await (await asyncio.wait_for(pending, 5)).json()
    assert [r["item_ref"] for r in body["records"]] == ["OOS-A-1"]


# --- each tenant counts its own records (Art. 10) ----------------------------------------------------
@pytest.mark.clause("Art. 10")
async def test_holder_as_numbering_shows_no_gap_for_holder_bs_records(tokens, client, ledger):
    # Holder B's records sit between holder A's in the ledger ...
    ledger.append([event("deviation", "reported", A, "DEV-A-1"), event("deviation", "reported", B, "DEV-B-1"),
                   event("deviation", "reported", B, "DEV-B-2"), event("change", "proposed", A, "CHG-A-1"),
                   event("deviation", "reported", B, "DEV-B-3"), event("oos_oot", "reported", A, "OOS-A-1")])
    await client.server.app[DASHBOARD].poll_once()
    body = await (await client.get("/api/v1/records", headers=auth(tokens["HOLDER-A"]))).json()
    # ... and holder A's numbers run 1, 2, 3: nothing tells A that B was busy in between.
    assert [r["chain_seq"] for r in body["records"]] == [1, 2, 3]
    assert all("seq" not in r for r in body["records"])
    assert [cursor.decode(r["cursor"], [A]) for r in body["records"]] == [{A: 1}, {A: 2}, {A: 3}]
    listing = await (await client.get("/api/v1/agreements", headers=auth(tokens["HOLDER-A"]))).json()
    assert listing["agreements"][0]["last_chain_seq"] == 3 and "last_seq" not in listing["agreements"][0]
    # The live stream's ids are the same cursors.
    stream = await client.get("/api/v1/stream", headers=auth(tokens["HOLDER-A"]))
    ids = []
    while len(ids) < 3:
        line = (await stream.content.readline()).decode().strip()
        if line.startswith("id:"):
            ids.append(line[3:].strip())
    stream.close()
    assert ids == [r["cursor"] for r in body["records"]]


@pytest.mark.parametrize("since", ["-1", "abc!", "eyJ4Ijo", "W10", "eyJRQS1IT0xERVJBLUNNT1gtMDAxIjotMX0",
                                   "eyJRQS1IT0xERVJBLUNNT1gtMDAxIjoxLjV9", "A" * 5000, "WwogIDEKXQ"])
async def test_a_malformed_cursor_is_a_400(two_holders, tokens, client, since):
    for path in ("/api/v1/records", "/api/v1/stream"):
        response = await client.get(path, params={"since": since}, headers=auth(tokens["HOLDER-A"]))
        assert response.status == 400, (path, since)
        assert "error" in await response.json()


@pytest.mark.clause("Art. 10")
async def test_a_cursor_naming_another_holders_agreement_is_refused(two_holders, tokens, client):
    theirs = cursor.encode({B: 1})
    for headers in ({}, {"Last-Event-ID": theirs}):
        path = "/api/v1/stream" if headers else f"/api/v1/records?since={theirs}"
        response = await client.get(path, headers={**auth(tokens["HOLDER-A"]), **headers})
        assert response.status == 400 and "does not read" in (await response.json())["error"]
        assert "DEV-B-1" not in await response.text()


@pytest.mark.parametrize("last_event_id", ["9" * 400, "x" * 5000, "12 34", "%%%"])
async def test_a_huge_or_garbled_last_event_id_is_a_400(two_holders, tokens, client, last_event_id):
    response = await client.get("/api/v1/stream", headers={**auth(tokens["HOLDER-A"]), "Last-Event-ID": last_event_id})
    assert response.status == 400


# --- the Python Subscriber against a served dashboard -------------------------------------------------
@pytest.fixture
def served(settings, ledger, bus, users, two_holders):
    server = ServerThread(lambda: create_app(settings, ledger, bus, users)).start()
    yield server
    server.stop()


def test_subscriber_reads_then_follows_live_and_resumes(served, tokens, ledger):
    with Subscriber(served.url, tokens["HOLDER-A"]) as sub:
        assert [r.item_ref for r in sub.read()] == ["DEV-A-1", "CHG-A-1"]
        assert sub.read() == []
        position = sub.position
        # Follow live: records appended after we started arrive, holder B's never do.
        got = []

        def follow():
            for record in sub.follow(idle_timeout=4):
                got.append(record)
                if record.item_ref == "DEV-A-9":
                    return
        reader = threading.Thread(target=follow)
        reader.start()
        time.sleep(0.3)
        ledger.append([event("deviation", "reported", B, "DEV-B-9"), event("deviation", "reported", A, "DEV-A-9")])
        reader.join(10)
        assert [r.item_ref for r in got] == ["DEV-A-9"] and got[0].event["holder_id"] == "HOLDER-A"
    # A new subscriber resumes from a saved position.
    with Subscriber(served.url, tokens["HOLDER-A"], since=position) as again:
        assert [r.item_ref for r in again.read()] == ["DEV-A-9"]


def test_subscriber_long_poll_mode(served, tokens, ledger):
    with Subscriber(served.url, tokens["HOLDER-B"]) as sub:
        sub.read()
        assert list(sub.follow(sse=False, idle_timeout=1)) == []
    with Subscriber(served.url, tokens["HOLDER-B"]) as sub:
        assert [r.item_ref for r in sub.poll(wait=1)] == ["DEV-B-1"]


def test_subscriber_is_told_when_the_agreement_is_not_its_own(served, tokens):
    with Subscriber(served.url, tokens["HOLDER-B"], agreement=A) as sub:
        with pytest.raises(SubscriberError, match="403"):
            sub.read()
        with pytest.raises(SubscriberError, match="403"):
            next(sub.follow())


def test_subscriber_yields_a_record_delivered_twice_once():
    import json as json_

    import httpx

    record = {"cursor": "c1", "agreement_id": A, "item_ref": "DEV-A-1", "event_type": "deviation.reported",
              "recorded_at": "2026-11-20T08:30:00.000Z", "hash": "h" * 64, "prev_hash": "0" * 64, "chain_seq": 1,
              "redacted": False, "event": {"event_id": "e-1", "item_ref": "DEV-A-1"}}
    again = {**record, "cursor": "c2"}
    sse = "".join(f"id: {r['cursor']}\nevent: record\ndata: {json_.dumps(r)}\n\n" for r in (record, again))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/stream"):
            return httpx.Response(200, text=sse, headers={"Content-Type": "text/event-stream"})
        return httpx.Response(200, json={"records": [record, again], "next_since": "c2", "head": "c2"})

    for sse_mode in (False, True):
        with Subscriber("http://qbus.test", "t", client=httpx.Client(transport=httpx.MockTransport(answer))) as sub:
            got = sub.read() if not sse_mode else list(sub._stream(idle_timeout=None))
            assert [r.event_id for r in got] == ["e-1"] and sub.position == "c2"
