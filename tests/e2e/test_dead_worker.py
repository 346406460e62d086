"""A worker dies (SIGKILL) holding a suggestion: another process finds it and finishes it,
and the remaining open suggestions can be cleared without touching finished work."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.e2e.sigopt_worker import HOSTNAME
from tests.e2e.sigopt_worker import connection
from tests.e2e.sigopt_worker import evaluate
from tests.e2e.sigopt_worker import everything
from tests.e2e.sigopt_worker import finish_suggestion
from tests.e2e.sigopt_worker import hold_suggestion
from tests.e2e.sigopt_worker import ids
from tests.e2e.sigopt_worker import start_servers
from tests.support.postgres import PostgresServer
from tests.support.server import RunningServer

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
PIPE_TIMEOUT = 60.0

spawn = multiprocessing.get_context("spawn")


@pytest.fixture(scope="module")
def servers(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, RunningServer]]:
    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('dead-worker') / 'honed.db'}"
    with ExitStack() as stack:
        database = postgres_server.create_database()
        stack.callback(postgres_server.drop_database, database)
        sqlite, postgres = start_servers(stack, [sqlite_url, database])
        yield {"sqlite": sqlite, "postgres": postgres}


def in_process(target: Any, *args: Any) -> Any:
    """Run ``target(*args, pipe)`` in a spawned process and return what it sent."""
    receiver, sender = spawn.Pipe(duplex=False)
    process = spawn.Process(target=target, args=(*args, sender), daemon=True)
    process.start()
    sender.close()
    try:
        assert receiver.poll(PIPE_TIMEOUT), f"{target.__name__} sent nothing"
        result = receiver.recv()
        process.join(PIPE_TIMEOUT)
        assert process.exitcode == 0
        return result
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
            process.join()


def observe(conn: Any, experiment_id: str) -> tuple[str, str]:
    """One ordinary turn in this process; returns (suggestion id, observation id)."""
    suggestion = conn.experiments(experiment_id).suggestions().create()
    observation = (
        conn.experiments(experiment_id)
        .observations()
        .create(suggestion=suggestion.id, value=evaluate(suggestion.assignments.to_json()))
    )
    return suggestion.id, observation.id


@pytest.mark.parametrize("backend", BACKENDS)
def test_suggestion_of_a_killed_worker_is_finished_elsewhere(
    backend: str, servers: dict[str, RunningServer]
) -> None:
    server = servers[backend]
    with connection(server.url) as conn:
        experiment_id = (
            conn.experiments()
            .create(
                name="Classifier Accuracy",
                parameters=[
                    {"name": "gamma", "type": "double", "bounds": {"min": 0.001, "max": 1.0}}
                ],
                observation_budget=20,
            )
            .id
        )
        experiment = conn.experiments(experiment_id)
        done = [observe(conn, experiment_id) for _ in range(2)]

        # A worker takes a suggestion and dies holding it.
        receiver, sender = spawn.Pipe(duplex=False)
        holder = spawn.Process(
            target=hold_suggestion,
            args=(server.url, server.token, experiment_id, sender),
            daemon=True,
        )
        holder.start()
        sender.close()
        try:
            assert receiver.poll(PIPE_TIMEOUT), "the worker never reported its suggestion"
            held_id = receiver.recv()
            assert holder.pid is not None
            os.kill(holder.pid, signal.SIGKILL)
            holder.join(PIPE_TIMEOUT)
            assert holder.exitcode == -signal.SIGKILL
        finally:
            receiver.close()
            if holder.is_alive():
                holder.kill()
                holder.join()

        # Its suggestion is still open, and listed as such.
        open_now = everything(experiment.suggestions().fetch(state="open"))
        assert ids(open_now) == [held_id]
        assert open_now[0].state == "open"
        assert open_now[0].metadata["pid"] == holder.pid

        # Another process finishes it.
        observation_id = in_process(
            finish_suggestion, server.url, server.token, experiment_id, held_id
        )
        held = experiment.suggestions(held_id).fetch()
        assert held.state == "closed"
        finished = experiment.observations(observation_id).fetch()
        assert finished.suggestion == held_id
        assert finished.assignments.to_json() == held.assignments.to_json()
        assert finished.metadata["hostname"] == HOSTNAME
        assert finished.metadata["finisher"] not in (None, holder.pid, os.getpid())
        assert experiment.suggestions().fetch(state="open").count == 0

        # More workers take suggestions and abandon them; clearing the open ones leaves
        # every closed suggestion and every observation as it was.
        abandoned = [experiment.suggestions().create().id for _ in range(3)]
        assert sorted(ids(everything(experiment.suggestions().fetch(state="open")))) == sorted(
            abandoned
        )
        closed_before = [s.to_json() for s in everything(experiment.suggestions().fetch())]
        closed_before = [s for s in closed_before if s["state"] == "closed"]
        observations_before = [o.to_json() for o in everything(experiment.observations().fetch())]
        assert len(closed_before) == len(observations_before) == len(done) + 1

        assert experiment.suggestions().delete(state="open") is None

        assert experiment.suggestions().fetch(state="open").count == 0
        assert everything(experiment.suggestions().fetch(state="open")) == []
        assert [s.to_json() for s in everything(experiment.suggestions().fetch())] == (
            closed_before
        )
        assert [o.to_json() for o in everything(experiment.observations().fetch())] == (
            observations_before
        )
        deleted = everything(experiment.suggestions().fetch(deleted=True))
        assert sorted(ids(deleted)) == sorted(abandoned)
        for suggestion_id, _ in done:
            assert experiment.suggestions(suggestion_id).fetch().state == "closed"
        progress = experiment.fetch().progress
        assert progress.observation_count == len(done) + 1

        # The experiment carries on: the next suggestion is open and can be observed.
        observe(conn, experiment_id)
        assert experiment.fetch().progress.observation_count == len(done) + 2
