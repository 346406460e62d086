"""honed.client against a real `honed serve`, embedded SQLite and embedded PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from honed.client import Client
from honed.client import NewObservation
from honed.client import RetryPolicy
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import ServiceUnavailableError
from tests.support.server import free_port
from tests.support.server import running_server

EXPERIMENT = {
    "name": "client test",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
        {"name": "n", "type": "int", "bounds": {"min": 1, "max": 5}},
    ],
    "metrics": [{"name": "loss", "objective": "minimize"}],
    "observation_budget": 10,
}


@pytest.fixture(params=["remote", "embedded-sqlite", "embedded-postgres"])
def client(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Client]:
    if request.param == "remote":
        with running_server(sqlite_url) as server, Client(server.url, server.token) as remote:
            yield remote
    elif request.param == "embedded-sqlite":
        with Client(sqlite_url.removeprefix("sqlite:///")) as embedded:
            yield embedded
    else:
        url = request.getfixturevalue("postgres_url")
        with Client(url) as embedded:
            yield embedded


def test_round_trip(client: Client) -> None:
    experiment = client.create_experiment(EXPERIMENT)
    assert experiment.name == "client test"
    assert [m.name for m in experiment.optimized_metrics] == ["loss"]
    assert client.fetch_experiment(experiment.id).observation_budget == 10
    assert experiment.id in [e.id for e in client.list_experiments()]

    first = client.create_suggestion(experiment.id, metadata={"who": "a"})
    second = client.create_suggestion(experiment.id)
    assert set(first.assignments) == {"x", "n"}
    assert first.metadata == {"who": "a"}
    updated = client.update_suggestion(experiment.id, second.id, {"status": "running"})
    assert updated.metadata == {"status": "running"}
    assert [s.id for s in client.list_suggestions(experiment.id, open_only=True)] == [
        first.id,
        second.id,
    ]

    one = client.create_observation(
        experiment.id, NewObservation(suggestion=first.id, values={"loss": 0.5})
    )
    assert one.values == {"loss": 0.5}
    assert one.suggestion == first.id
    batch = client.create_observations(
        experiment.id,
        [
            NewObservation(suggestion=second.id, failed=True, metadata={"reason": "oom"}),
            NewObservation(assignments={"x": 0.1, "n": 2}, values={"loss": 0.25}),
        ],
    )
    assert [o.failed for o in batch] == [True, False]
    observations = client.list_observations(experiment.id)
    assert [o.id for o in observations] == [one.id, *(o.id for o in batch)]
    assert observations[1].metadata == {"reason": "oom"}
    assert client.list_suggestions(experiment.id, open_only=True) == []

    best = client.best_assignments(experiment.id)
    assert [b.values for b in best] == [{"loss": 0.25}]

    third = client.create_suggestion(experiment.id)
    client.delete_suggestion(experiment.id, third.id)
    assert third.id not in [s.id for s in client.list_suggestions(experiment.id, open_only=True)]


def test_errors_come_back_as_honed_errors(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.fetch_experiment("987654")
    with pytest.raises(InvalidRequestError, match="parameters"):
        client.create_experiment({"name": "no parameters", "parameters": "nope"})
    experiment = client.create_experiment(EXPERIMENT)
    with pytest.raises(NotFoundError):
        client.create_suggestion("987654")
    with pytest.raises(NotFoundError):
        client.update_suggestion(experiment.id, "987654", {"a": 1})
    with pytest.raises(NotFoundError):
        client.update_suggestion(experiment.id, "not-an-id", {"a": 1})
    with pytest.raises(InvalidRequestError, match=r"metadata\.a: values must be strings"):
        client.create_suggestion(experiment.id, metadata={"a": [1]})
    with pytest.raises(InvalidRequestError, match="x"):
        client.create_suggestion(experiment.id, assignments={"x": 7, "n": 1})


def test_lists_follow_pages(client: Client) -> None:
    experiment = client.create_experiment(EXPERIMENT)
    created = [client.create_suggestion(experiment.id).id for _ in range(5)]
    import honed.client.client as module

    old, module.PAGE_LIMIT = module.PAGE_LIMIT, 2
    try:
        assert [s.id for s in client.list_suggestions(experiment.id)] == created
    finally:
        module.PAGE_LIMIT = old


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 to the first ``failures`` requests, then 200; remembers the headers."""

    failures = 2
    seen: list[dict[str, Any]] = []  # noqa: RUF012 (per-test state, reset by the fixture)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        type(self).seen.append(dict(self.headers))
        if len(type(self).seen) <= type(self).failures:
            body, status = b'{"message": "database unreachable", "status": 503}', 503
        else:
            body = b'{"object": "observation", "id": "7", "experiment": "1", "values": []}'
            status = 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def flaky_url() -> Iterator[str]:
    _Flaky.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_503_is_retried_with_backoff_and_one_idempotency_key(flaky_url: str) -> None:
    waits: list[float] = []
    with Client(flaky_url, "t", sleep=waits.append) as client:
        observation = client.create_observation("1", NewObservation(values={"y": 1.0}))
    assert observation.id == "7"
    assert len(_Flaky.seen) == 3
    keys = {headers["Idempotency-Key"] for headers in _Flaky.seen}
    assert len(keys) == 1  # every retry repeats the same key
    assert len(waits) == 2
    assert waits[1] > waits[0] / 2  # backoff grows (up to jitter)


def test_503_gives_up_after_the_attempts(flaky_url: str) -> None:
    _Flaky.failures = 99
    try:
        waits: list[float] = []
        retry = RetryPolicy(attempts=3, base_seconds=0.01)
        with (
            Client(flaky_url, "t", retry=retry, sleep=waits.append) as client,
            pytest.raises(ServiceUnavailableError, match="database unreachable"),
        ):
            client.create_observation("1", NewObservation(values={"y": 1.0}))
        assert len(_Flaky.seen) == 3
        assert len(waits) == 2
    finally:
        _Flaky.failures = 2


def test_connection_errors_are_retried_then_reported() -> None:
    waits: list[float] = []
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    with (
        Client(url, "t", retry=RetryPolicy(attempts=4), sleep=waits.append) as client,
        pytest.raises(ServiceUnavailableError, match="unreachable"),
    ):
        client.create_suggestion("1")
    assert len(waits) == 3


def test_remote_needs_a_token() -> None:
    with pytest.raises(ValueError, match="token"):
        Client("http://127.0.0.1:1")


def test_import_loads_no_heavy_modules() -> None:
    code = (
        "import sys, honed.client, honed.scheduler, honed.scheduler.runners\n"
        "heavy = [m for m in ('torch', 'fastapi', 'sqlalchemy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
