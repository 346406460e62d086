"""A multisolution experiment as a user of the official client runs it: created with
``num_solutions``, tuned by several worker processes against a real ``honed serve`` with
its optimizer process, on SQLite and on PostgreSQL; best assignments then holds that many
solutions, the best first and no two alike."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sigopt.exception import ApiException

from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.ranking import SOLUTION_RADIUS
from honed.domain.ranking import distance
from tests.e2e.sigopt_worker import TOKEN
from tests.e2e.sigopt_worker import connection
from tests.e2e.sigopt_worker import everything
from tests.e2e.sigopt_worker import run_workers
from tests.support.server import RunningServer
from tests.support.server import running_server

WORKERS = 3
ITERATIONS = 8
SOLUTIONS = 3
JOB_TIMEOUT = 900.0  # a fit takes seconds; the test machine may be busy
PARAMETERS: list[dict[str, Any]] = [
    {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
    {"name": "y", "type": "double", "bounds": {"min": 0, "max": 1}},
]
SPACE = SearchSpace(
    tuple(Parameter(p["name"], ParameterType.DOUBLE, (0.0, 1.0)) for p in PARAMETERS)
)


@pytest.fixture(scope="module")
def server(backend_url: str) -> Iterator[RunningServer]:
    with running_server(backend_url, token=TOKEN, optimizers=1) as running:
        yield running


def test_workers_find_diverse_solutions(server: RunningServer) -> None:
    with connection(server.url) as conn:
        experiment = conn.experiments().create(
            name="multisolution",
            parameters=PARAMETERS,
            metrics=[{"name": "score", "objective": "maximize"}],
            observation_budget=WORKERS * ITERATIONS,
            parallel_bandwidth=WORKERS,
            num_solutions=SOLUTIONS,
        )
        assert experiment.num_solutions == SOLUTIONS  # the client's own object reads it
        with pytest.raises(ApiException) as refused:
            conn.experiments(experiment.id).update(num_solutions=2)
        assert refused.value.status_code == 400
        assert "num_solutions" in str(refused.value)

        steps = run_workers(server.url, experiment.id, WORKERS, ITERATIONS, JOB_TIMEOUT)

        records = conn.experiments(experiment.id)
        sources = Counter(s.to_json()["source"] for s in everything(records.suggestions().fetch()))
        assert sources["optimizer"] > 0, (sources, server.log())
        best = everything(records.best_assignments().fetch())
        assert len(best) == SOLUTIONS
        # The best observation first, then worse ones, none beside another.
        values = [b.values[0].value for b in best]
        assert values[0] == max(step.value for step in steps)
        assert values == sorted(values, reverse=True)
        points = [b.assignments.to_json() for b in best]
        for a, b in itertools.combinations(points, 2):
            assert distance(SPACE, a, b) >= SOLUTION_RADIUS, points
