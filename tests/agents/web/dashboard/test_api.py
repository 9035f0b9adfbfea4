"""Subscriber API and the Python `Subscriber`: a holder's systems read its stream, and only its stream."""
import asyncio
import threading
import time

import pytest

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


async def test_records_are_read_from_an_offset_and_only_the_tokens_own(two_holders, tokens, client):
    body = await (await client.get("/api/v1/records?since=0", headers=auth(tokens["HOLDER-A"]))).json()
    assert [r["item_ref"] for r in body["records"]] == ["DEV-A-1", "CHG-A-1"]
    assert all(r["agreement_id"] == A and len(r["hash"]) == 64 for r in body["records"])
    first = body["records"][0]["seq"]
    later = await (await client.get(f"/api/v1/records?since={first}", headers=auth(tokens["HOLDER-A"]))).json()
    assert [r["item_ref"] for r in later["records"]] == ["CHG-A-1"]
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
    head = dash.model.last_seq
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
    with Subscriber(served.url, tokens["HOLDER-B"], since=10_000) as sub:
        assert list(sub.follow(sse=False, idle_timeout=1)) == []
    with Subscriber(served.url, tokens["HOLDER-B"]) as sub:
        assert [r.item_ref for r in sub.poll(wait=1)] == ["DEV-B-1"]


def test_subscriber_is_told_when_the_agreement_is_not_its_own(served, tokens):
    with Subscriber(served.url, tokens["HOLDER-B"], agreement=A) as sub:
        with pytest.raises(SubscriberError, match="403"):
            sub.read()
        with pytest.raises(SubscriberError, match="403"):
            next(sub.follow())
