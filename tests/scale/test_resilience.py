"""PostgreSQL restarts under a running server: requests that meet the dead database answer
503 with SigOpt's error shape, and the first requests after the restart succeed."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.scale.helpers import EXPERIMENT
from tests.scale.helpers import new_experiment
from tests.support.postgres import PostgresServer
from tests.support.postgres import start_cluster
from tests.support.postgres import start_cluster_again
from tests.support.postgres import stop_cluster
from tests.support.server import RunningServer
from tests.support.server import running_server

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresServer]:
    """A cluster of this module's own: restarting it disturbs no other test."""
    with start_cluster() as server:
        yield server


@pytest.fixture(scope="module")
def server(cluster: PostgresServer) -> Iterator[RunningServer]:
    with running_server(cluster.create_database()) as running:
        yield running


def cycle(client: httpx.Client, base: str) -> httpx.Response:
    suggestion = client.post(f"{base}/suggestions")
    if suggestion.status_code != 200:
        return suggestion
    body = {"suggestion": suggestion.json()["id"], "value": 1.0}
    return client.post(f"{base}/observations", json=body)


def busy(client: httpx.Client, base: str, cycles: int) -> list[httpx.Response]:
    """Cycles from 8 threads at once, so the server's pool holds several connections."""
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda _: cycle(client, base), range(cycles)))


def assert_all_ok(answers: list[httpx.Response]) -> None:
    assert [r.status_code for r in answers] == [200] * len(answers), [
        r.text for r in answers if r.status_code != 200
    ]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_restart_under_a_running_server(
    mode: str, cluster: PostgresServer, server: RunningServer
) -> None:
    with httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=60) as client:
        base = f"/v1/experiments/{new_experiment(client)}"
        assert_all_ok(busy(client, base, 16))
        # A restart while no request comes: the pooled connections are all dead, and yet
        # every request afterwards succeeds, from the very first.
        stop_cluster(cluster, mode)
        start_cluster_again(cluster)
        assert_all_ok(busy(client, base, 32))
        # Requests while the database is down answer 503 in SigOpt's error shape.
        stop_cluster(cluster, mode)
        try:
            for method, path, body in [
                ("POST", f"{base}/suggestions", {}),
                ("GET", base, None),
                ("GET", f"{base}/observations", None),
                ("POST", "/v1/experiments", EXPERIMENT),
                ("GET", "/health", None),
            ]:
                response = client.request(method, path, json=body)
                assert response.status_code == 503, (path, response.text)
                error = response.json()
                assert error["status"] == 503
                assert "database" in error["message"]
        finally:
            start_cluster_again(cluster)
        assert_all_ok(busy(client, base, 32))
