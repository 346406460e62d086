"""The database each e2e module's server runs on: SQLite, then PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import BACKENDS
from tests.support.postgres import PostgresServer
from tests.support.postgres import backend_database


@pytest.fixture(scope="module", params=BACKENDS)
def backend_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer,
) -> Iterator[str]:
    """A fresh database for the module on each backend: a SQLite file in a directory of
    its own, or a PostgreSQL database dropped afterwards."""
    directory = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    with backend_database(request.param, directory, postgres_server) as url:
        yield url
