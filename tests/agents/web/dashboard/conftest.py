"""Fixtures of the dashboard tests: a real SQLite ledger, a users file, the app, logged-in clients."""
from __future__ import annotations

import re
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from agents.record.ledger import open_ledger
from agents.web.dashboard.app import DASHBOARD, create_app
from agents.web.dashboard.settings import DashboardSettings
from agents.web.dashboard.users import Role, UserStore
from schemas import default_schemas
from streams.validation import validate_event

PASSWORD = "correct horse battery"
USERS = (
    ("qa.a", "张敏 Zhang Min", "HOLDER-A", Role.HOLDER_QA),
    ("head.a", "王芳 Wang Fang", "HOLDER-A", Role.HOLDER_HEAD),
    ("auditor.a", "Auditor A", "HOLDER-A", Role.AUDITOR),
    ("qa.b", "刘洋 Liu Yang", "HOLDER-B", Role.HOLDER_QA),
    ("qa.cmox", "李伟 Li Wei", "CMO-X", Role.MANUFACTURER_QA),
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class RecordingBus:
    """Stands in for the publisher where no broker is needed: validates like the SDK, keeps what was sent."""

    def __init__(self):
        self.sent: list[dict] = []
        self.fail: Exception | None = None

    def publish(self, event: dict) -> str:
        if self.fail is not None:
            raise self.fail
        _category, value = validate_event(dict(event), default_schemas())
        self.sent.append(value)
        return value["event_id"]


@pytest.fixture
def ledger(tmp_path):
    with open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        yield ledger


@pytest.fixture(scope="session")
def fast_hasher():
    # Still Argon2id (memory-hard), with small parameters so tests stay fast.
    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture
def users(tmp_path, fast_hasher):
    store = UserStore(tmp_path / "users.db", hasher=fast_hasher)
    for username, name, party, role in USERS:
        store.add(username, PASSWORD, party, role, display_name=name)
    yield store
    store.close()


@pytest.fixture
def bus():
    return RecordingBus()


@pytest.fixture
def settings(tmp_path):
    return DashboardSettings(state_dir=tmp_path, secret_key="s" * 48, poll_interval_s=0.05, heartbeat_s=0.5,
                             sign_events=False)


@pytest.fixture
async def make_client(settings, ledger, bus, users):
    """make_client(**create_app kwargs) -> a started TestClient; the app does not poll by itself
    (tests call `dash.poll_once()` after appending to the ledger, so every step is deterministic)."""
    clients = []

    async def make(**kwargs):
        kwargs.setdefault("poll", False)
        app = create_app(kwargs.pop("settings", settings), ledger, bus, users, **kwargs)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client):
    return await make_client()


def dash_of(client):
    return client.server.app[DASHBOARD]


async def csrf_token(client, path: str = "/login") -> str:
    response = await client.get(path, allow_redirects=False)
    match = CSRF.search(await response.text())
    assert match, f"no CSRF token on {path}"
    return match.group(1)


async def login(client, username: str, password: str = PASSWORD):
    token = await csrf_token(client)
    return await client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                             "next": "/"}, allow_redirects=False)


async def logged_in(make_client, username: str, **kwargs):
    client = await make_client(**kwargs)
    response = await login(client, username)
    assert response.status == 303, await response.text()
    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
