"""Ledger fixtures shared by the record tests: every test runs on SQLite and on the local PostgreSQL,
in a database of this test session's own."""
import os
import uuid

import psycopg
import pytest

from agents.record.ledger import open_ledger

PG_SERVER = os.environ.get("QBUS_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


@pytest.fixture(scope="session")
def pg_database():
    """A database of our own for this test session, dropped at the end."""
    name = f"qbus_ledger_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_SERVER}/{name}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    database = request.getfixturevalue("pg_database")
    return f"{database}?schema=t_{uuid.uuid4().hex[:12]}"  # a schema per test


@pytest.fixture
def ledger(ledger_url):
    with open_ledger(ledger_url) as opened:
        yield opened
