"""One real ``honed serve`` with seeded experiments, shared by the dashboard, CLI and
notebook tests (each test that writes uses an experiment of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext

from tests.dashboard.browser import chromium
from tests.dashboard.seed import Seeded
from tests.dashboard.seed import seed
from tests.support.server import RunningServer
from tests.support.server import running_server


@pytest.fixture(scope="session")
def dashboard_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of ``dashboard_server``'s database, for what only an optimizer process
    would store (a model analysis) in tests that run none."""
    return f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'honed.db'}"


@pytest.fixture(scope="session")
def dashboard_server(dashboard_database: str) -> Iterator[RunningServer]:
    with running_server(dashboard_database) as server:
        yield server


@pytest.fixture(scope="session")
def seeded(dashboard_server: RunningServer) -> Seeded:
    return seed(dashboard_server.url, dashboard_server.token)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context
    context.close()


@pytest.fixture
def browser_phone(browser: Browser) -> Iterator[BrowserContext]:
    """A phone's viewport (390 x 844 CSS pixels, as an iPhone 12-15)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    yield context
    context.close()
