"""A multitask experiment as a user of the official client runs it: created with
``tasks``, tuned by several worker processes against a real ``honed serve`` with its
optimizer process, on SQLite and on PostgreSQL. Every suggestion names a task of the
experiment, at which its worker evaluates; the initial design uses more than one task;
the budget is consumed in task costs; best assignments is an evaluation of the cost-1
task. Bad task definitions, and a task on a plain experiment, are 400s."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sigopt.exception import ApiException

from tests.e2e.sigopt_worker import TOKEN
from tests.e2e.sigopt_worker import connection
from tests.e2e.sigopt_worker import everything
from tests.e2e.sigopt_worker import run_workers
from tests.support.server import RunningServer
from tests.support.server import running_server

WORKERS = 3
ITERATIONS = 4
JOB_TIMEOUT = 900.0  # a fit takes seconds; the test machine may be busy
PARAMETERS: list[dict[str, Any]] = [
    {"name": "gamma", "type": "double", "bounds": {"min": 0.001, "max": 1}},
    {"name": "y", "type": "double", "bounds": {"min": 0, "max": 1}},
]
TASKS = [{"name": "cheap", "cost": 0.25}, {"name": "full", "cost": 1}]
COST = {"cheap": 0.25, "full": 1.0}
BAD_TASKS: list[tuple[Any, str]] = [
    ([TASKS[1]], "tasks"),
    ([TASKS[0], {"name": "full", "cost": 0.5}], "tasks"),  # none of cost 1
    ([TASKS[0], {"name": "cheap", "cost": 1}], "tasks[1].name"),
    ([{"name": "cheap", "cost": 0}, TASKS[1]], "tasks[0] (cheap).cost"),
    ([{"name": "cheap", "cost": 1.5}, TASKS[1]], "tasks[0] (cheap).cost"),
    ([{"name": "cheap"}, TASKS[1]], "tasks[0].cost"),
]


@pytest.fixture(scope="module")
def server(backend_url: str) -> Iterator[RunningServer]:
    with running_server(backend_url, token=TOKEN, optimizers=1) as running:
        yield running


def create(conn: Any, **changes: Any) -> Any:
    return conn.experiments().create(
        **{
            "name": "multitask",
            "parameters": PARAMETERS,
            "metrics": [{"name": "score", "objective": "maximize"}],
            "observation_budget": 12,
            **changes,
        }
    )


def test_bad_tasks_are_refused(server: RunningServer) -> None:
    with connection(server.url) as conn:
        for tasks, field in BAD_TASKS:
            with pytest.raises(ApiException) as refused:
                create(conn, tasks=tasks)
            assert refused.value.status_code == 400, tasks
            assert field in str(refused.value), (tasks, str(refused.value))
        with pytest.raises(ApiException) as refused:
            create(conn, tasks=TASKS, observation_budget=None)
        assert "observation_budget" in str(refused.value)
        plain = create(conn)
        assert plain.tasks is None
        with pytest.raises(ApiException) as refused:
            conn.experiments(plain.id).observations().create(
                assignments={"gamma": 0.1, "y": 0.5}, value=1.0, task="cheap"
            )
        assert refused.value.status_code == 400
        assert "task" in str(refused.value)


def test_workers_evaluate_at_the_suggested_tasks(server: RunningServer) -> None:
    with connection(server.url) as conn:
        experiment = create(conn, tasks=TASKS, parallel_bandwidth=WORKERS)
        # The client's own objects read the tasks, the target first.
        assert [(t.name, t.cost) for t in experiment.tasks] == [("full", 1.0), ("cheap", 0.25)]
        with pytest.raises(ApiException) as refused:
            conn.experiments(experiment.id).update(tasks=TASKS)
        assert refused.value.status_code == 400
        assert "tasks" in str(refused.value)

        steps = run_workers(server.url, experiment.id, WORKERS, ITERATIONS, JOB_TIMEOUT)
        assert len(steps) == WORKERS * ITERATIONS

        records = conn.experiments(experiment.id)
        suggestions = everything(records.suggestions().fetch())
        assert len(suggestions) == WORKERS * ITERATIONS
        for suggestion in suggestions:
            assert suggestion.task is not None, suggestion
            assert COST[suggestion.task.name] == suggestion.task.cost
        sources = Counter(s.to_json()["source"] for s in suggestions)
        assert sources["optimizer"] > 0, (sources, server.log())
        # The initial design (the sequence engine's points) cycles through the tasks.
        design = Counter(s.task.name for s in suggestions if s.to_json()["source"] == "engine")
        assert set(design) == set(COST), design
        # Each worker evaluated at its suggestion's task, and so did its observation.
        by_id = {s.id: s.task.name for s in suggestions}
        assert all(step.task == by_id[step.suggestion_id] for step in steps)
        observations = everything(records.observations().fetch())
        assert {o.id: o.task.name for o in observations} == {
            step.observation_id: step.task for step in steps
        }

        fetched = records.fetch()
        spent = math.fsum(COST[o.task.name] for o in observations)
        assert fetched.progress.observation_count == len(steps)
        assert fetched.progress.observation_budget_consumed == pytest.approx(spent)
        assert spent < len(steps)  # the cheap task cost less than a count would say

        best = everything(records.best_assignments().fetch())
        assert len(best) == 1
        best_task = {o.id: o.task.name for o in observations}[best[0].id]
        assert best_task == "full"
        full = [step.value for step in steps if step.task == "full"]
        assert best[0].values[0].value == max(full)
        # (The client deprecates progress.best_observation: read from its JSON.)
        progress = fetched.progress.to_json()
        assert progress["best_observation"]["id"] == best[0].id
        assert progress["best_observation"]["task"] == {"object": "task", **TASKS[1]}
