"""Fixtures of the gateway tests: the dashboard app with the gateway, a real publisher on the session
broker, the session's agreements, and tokens bound to their registered sources."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from agents.core.agreements import AgreementSet
from agents.web.api.ingest import Gateway
from agents.web.dashboard.app import create_app
from agents.web.dashboard.settings import DashboardSettings
from agents.web.dashboard.users import UserStore
from streams.publisher import Publisher

# name: (party, source or None for a read-only token); sources as the demo agreements register them.
TOKENS = {
    "qms": ("CMO-X", "qms-cmox-01"),
    "lims": ("CMO-X", "lims-cmox-01"),
    "holder_a_qms": ("HOLDER-A", "qms-holdera-01"),
    "holder_a_reader": ("HOLDER-A", None),
    "holder_b_reader": ("HOLDER-B", None),
}


@pytest.fixture(scope="session")
def agreement_set(agreements_dir):
    return AgreementSet.load_dir(agreements_dir, strict=False)


@pytest.fixture
def users(tmp_path):
    store = UserStore(tmp_path / "users.db", hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    yield store
    store.close()


@pytest.fixture
def tokens(users):
    return {name: users.add_token(party, name, source=source)[1] for name, (party, source) in TOKENS.items()}


@pytest.fixture
def dashboard_settings(tmp_path):
    return DashboardSettings(state_dir=tmp_path, secret_key="s" * 48, sign_events=False, api_max_wait_s=0)


@pytest.fixture
def gateway_publisher(bus_settings, topics):
    with Publisher.from_settings(bus_settings) as publisher:
        yield publisher


def build_app(dashboard_settings, ledger, users, agreement_set, publisher, **gateway):
    return create_app(dashboard_settings, ledger, publisher, users, agreements=agreement_set, poll=False,
                      gateway=Gateway(publisher, **gateway) if publisher is not None else None)


@pytest.fixture
async def make_client(dashboard_settings, users, agreement_set, gateway_publisher, tmp_path):
    """make_client(ledger=None, publisher=gateway_publisher, **Gateway kwargs) -> a started TestClient."""
    from agents.record.ledger import open_ledger

    opened, clients = [], []

    async def make(ledger=None, publisher=gateway_publisher, **gateway):
        if ledger is None:
            ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
            opened.append(ledger)
        app = build_app(dashboard_settings, ledger, users, agreement_set, publisher, **gateway)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
    for ledger in opened:
        ledger.close()


def auth(token: str, content_type: str | None = "application/json") -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers
