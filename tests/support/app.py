"""The server app in-process (no socket) on a storage of its own, authenticated."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from honed.server.app import create_app
from honed.service.app import Services
from honed.storage.sql.storage import SqlStorage


@contextmanager
def app_on(url: str, token: str) -> Iterator[tuple[TestClient, Services]]:
    """A client of the app on the database at ``url``, with ``token`` bootstrapped and
    sent, and the app's services (to look behind the API)."""
    storage = SqlStorage.from_url(url)
    services = Services(storage)
    services.tokens.bootstrap(token)
    try:
        with TestClient(create_app(services=services)) as client:
            client.auth = (token, "")
            yield client, services
    finally:
        storage.close()
