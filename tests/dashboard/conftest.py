"""One real ``honed serve`` with seeded experiments, shared by the dashboard, CLI and
notebook tests (each test that writes uses an experiment of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dashboard.seed import Seeded
from tests.dashboard.seed import seed
from tests.support.server import RunningServer
from tests.support.server import running_server


@pytest.fixture(scope="session")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    database = tmp_path_factory.mktemp("dashboard") / "honed.db"
    with running_server(f"sqlite:///{database}") as server:
        yield server


@pytest.fixture(scope="session")
def seeded(dashboard_server: RunningServer) -> Seeded:
    return seed(dashboard_server.url, dashboard_server.token)
