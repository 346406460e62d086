"""Shared pytest fixtures."""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.engine.botorch.factory import botorch_engine_factory
from honed.server.app import create_app
from honed.service.app import Services
from honed.service.suggestions import ServingPolicy
from honed.storage.local_contents import LocalContents
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


# --- services and the optimizer, in process ---


@pytest.fixture
def services(storage: SqlStorage) -> Services:
    """Services on ``storage`` that never wait for the optimizer (tests run it themselves)."""
    import torch  # here, not at import: only optimizer tests pay for it

    torch.manual_seed(0)
    return Services(storage, ServingPolicy(max_wait_seconds=0.0))


@pytest.fixture
def token(services: Services) -> Token:
    services.tokens.bootstrap(TEST_TOKEN)
    return services.tokens.authenticate(TEST_TOKEN)


@pytest.fixture(scope="module")
def engine_factory() -> Callable[[], Engine]:
    return botorch_engine_factory()


@pytest.fixture
def sqlite_server(sqlite_url: str) -> Iterator[RunningServer]:
    """A real ``honed serve`` process on a fresh SQLite file."""
    with running_server(sqlite_url) as server:
        yield server


@pytest.fixture
def api(storage: SqlStorage, tmp_path: Path) -> Iterator[TestClient]:
    """The server app in-process (no socket), authenticated as the default client, with a
    file store in ``tmp_path``."""
    services = Services(storage, contents=LocalContents(tmp_path / "files"))
    services.tokens.bootstrap(TEST_TOKEN)
    with TestClient(create_app(services=services)) as client:
        client.auth = (TEST_TOKEN, "")
        yield client


@pytest.fixture
def full_reads(storage: SqlStorage, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """When ``optimizer_work`` was read, as the storage is asked."""
    reads: list[float] = []
    read = storage.optimizer_work

    def counted() -> object:
        reads.append(time.time())
        return read()

    monkeypatch.setattr(storage, "optimizer_work", counted)
    return reads
