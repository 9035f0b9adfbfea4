"""What became of an event, asked over HTTP, against the session's real worker: recorded, dead-lettered
with the reason, unknown (also for another party's event), and the SDK outbox reconciled over HTTP."""
import time
import uuid

import pytest

from agents.record.ledger import open_ledger
from tests.agents.web.api.conftest import auth, build_app
from tests.agents.web.dashboard.server import ServerThread
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def worker_ledger(worker, bus_settings):
    with open_ledger(bus_settings.ledger) as ledger:
        yield ledger


async def status_until(client, token, event_id, wanted, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/api/v1/events/{event_id}", headers=auth(token, None))
        assert response.status == 200
        body = await response.json()
        if body["status"] == wanted or time.monotonic() > deadline:
            return body
        await _pause()


async def _pause():
    import asyncio

    await asyncio.sleep(0.3)


async def test_recorded_then_only_for_the_parties_of_its_agreement(make_client, worker_ledger, tokens):
    client = await make_client(ledger=worker_ledger)
    event = example("deviation")
    assert (await client.post("/api/v1/events", json=event, headers=auth(tokens["qms"]))).status == 202
    body = await status_until(client, tokens["qms"], event["event_id"], "recorded")
    assert body["status"] == "recorded" and len(body["ledger"]["hash"]) == 64
    assert body["ledger"]["chain"] == event["agreement_id"]
    # The holder of the agreement sees it; another holder is told nothing, as for an id never seen.
    assert (await status_until(client, tokens["holder_a_reader"], event["event_id"], "recorded"))["status"] == "recorded"
    other = await (await client.get(f"/api/v1/events/{event['event_id']}", headers=auth(tokens["holder_b_reader"], None))).json()
    assert other == {"event_id": event["event_id"], "status": "unknown"}


async def test_dead_lettered_with_the_reason(make_client, worker_ledger, tokens):
    client = await make_client(ledger=worker_ledger)
    event = example("deviation")
    event["product"]["code"] = "NOT-IN-THE-AGREEMENT"
    assert (await client.post("/api/v1/events", json=event, headers=auth(tokens["qms"]))).status == 202
    body = await status_until(client, tokens["qms"], event["event_id"], "dead_lettered")
    assert body["status"] == "dead_lettered" and body["reason_code"] == "OUT_OF_TENANT"
    # The reason names the agreement's own products, never echoes what was claimed (it may be another party's).
    assert "is not a product of agreement" in body["reason"] and "NOT-IN-THE-AGREEMENT" not in body["reason"]


async def test_unknown(make_client, worker_ledger, tokens):
    client = await make_client(ledger=worker_ledger)
    event_id = str(uuid.uuid4())
    body = await (await client.get(f"/api/v1/events/{event_id}", headers=auth(tokens["qms"], None))).json()
    assert body == {"event_id": event_id, "status": "unknown"}
    assert (await client.get(f"/api/v1/events/{event_id}")).status == 401


def test_the_sdk_outbox_reconciles_over_http(worker_ledger, bus_settings, topics, tmp_path, tokens, users,
                                            agreement_set, dashboard_settings, gateway_publisher, capsys):
    from agents.cli.main import main
    from streams.http_status import EventStatusClient
    from streams.publisher import Publisher

    server = ServerThread(lambda: build_app(dashboard_settings, worker_ledger, users, agreement_set,
                                            gateway_publisher)).start()
    outbox = tmp_path / "outbox.db"
    try:
        with Publisher.from_settings(bus_settings, outbox=outbox) as publisher:
            event_id = publisher.publish(example("deviation"))
            with EventStatusClient(server.url, tokens["qms"]) as bus:
                deadline = time.monotonic() + 60
                while not bus.is_recorded(event_id) and time.monotonic() < deadline:
                    time.sleep(0.3)
                done = publisher.reconcile_status(bus.status, grace_s=3600)
        assert (done.recorded, done.resent, done.refused) == (1, 0, [])
        # The command line does the same; nothing is left to reconcile.
        assert main(["--bootstrap", bus_settings.bootstrap_servers, "reconcile", "--outbox", str(outbox),
                     "--url", server.url, "--token", tokens["qms"], "--json"]) == 0
        assert '"recorded": 0, "resent": 0' in capsys.readouterr().out
    finally:
        server.stop()


def test_reconcile_reports_what_the_bus_refused_and_stops_resending_it(worker_ledger, bus_settings, topics, tmp_path,
                                                                      tokens, users, agreement_set, dashboard_settings,
                                                                      gateway_publisher, capsys):
    from agents.cli.main import main
    from streams.http_status import EventStatusClient
    from streams.publisher import Publisher

    server = ServerThread(lambda: build_app(dashboard_settings, worker_ledger, users, agreement_set,
                                            gateway_publisher)).start()
    outbox = tmp_path / "outbox.db"
    event = example("deviation")
    event["product"]["code"] = "NOT-IN-THE-AGREEMENT"
    try:
        with Publisher.from_settings(bus_settings, outbox=outbox) as publisher:
            publisher.publish(event)
        with EventStatusClient(server.url, tokens["qms"]) as bus:
            deadline = time.monotonic() + 60
            while bus.status(event["event_id"])["status"] != "dead_lettered" and time.monotonic() < deadline:
                time.sleep(0.3)
        assert main(["--bootstrap", bus_settings.bootstrap_servers, "reconcile", "--outbox", str(outbox),
                     "--url", server.url, "--token", tokens["qms"], "--grace", "0"]) == 1
        out = capsys.readouterr().out
        assert "1 refused by the bus" in out and f"REFUSED  {event['event_id']}: OUT_OF_TENANT" in out
        assert main(["--bootstrap", bus_settings.bootstrap_servers, "reconcile", "--outbox", str(outbox),
                     "--url", server.url, "--token", tokens["qms"], "--grace", "0"]) == 0
        assert "0 sent again, 0 refused" in capsys.readouterr().out
    finally:
        server.stop()
