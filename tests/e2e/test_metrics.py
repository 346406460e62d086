"""``honed serve --metrics-port``: Prometheus metrics of real server processes, read through
prometheus-client's text parser, moving with the requests the test makes."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.metrics import Samples
from tests.support.metrics import label_values
from tests.support.metrics import moved
from tests.support.metrics import scrape
from tests.support.metrics import total
from tests.support.metrics import value
from tests.support.postgres import PostgresServer
from tests.support.server import free_port
from tests.support.server import running_server
from tests.support.server import worker_children

#: Seconds a server may take to start on a loaded machine.
STARTUP = 300.0
SUGGESTIONS = "/v1/experiments/{experiment_id}/suggestions"
OBSERVATIONS = "/v1/experiments/{experiment_id}/observations"
EXPERIMENT: dict[str, Any] = {
    "name": "metrics",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "metrics": [{"name": "f", "objective": "maximize"}],
    "observation_budget": 30,
}


def requests(samples: Samples, method: str, route: str, status: int) -> float:
    return value(
        samples, "honed_http_requests_total", method=method, route=route, status=str(status)
    )


def test_metrics_are_off_by_default(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'off.db'}", startup_timeout=STARTUP) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        assert "metrics:" not in server.log()


def test_counters_move_with_requests_to_a_real_server(tmp_path: Path) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'on.db'}"
    with running_server(
        url, startup_timeout=STARTUP, extra_args=["--metrics-port", str(port)]
    ) as server:
        assert f"metrics: http://127.0.0.1:{port}/metrics" in server.log()
        # Not on the API's port: a load balancer in front of the API does not expose it.
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        before = scrape(port)
        client = httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=60)
        eid = client.post("/v1/experiments", json=EXPERIMENT).json()["id"]
        base = f"/v1/experiments/{eid}"
        engine = [client.post(f"{base}/suggestions").json() for _ in range(3)]
        manual = client.post(f"{base}/suggestions", json={"assignments": {"x": 0.25}})
        client.post(f"{base}/queued_suggestions", json={"assignments": {"x": 0.75}})
        queued = client.post(f"{base}/suggestions").json()
        observed = client.post(
            f"{base}/observations", json={"suggestion": engine[0]["id"], "value": 1.0}
        )
        refused = client.post(f"{base}/observations", json={"suggestion": engine[1]["id"]})
        unknown = client.get("/v1/experiments/999999")
        nowhere = client.get("/no/such/path/42")
        client.close()
        assert [manual.status_code, observed.status_code] == [200, 200]
        assert queued["source"] == "queued"
        assert [refused.status_code, unknown.status_code, nowhere.status_code] == [400, 404, 404]
        after = scrape(port)

    assert (
        moved(before, after, "honed_http_requests_total", **_route("POST", SUGGESTIONS, 200)) == 5
    )
    assert (
        moved(before, after, "honed_http_requests_total", **_route("POST", OBSERVATIONS, 200)) == 1
    )
    assert (
        moved(before, after, "honed_http_requests_total", **_route("POST", OBSERVATIONS, 400)) == 1
    )
    assert requests(after, "GET", "/v1/experiments/{experiment_id}", 404) == 1
    assert (
        moved(before, after, "honed_http_requests_total", **_route("GET", "unmatched", 404)) == 1
    )
    # Templates only: a path with an id would make a series per experiment.
    routes = label_values(after, "honed_http_requests_total", "route")
    experiment = "/v1/experiments/{experiment_id}"
    assert routes == {
        "/health",
        "/v1/experiments",
        experiment,
        OBSERVATIONS,
        SUGGESTIONS,
        experiment + "/queued_suggestions",
        "unmatched",
    }
    duration = "honed_http_request_duration_seconds_count"
    assert value(after, duration, method="POST", route=SUGGESTIONS) == 5
    assert (
        value(after, "honed_http_request_duration_seconds_sum", method="POST", route=SUGGESTIONS)
        > 0
    )

    handed = "honed_suggestions_total"
    assert value(after, handed, source="engine", freshness="none", candidate="none") == 3
    assert value(after, handed, source="manual", freshness="none", candidate="none") == 1
    assert value(after, handed, source="queued", freshness="none", candidate="none") == 1
    # Read from the store at scrape time: 5 handed out, 1 observed.
    assert value(before, "honed_open_suggestions") == 0
    assert value(after, "honed_open_suggestions") == 4
    assert value(after, "honed_optimizer_processes_alive") == 0
    assert value(after, "honed_database_up") == 1
    assert value(after, "honed_db_pool_size") > 0


def _route(method: str, route: str, status: int) -> dict[str, str]:
    return {"method": method, "route": route, "status": str(status)}


@pytest.mark.postgres
# Two server processes and an optimizer importing torch, on a loaded 2-core machine: over
# 200 s at times, near the suite's 300 s default.
@pytest.mark.timeout(600)
def test_two_workers_and_an_optimizer_report_through_one_endpoint(
    postgres_server: PostgresServer,
) -> None:
    """Requests spread over two server processes are all counted; the optimizer process's
    fits and liveness show; a worker killed and replaced leaves no gauges behind."""
    database = postgres_server.create_database()
    port = free_port()
    pool = 3
    args = ["--metrics-port", str(port), "--db-pool-size", str(pool)]
    try:
        with running_server(
            database, workers=2, optimizers=1, startup_timeout=STARTUP, extra_args=args
        ) as server:
            client = httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=300)
            eid = client.post("/v1/experiments", json=EXPERIMENT).json()["id"]
            base = f"/v1/experiments/{eid}"
            handed: list[tuple[str, str, str]] = []
            # Past the initial design (5 points for one parameter) into the optimizer's.
            for _ in range(8):
                suggestion = client.post(f"{base}/suggestions").json()
                handed.append(_labels(suggestion))
                x = float(suggestion["assignments"]["x"])
                answer = client.post(
                    f"{base}/observations",
                    json={"suggestion": suggestion["id"], "value": -((x - 0.3) ** 2)},
                )
                assert answer.status_code == 200
            client.close()
            assert any(source == "optimizer" for source, _, _ in handed), handed
            samples = scrape(port)
            workers = worker_children(server.process.pid)
            assert len(workers) == 2, workers
            os.kill(workers[0], signal.SIGKILL)
            # The scrape drops the dead worker's gauges (its pool is no longer counted)...
            _until(port, lambda s: value(s, "honed_db_pool_size") == pool)
            # ... and counts its replacement's, once: never the dead one's as well.
            replaced = _until(port, lambda s: value(s, "honed_db_pool_size") == 2 * pool)
    finally:
        postgres_server.drop_database(database)

    assert requests(samples, "POST", SUGGESTIONS, 200) == 8
    assert requests(samples, "POST", OBSERVATIONS, 200) == 8
    # Each suggestion counted by what its own `source` and `model` say.
    for (source, freshness, candidate), count in Counter(handed).items():
        series = {"source": source, "freshness": freshness, "candidate": candidate}
        assert value(samples, "honed_suggestions_total", **series) == count, series
    assert total(samples, "honed_suggestions_total") == len(handed)
    assert value(samples, "honed_optimizer_processes_alive") == 1
    assert value(samples, "honed_optimizer_fit_duration_seconds_count", outcome="ok") >= 1
    assert value(samples, "honed_fit_last_duration_seconds_max") > 0
    assert value(samples, "honed_open_suggestions") == 0
    assert value(samples, "honed_db_pool_size") == 2 * pool  # each process's, summed
    # Counters keep what the killed worker counted.
    assert requests(replaced, "POST", SUGGESTIONS, 200) == 8


def _labels(suggestion: dict[str, Any]) -> tuple[str, str, str]:
    model = suggestion.get("model")
    if model is None:
        return (suggestion["source"], "none", "none")
    freshness = "fresh" if model["fresh"] else "stale"
    return (suggestion["source"], freshness, model["candidate"])


def _until(port: int, done: Callable[[Samples], bool], seconds: float = 180.0) -> Samples:
    """Scrapes until ``done(samples)``; fails past ``seconds``."""
    deadline = time.monotonic() + seconds
    while not done(samples := scrape(port)):
        assert time.monotonic() < deadline, f"never reached; last scrape: {samples}"
        time.sleep(0.2)
    return samples
