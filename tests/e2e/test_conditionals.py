"""A conditional experiment as a user of the official client runs it: created with
``conditionals`` and ``conditions``, then tuned by several worker processes against a real
``honed serve`` with its optimizer process, on SQLite and on PostgreSQL. Every suggestion,
Sobol's or the optimizer's, assigns the conditionals and only the parameters they
activate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.sigopt_worker import TOKEN
from tests.e2e.sigopt_worker import connection
from tests.e2e.sigopt_worker import everything
from tests.e2e.sigopt_worker import run_workers
from tests.support.server import RunningServer
from tests.support.server import running_server

WORKERS = 4
ITERATIONS = 5
JOB_TIMEOUT = 900.0  # a fit takes seconds; the test machine may be busy
CONDITIONALS = [{"name": "model", "values": ["forest", "net", "linear"]}]
PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "trees",
        "type": "int",
        "bounds": {"min": 1, "max": 50},
        "conditions": {"model": "forest"},
    },
    {
        "name": "depth",
        "type": "int",
        "bounds": {"min": 1, "max": 8},
        "conditions": {"model": ["forest", "net"]},
    },
    {
        "name": "rate",
        "type": "double",
        "bounds": {"min": 0.001, "max": 1},
        "conditions": {"model": "net"},
    },
    {
        "name": "penalty",
        "type": "categorical",
        "categorical_values": ["l1", "l2"],
        "conditions": {"model": "linear"},
    },
    {"name": "seed", "type": "double", "bounds": {"min": 0, "max": 1}},
]
ACTIVE = {
    "forest": {"trees", "depth", "seed"},
    "net": {"depth", "rate", "seed"},
    "linear": {"penalty", "seed"},
}


@pytest.fixture(scope="module")
def server(backend_url: str) -> Iterator[RunningServer]:
    with running_server(backend_url, token=TOKEN, optimizers=1) as running:
        yield running


def test_workers_get_only_active_parameters(server: RunningServer) -> None:
    with connection(server.url) as conn:
        experiment = conn.experiments().create(
            name="conditional",
            conditionals=CONDITIONALS,
            parameters=PARAMETERS,
            metrics=[{"name": "score", "objective": "maximize"}],
            observation_budget=WORKERS * ITERATIONS,
            parallel_bandwidth=WORKERS,
        )
        # The client's own objects read the definition back.
        assert [(c.name, c.values) for c in experiment.conditionals] == [
            ("model", ["forest", "net", "linear"])
        ]
        conditions = {p.name: p.conditions.to_json() for p in experiment.parameters}
        assert conditions["depth"] == {"model": ["forest", "net"]}
        assert conditions["seed"] == {}

        steps = run_workers(server.url, experiment.id, WORKERS, ITERATIONS, JOB_TIMEOUT)

        for step in steps:
            assignments = step.assignments
            assert set(assignments) == {"model", *ACTIVE[assignments["model"]]}, assignments
        records = conn.experiments(experiment.id)
        suggestions = everything(records.suggestions().fetch())
        sources = Counter(s.to_json()["source"] for s in suggestions)
        assert len(suggestions) == WORKERS * ITERATIONS
        assert sources["optimizer"] > 0, (sources, server.log())
        for suggestion in suggestions:
            model = suggestion.assignments["model"]
            assert set(suggestion.assignments.to_json()) == {"model", *ACTIVE[model]}

        queued = records.queued_suggestions().create(
            assignments={"model": "linear", "penalty": "l2", "seed": 0.5}
        )
        served = records.suggestions().create()
        assert served.assignments.to_json() == queued.assignments.to_json()
        records.observations().create(suggestion=served.id, values=[{"value": 100.0}])
        (best,) = everything(records.best_assignments().fetch())
        assert best.assignments.to_json() == {"model": "linear", "penalty": "l2", "seed": 0.5}
