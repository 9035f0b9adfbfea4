"""The OpenAPI document: served and committed alike, and the API keeps to it (schemathesis, bounded)."""
import json
from pathlib import Path

import pytest
import schemathesis
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from agents.web.api.openapi import openapi_document
from agents.web.dashboard.settings import DashboardSettings
from agents.web.dashboard.users import UserStore
from tests.agents.web.api.conftest import build_app
from tests.agents.web.dashboard.server import ServerThread

COMMITTED = Path(__file__).resolve().parents[4] / "docs" / "openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def served_api(bus_settings, topics, agreement_set, tmp_path_factory):
    """The dashboard app with the gateway on a loopback port; a token that publishes as qms-cmox-01."""
    from agents.record.ledger import open_ledger
    from streams.publisher import Publisher

    state = tmp_path_factory.mktemp("openapi")
    users = UserStore(state / "users.db", hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    _, token = users.add_token("CMO-X", "fuzz", source="qms-cmox-01")
    ledger = open_ledger(f"sqlite:///{state / 'ledger.db'}")
    publisher = Publisher.from_settings(bus_settings)
    # No long-poll waits: a fuzzer would otherwise sit out every `wait` it draws.
    dashboard = DashboardSettings(state_dir=state, secret_key="s" * 48, sign_events=False, api_max_wait_s=0)
    server = ServerThread(lambda: build_app(dashboard, ledger, users, agreement_set, publisher)).start()
    yield server.url, token
    server.stop()
    publisher.close()
    ledger.close()
    users.close()


def test_the_served_document_is_the_committed_one(served_api):
    import httpx

    served = httpx.get(f"{served_api[0]}/api/v1/openapi.json").json()
    assert served == json.loads(COMMITTED.read_text(encoding="utf-8")), (
        "docs/openapi.json is out of date: python -m agents.web.api.openapi > docs/openapi.json")
    assert served == openapi_document()


def operations():
    """Every operation of the document but the live stream, which never ends by itself (the subscriber
    tests in tests/agents/web/dashboard cover it)."""
    schema = schemathesis.openapi.from_dict(openapi_document())
    found = [result.ok() for result in schema.get_all_operations()]
    return {f"{op.method.upper()} {op.path}": op for op in found if op.path != "/api/v1/stream"}


@pytest.mark.parametrize("name", sorted(operations()))
def test_the_api_keeps_to_its_document(name, served_api):
    """No 500s, and every answer is one the document describes (status, content type, body schema).
    Bounded: 30 generated requests per operation, ~150 in all."""
    url, token = served_api

    @given(case=operations()[name].as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def keeps_to_it(case):
        case.call_and_validate(base_url=url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)

    keeps_to_it()
