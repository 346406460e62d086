"""Several OS processes run the sigopt 8.x ``experiment.loop()`` on one AI experiment.

Training runs take their assignments from the same serialized, duplicate-free suggestion
path as the classic API, and a finished run becomes the observation the optimizer learns
from (a failed run a failed one).
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.runs_worker import LoopJob
from tests.e2e.runs_worker import RunRecord
from tests.e2e.runs_worker import run_loop
from tests.e2e.sigopt_worker import connection
from tests.e2e.sigopt_worker import everything
from tests.e2e.sigopt_worker import point_key
from tests.support.server import RunningServer
from tests.support.server import running_server

WORKERS = 4
PROJECT = "parallel-runs"
CONTINUOUS: list[dict[str, Any]] = [
    {"name": "learning_rate", "type": "double", "bounds": {"min": 0.001, "max": 1.0}},
    {"name": "dropout", "type": "double", "bounds": {"min": 0.0, "max": 0.5}},
]
# 3 x 2 = 6 points for 4 workers: most points are held by a running run at any moment.
SMALL: list[dict[str, Any]] = [
    {"name": "layers", "type": "int", "bounds": {"min": 1, "max": 3}},
    {"name": "activation", "type": "categorical", "categorical_values": ["relu", "tanh"]},
]


@pytest.fixture(scope="module")
def server(backend_url: str) -> Iterator[RunningServer]:
    """One server per backend for the module; each test makes its own experiment. The
    SQLite one runs an optimizer process, as ``honed serve`` does by default."""
    optimizers = 1 if backend_url.startswith("sqlite") else 0
    with running_server(backend_url, candidate_wait=0.2, optimizers=optimizers) as running:
        yield running


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    """One job per process: user code reads SIGOPT_* once, into a process-wide connection."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(WORKERS, maxtasksperchild=1) as workers:
        yield workers


def create_ai_experiment(
    server: RunningServer, parameters: list[dict[str, Any]], budget: int
) -> str:
    with connection(server.url, server.token) as conn:
        client = conn.tokens("self").fetch().client
        projects = conn.clients(client).projects()
        if not [p for p in everything(projects.fetch()) if p.id == PROJECT]:
            projects.create(id=PROJECT, name="Parallel runs")
        experiment = (
            conn.clients(client)
            .projects(PROJECT)
            .aiexperiments()
            .create(
                name="parallel loop",
                parameters=parameters,
                metrics=[{"name": "score", "objective": "maximize"}],
                budget=budget,
                parallel_bandwidth=WORKERS,
            )
        )
    experiment_id: str = experiment.id
    return experiment_id


def run_workers(
    pool: Any,
    server: RunningServer,
    experiment_id: str,
    fail_every: int = 0,
    work_seconds: float = 0.0,
) -> list[RunRecord]:
    records: list[RunRecord] = []
    with tempfile.TemporaryDirectory(prefix="start-line-") as line:
        jobs = [
            LoopJob(
                server.url,
                server.token,
                PROJECT,
                experiment_id,
                worker,
                fail_every,
                work_seconds,
                start_line=line,
                workers=WORKERS,
            )
            for worker in range(WORKERS)
        ]
        for result in pool.map_async(run_loop, jobs).get(timeout=240):
            records += result
    return records


def check_runs_and_observations(
    server: RunningServer, experiment_id: str, records: list[RunRecord], budget: int
) -> None:
    """What the server holds afterwards agrees with what the workers did."""
    # Each worker checks the remaining budget before it asks for a run, so the last few
    # may start together: at most one extra run per other worker.
    assert budget <= len(records) <= budget + WORKERS - 1
    with connection(server.url, server.token) as conn:
        experiment = conn.aiexperiments(experiment_id).fetch()
        runs = everything(
            conn.clients(experiment.client)
            .projects(PROJECT)
            .training_runs()
            .fetch(
                filters=json.dumps(
                    [{"field": "experiment", "operator": "==", "value": experiment_id}]
                )
            )
        )
        observations = everything(conn.experiments(experiment_id).observations().fetch())
        suggestions = everything(conn.experiments(experiment_id).suggestions().fetch())

    progress = experiment.progress
    assert progress.total_run_count == progress.finished_run_count == len(records)
    assert progress.active_run_count == 0
    assert progress.remaining_budget == budget - len(records)

    by_id = {run.id: run for run in runs}
    assert set(by_id) == {r.run_id for r in records}
    assert len(suggestions) == len(records)
    assert {s.state for s in suggestions} == {"closed"}
    assert {run.suggestion for run in runs} == {s.id for s in suggestions}
    # One observation per run, made from what the run reported.
    assert len(observations) == len(records)
    observation_of = {o.id: o for o in observations}
    assert {run.observation for run in runs} == set(observation_of)
    for record in records:
        run = by_id[record.run_id]
        observation = observation_of[run.observation]
        assert observation.suggestion == run.suggestion
        assert run.assignments.to_json() == record.assignments
        assert observation.assignments.to_json() == record.assignments
        assert run.state == ("failed" if record.failed else "completed")
        assert observation.failed == record.failed
        if not record.failed:
            assert observation.values[0].name == "score"
            assert observation.values[0].value == record.value
            assert run.values["score"].value == record.value


def test_parallel_loops_get_distinct_points(server: RunningServer, pool: Any) -> None:
    budget = 24
    experiment_id = create_ai_experiment(server, CONTINUOUS, budget)

    records = run_workers(pool, server, experiment_id, fail_every=5)

    check_runs_and_observations(server, experiment_id, records, budget)
    points = Counter(point_key(r.assignments) for r in records)
    assert max(points.values()) == 1, f"runs with equal assignments: {points.most_common(3)}"
    assert Counter(r.worker for r in records).keys() == set(range(WORKERS))
    assert any(r.failed for r in records)


def test_no_two_running_runs_share_a_point(server: RunningServer, pool: Any) -> None:
    """A space of 6 points and 4 workers: points must repeat over time, but a run never
    gets the point of a run that was certainly still running when it was created."""
    budget = 30
    experiment_id = create_ai_experiment(server, SMALL, budget)

    # Each evaluation takes long beside a request, so that runs overlap: with 0.05 s, on a
    # slow machine under load, a worker's next run took longer to start than another's
    # evaluation and report, and no two runs overlapped (the check below saw nothing).
    records = run_workers(pool, server, experiment_id, work_seconds=0.5)

    check_runs_and_observations(server, experiment_id, records, budget)
    assert len({point_key(r.assignments) for r in records}) < len(records)
    overlapping = 0
    for new in records:
        for held in records:
            if held is not new and held.got <= new.asked and held.ending >= new.got:
                overlapping += 1
                assert held.assignments != new.assignments, (
                    f"run {new.run_id} repeats running run {held.run_id}: {new.assignments}"
                )
    assert overlapping > 0, "no two runs ran at once; the check above saw nothing"


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
def test_runs_get_the_optimizers_candidates(server: RunningServer) -> None:
    """Once the initial design is observed, a new run's assignments are a candidate of the
    Bayesian optimizer process (suggestion source "optimizer"), as classic suggestions are."""
    experiment_id = create_ai_experiment(server, CONTINUOUS[:1], budget=100)
    deadline = time.monotonic() + 120  # the optimizer process may still be importing torch
    sources: list[str | None] = []
    with connection(server.url, server.token) as conn:
        runs = conn.aiexperiments(experiment_id).training_runs()
        while "optimizer" not in sources:
            assert time.monotonic() < deadline, f"no optimizer candidate in 120 s: {sources}"
            run = runs.create(name="sequential")
            suggestion = conn.experiments(experiment_id).suggestions(run.suggestion).fetch()
            sources.append(suggestion.to_json()["source"])
            assert run.assignments.to_json() == suggestion.assignments.to_json()
            rate = float(run.assignments["learning_rate"])
            conn.training_runs(run.id).update(
                values={"score": {"value": -((rate - 0.3) ** 2)}}, state="completed"
            )
            time.sleep(0.2 if len(sources) > 5 else 0)
    assert sources[:5] == ["engine"] * 5  # the Sobol initial design of one parameter
