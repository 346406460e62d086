"""The embedded transport runs the worker loop's calls through the app's own routes, in the
caller's thread, with the app's answers."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from honed.client.embedded import EmbeddedTransport
from honed.server import handout
from honed.server.routes import observations
from honed.server.routes import suggestions
from tests.cli.test_serve import alive

EXPERIMENT = {
    "name": "embedded",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "metrics": [{"name": "loss"}],
    "observation_budget": 10,
}


@pytest.fixture
def transport(sqlite_url: str) -> Iterator[EmbeddedTransport]:
    embedded = EmbeddedTransport(sqlite_url)
    yield embedded
    embedded.close()


def _http(transport: EmbeddedTransport, secret: str | None = None) -> httpx.Client:
    auth = base64.b64encode(f"{secret or transport.secret}:".encode()).decode()
    return httpx.Client(
        base_url="http://embedded", transport=transport, headers={"Authorization": f"Basic {auth}"}
    )


def test_hot_calls_are_found_among_the_apps_routes(transport: EmbeddedTransport) -> None:
    app = transport._app
    found = handout.hot_route(app, "POST", "/v1/experiments/12/suggestions")
    assert found is not None
    assert found[0].operation is suggestions.create_suggestion
    assert found[1] == {"experiment_id": "12"}
    update = handout.hot_route(app, "PUT", "/v1/experiments/12/suggestions/7")
    assert update is not None
    assert update[0].operation is suggestions.update_suggestion
    assert update[1] == {"experiment_id": "12", "suggestion_id": "7"}
    observe = handout.hot_route(app, "POST", "/v1/experiments/12/observations")
    assert observe is not None
    assert observe[0].operation is observations.create_observation
    # Other calls, and methods the hot paths do not serve, go through the app.
    assert handout.hot_route(app, "GET", "/v1/experiments/12/suggestions") is None
    assert handout.hot_route(app, "POST", "/v1/experiments/12/observations/batch") is None
    assert handout.hot_route(app, "PATCH", "/v1/experiments/12/suggestions/7") is None


def test_hot_calls_run_in_the_callers_thread(
    transport: EmbeddedTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    operation = suggestions.create_suggestion

    def traced(call: handout.HotCall) -> handout.Steps:
        threads.append(threading.current_thread())
        return (yield from operation(call))

    found = handout.hot_route(transport._app, "POST", "/v1/experiments/1/suggestions")
    assert found is not None
    monkeypatch.setattr(found[0], "operation", traced)
    with _http(transport) as http:
        experiment = http.post("/v1/experiments", json=EXPERIMENT).json()
        created = http.post(f"/v1/experiments/{experiment['id']}/suggestions", json={})
    assert created.status_code == 200
    assert threads == [threading.current_thread()]


def test_hot_calls_answer_as_the_app_does(transport: EmbeddedTransport) -> None:
    with _http(transport) as http:
        eid = http.post("/v1/experiments", json=EXPERIMENT).json()["id"]
        answers: list[tuple[int, Any]] = []
        for path, body in [
            (f"/v1/experiments/{eid}/suggestions", {"assignments": {"x": 7}}),
            (f"/v1/experiments/{eid}/suggestions", {"metadata": [1]}),
            ("/v1/experiments/not-an-id/suggestions", {}),
            (f"/v1/experiments/{eid}/observations", {"values": "nope"}),
        ]:
            response = http.post(path, json=body)
            answers.append((response.status_code, response.json()))
        assert [status for status, _ in answers] == [400, 400, 404, 400]
        assert all(set(body) == {"message", "status"} for _, body in answers)
        assert "x" in answers[0][1]["message"]
        assert "metadata" in answers[1][1]["message"]
        stranger = _http(transport, "no-such-token")
        refused = stranger.post(f"/v1/experiments/{eid}/suggestions", json={})
        through_app = stranger.get(f"/v1/experiments/{eid}")
        assert refused.status_code == through_app.status_code == 403
        assert refused.json() == through_app.json()
        # The skip header is the app middleware's: such a request goes through the app.
        skipped = http.post(
            f"/v1/experiments/{eid}/suggestions", json={}, headers={"X-Response-Content": "skip"}
        )
        assert (skipped.status_code, skipped.content) == (204, b"")


def test_an_idempotency_key_holds_on_the_embedded_hot_path(transport: EmbeddedTransport) -> None:
    with _http(transport) as http:
        eid = http.post("/v1/experiments", json=EXPERIMENT).json()["id"]
        suggestion = http.post(f"/v1/experiments/{eid}/suggestions", json={}).json()
        body = {"suggestion": suggestion["id"], "value": 0.5}
        key = {"Idempotency-Key": "retry-1"}
        first = http.post(f"/v1/experiments/{eid}/observations", json=body, headers=key)
        again = http.post(f"/v1/experiments/{eid}/observations", json=body, headers=key)
        assert first.status_code == again.status_code == 200
        assert first.json() == again.json()
        listed = http.get(f"/v1/experiments/{eid}/observations").json()
        assert [o["id"] for o in listed["data"]] == [first.json()["id"]]


def test_an_embedded_optimizer_that_dies_is_started_again(sqlite_url: str) -> None:
    """The same owner as ``honed serve``'s starts a killed optimizer again and ends it with
    the client."""
    transport = EmbeddedTransport(sqlite_url, optimizers=1)
    try:
        [first] = transport.optimizer_pids()
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while transport.optimizer_pids() in ([first], []):
            assert time.monotonic() < deadline, "the optimizer was not started again"
            time.sleep(0.1)
        [second] = transport.optimizer_pids()
        assert second != first
    finally:
        transport.close()
    assert not alive(second)
