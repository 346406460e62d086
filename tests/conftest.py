"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from honed.server.app import create_app
from honed.service.app import Services
from honed.storage.sql.storage import SqlStorage
from tests.support.postgres import PostgresServer
from tests.support.postgres import running_postgres
from tests.support.server import RunningServer
from tests.support.server import running_server

TEST_TOKEN = "test-token"

# --- PostgreSQL ---
# One throwaway cluster per test session (or $HONED_TEST_POSTGRES_URL), a fresh database per
# test.  See tests/support/postgres.py.


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the whole session; `.admin_url` is its admin URL."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database, dropped after the test."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


# --- honed servers ---


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'honed.db'}"


@pytest.fixture
def storage(sqlite_url: str) -> Iterator[SqlStorage]:
    """A migrated SQLite store of its own."""
    store = SqlStorage.from_url(sqlite_url)
    yield store
    store.close()


@pytest.fixture
def sqlite_server(sqlite_url: str) -> Iterator[RunningServer]:
    """A real ``honed serve`` process on a fresh SQLite file."""
    with running_server(sqlite_url) as server:
        yield server


@pytest.fixture
def api(storage: SqlStorage) -> Iterator[TestClient]:
    """The server app in-process (no socket), authenticated as the default client."""
    services = Services(storage)
    services.tokens.bootstrap(TEST_TOKEN)
    with TestClient(create_app(services=services)) as client:
        client.auth = (TEST_TOKEN, "")
        yield client
