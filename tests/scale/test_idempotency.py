"""Idempotent observation creates: Idempotency-Key replays, and exact repeats of a report,
in one process and across two server processes on one PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.scale.helpers import all_items
from tests.scale.helpers import new_experiment
from tests.scale.helpers import ok
from tests.support.postgres import PostgresServer
from tests.support.server import RunningServer
from tests.support.server import running_server

KEY = "Idempotency-Key"


def test_idempotency_key_replays_the_first_answer(api: TestClient) -> None:
    eid = new_experiment(api)
    base = f"/v1/experiments/{eid}"
    suggestion = ok(api.post(f"{base}/suggestions"))
    body = {"suggestion": suggestion["id"], "values": [{"value": 1.5}]}
    key = str(uuid.uuid4())
    first = ok(api.post(f"{base}/observations", json=body, headers={KEY: key}))
    assert ok(api.post(f"{base}/observations", json=body, headers={KEY: key})) == first
    # The same key with another request: refused, nothing stored.
    other = {"suggestion": suggestion["id"], "values": [{"value": 9.0}]}
    refused = api.post(f"{base}/observations", json=other, headers={KEY: key})
    assert refused.status_code == 422
    assert refused.json()["status"] == 422
    assert KEY in refused.json()["message"]
    for bad in ("", "x" * 256, "caf\u00e9"):
        response = api.post(f"{base}/observations", json=body, headers={KEY: bad.encode()})
        assert response.status_code == 400, bad
        assert KEY in response.json()["message"]
    # Batches replay whole.
    points = [ok(api.post(f"{base}/suggestions")) for _ in range(3)]
    batch = {"observations": [{"suggestion": p["id"], "value": 1.0} for p in points]}
    created = ok(api.post(f"{base}/observations/batch", json=batch, headers={KEY: "batch-1"}))
    again = ok(api.post(f"{base}/observations/batch", json=batch, headers={KEY: "batch-1"}))
    assert [o["id"] for o in again["data"]] == [o["id"] for o in created["data"]]
    assert ok(api.get(f"{base}/observations", params={"limit": 0}))["count"] == 4


def test_a_repeated_report_of_a_suggestion_is_stored_once(api: TestClient) -> None:
    eid = new_experiment(api)
    base = f"/v1/experiments/{eid}"
    suggestion = ok(api.post(f"{base}/suggestions"))
    body = {"suggestion": suggestion["id"], "value": 2.0, "metadata": {"host": "a"}}
    first = ok(api.post(f"{base}/observations", json=body))
    assert ok(api.post(f"{base}/observations", json=body)) == first
    # A different report of the same suggestion is a new observation, as in SigOpt.
    second = ok(api.post(f"{base}/observations", json={**body, "metadata": {"host": "b"}}))
    assert second["id"] != first["id"]
    assert ok(api.get(f"{base}/observations", params={"limit": 0}))["count"] == 2


@pytest.fixture(scope="module")
def two_servers(postgres_server: PostgresServer) -> Iterator[list[RunningServer]]:
    with ExitStack() as stack:
        database = postgres_server.create_database()
        stack.callback(postgres_server.drop_database, database)
        # One after the other: the first migrates the database.
        yield [stack.enter_context(running_server(database)) for _ in range(2)]


@pytest.mark.postgres
def test_retries_through_two_processes_at_once_store_one_observation(
    two_servers: list[RunningServer],
) -> None:
    clients = [httpx.Client(base_url=s.url, auth=(s.token, ""), timeout=60) for s in two_servers]
    try:
        eid = new_experiment(clients[0])
        base = f"/v1/experiments/{eid}"
        suggestions = [ok(clients[0].post(f"{base}/suggestions")) for _ in range(24)]

        def report(args: tuple[int, int]) -> str:
            index, server = args
            suggestion = suggestions[index]
            body = {"suggestion": suggestion["id"], "values": [{"value": float(index)}]}
            # Half with a key (the same one on both servers), half relying on the repeat rule.
            headers = {KEY: f"report-{index}"} if index % 2 else {}
            response = clients[server].post(f"{base}/observations", json=body, headers=headers)
            observation_id: str = ok(response)["id"]
            return observation_id

        jobs = [(i, s) for i in range(len(suggestions)) for s in (0, 1, 0, 1)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(report, jobs))
        by_suggestion: dict[int, set[str]] = {}
        for (index, _), observation_id in zip(jobs, answers, strict=True):
            by_suggestion.setdefault(index, set()).add(observation_id)
        assert all(len(ids) == 1 for ids in by_suggestion.values()), by_suggestion
        stored = all_items(clients[1], f"{base}/observations")
        assert len(stored) == len(suggestions)
        assert sorted(o["suggestion"] for o in stored) == sorted(s["id"] for s in suggestions)
    finally:
        for client in clients:
            client.close()


def test_a_replayed_key_is_checked_like_a_new_request(api: TestClient) -> None:
    services = api.app.state.services  # type: ignore[attr-defined]
    client_id = int(ok(api.get("/v1/tokens/self"))["client"])
    eid = new_experiment(api)
    base = f"/v1/experiments/{eid}"
    suggestion = ok(api.post(f"{base}/suggestions"))
    body = {"suggestion": suggestion["id"], "value": 1.0}
    ok(api.post(f"{base}/observations", json=body, headers={KEY: "shared"}))
    reader = services.tokens.issue(client_id, permissions="read").secret
    with TestClient(api.app) as other:
        other.auth = (reader, "")
        response = other.post(f"{base}/observations", json=body, headers={KEY: "shared"})
        assert response.status_code == 403
