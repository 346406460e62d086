"""Requests that would cost the optimizer unbounded memory or time (issue 26, points 3 and
16): categorical values are capped at create and update; a fit past its budget gives up
and records an error; a finite space whose every point was observed costs no fit at all,
and a suggestion request there is answered at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import ObservationInput
from honed.domain.records import Suggestion
from honed.domain.tenancy import Token
from honed.domain.validation import MAX_CATEGORICAL_VALUES
from honed.domain.validation import MAX_CATEGORICAL_VALUES_TOTAL
from honed.engine.botorch import budget
from honed.engine.botorch import engine as botorch_engine
from honed.engine.botorch.factory import botorch_engine_factory
from honed.service.app import Services
from honed.service.optimizer import LoopSettings
from honed.service.optimizer import OptimizerLoop
from tests.support.app import app_on
from tests.test_api import error
from tests.test_api import ok

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "resources-token"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, Services]]:
    with app_on(request.getfixturevalue(f"{request.param}_url"), TOKEN) as served:
        yield served


def categorical(name: str, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": "categorical",
        "categorical_values": [{"name": f"v{i}"} for i in range(count)],
    }


def experiment_body(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"name": "e", "parameters": list(parameters), "metrics": [{"name": "f"}]}


# --- point 3: categorical values ------------------------------------------------------------


def test_categorical_values_are_capped_at_create_and_update(
    served: tuple[TestClient, Services],
) -> None:
    api, _ = served
    at_limit = ok(api.post("/v1/experiments", json=experiment_body(categorical("c", 1000))))
    assert MAX_CATEGORICAL_VALUES == 1000

    too_many = experiment_body(categorical("c", MAX_CATEGORICAL_VALUES + 1))
    error(
        api.post("/v1/experiments", json=too_many),
        400,
        "parameters[0] (c).categorical_values",
        f"at most {MAX_CATEGORICAL_VALUES} values",
    )
    # Each parameter within its limit, together beyond the one-hot width's.
    each = MAX_CATEGORICAL_VALUES_TOTAL // 3 + 1
    wide = experiment_body(*(categorical(f"c{i}", each) for i in range(3)))
    error(
        api.post("/v1/experiments", json=wide),
        400,
        "parameters[2] (c2).categorical_values",
        f"at most {MAX_CATEGORICAL_VALUES_TOTAL} categorical values",
    )
    # An update cannot grow a parameter past the limit either.
    grown = {"parameters": [categorical("c", MAX_CATEGORICAL_VALUES + 1)]}
    error(
        api.put(f"/v1/experiments/{at_limit['id']}", json=grown),
        400,
        "parameters[0] (c).categorical_values",
    )

    listed = ok(api.get("/v1/experiments"))["data"]
    assert [e["id"] for e in listed] == [at_limit["id"]]  # nothing else was stored
    stored = ok(api.get(f"/v1/experiments/{at_limit['id']}"))
    assert len(stored["parameters"][0]["categorical_values"]) == 1000


API_PROCESS = """
import json, resource, sys
limit = int(sys.argv[2]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from fastapi.testclient import TestClient
from honed.server.app import create_app
from honed.service.app import Services
from honed.storage.sql.storage import SqlStorage
services = Services(SqlStorage.from_url(sys.argv[1]))
services.tokens.bootstrap("t")
values = [{"name": "value-%d" % i} for i in range(20000)]
body = {"name": "e", "metrics": [{"name": "f"}], "parameters": [
    {"name": "c", "type": "categorical", "categorical_values": values}]}
with TestClient(create_app(services=services)) as client:
    created = client.post("/v1/experiments", json=body, auth=("t", ""))
    listed = client.get("/v1/experiments", auth=("t", ""))
print(json.dumps({"status": created.status_code, "message": created.json().get("message"),
                  "listed": listed.status_code, "count": len(listed.json()["data"])}))
"""


def test_a_huge_categorical_is_refused_under_a_memory_limit(sqlite_url: str) -> None:
    """20,000 values (11.7 GB and growing in the optimizer before the limit): a 400 from an
    API process held to 1 GiB of address space, and nothing for the optimizer to fit."""
    done = subprocess.run(
        [sys.executable, "-c", API_PROCESS, sqlite_url, "1024"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["status"] == 400
    assert "categorical_values" in result["message"]
    assert (result["listed"], result["count"]) == (200, 0)


def test_a_fit_over_a_wide_space_stays_in_memory_and_in_budget(
    services: Services, token: Token, sqlite_url: str
) -> None:
    """An experiment stored before the cap (4,000 values, here written to the store
    directly): under a 2.5 GiB address-space limit one optimizer fit either proposes or
    gives up at its budget with a recorded error; before, it failed to allocate memory
    (5 GB at this size, 11.7 GB at 20,000 values)."""
    values = tuple(f"v{i}" for i in range(4000))
    parameters = (
        Parameter("c", ParameterType.CATEGORICAL, categorical_values=values),
        Parameter("x", ParameterType.DOUBLE, bounds=(0.0, 1.0)),
        Parameter("y", ParameterType.DOUBLE, bounds=(0.0, 1.0)),
    )
    spec = ExperimentSpec("wide", SearchSpace(parameters), (Metric("f"),))
    experiment = services.storage.create_experiment(token.client_id, spec)
    given = [
        ObservationInput(
            assignments={"c": values[(i * 397) % 4000], "x": i / 20, "y": (i * 7 % 20) / 20},
            values=(MetricValue("f", float((i * 13) % 20)),),
        )
        for i in range(20)
    ]
    services.observations.create_batch(token, experiment.id, given)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.optimizer_fit",
            sqlite_url,
            str(experiment.id),
            "2560",
            "10",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    print(result)  # the figures, for `pytest -s`
    assert result["experiment"] == experiment.id
    error_text = result["error"]
    assert error_text is None or error_text.startswith("FitBudgetExceeded"), error_text
    assert result["rss_peak_mb"] < 1500


# --- the fit budget -------------------------------------------------------------------------


def test_a_fit_past_its_budget_gives_up_and_records_an_error(
    services: Services, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time is faked: every check of the deadline after the first finds it passed."""
    spec = ExperimentSpec(
        "budget",
        SearchSpace((Parameter("x", ParameterType.DOUBLE, bounds=(0.0, 1.0)),)),
        (Metric("f"),),
    )
    experiment = services.experiments.create(token, spec)
    given = [
        ObservationInput(assignments={"x": i / 7}, values=(MetricValue("f", (i - 3.0) ** 2),))
        for i in range(8)
    ]
    services.observations.create_batch(token, experiment.id, given)
    clock = iter(range(0, 10**6, 1000))
    monkeypatch.setattr(budget, "monotonic", lambda: float(next(clock)))
    loop = OptimizerLoop(
        services.storage, botorch_engine_factory(60.0), settings=LoopSettings(settle_seconds=0)
    )
    assert loop.step() == experiment.id
    status = services.storage.optimizer_status(experiment.id)
    assert status.error is not None
    assert status.error.startswith("FitBudgetExceeded")
    assert "60 s" in status.error
    assert status.ready_candidates == 0


# --- point 16: an exhausted discrete space ----------------------------------------------------


def test_an_exhausted_discrete_space_costs_no_fit_and_is_answered_at_once(
    served: tuple[TestClient, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    """160 points, every one observed: before, one fit computed 8 candidates for 483 s and
    stored none, and requests waited for it. Now the optimizer proposes nothing without
    fitting, and a request is answered at once (a repeat, as grids and the initial design
    answer once every point is observed; a 409 when every point is an open suggestion)."""
    api, services = served
    body = experiment_body(
        {"name": "a", "type": "int", "bounds": {"min": 1, "max": 16}},
        {"name": "b", "type": "int", "bounds": {"min": 1, "max": 10}},
    )
    eid = ok(api.post("/v1/experiments", json=body))["id"]
    points = [{"a": a, "b": b} for a in range(1, 17) for b in range(1, 11)]
    observations = [{"assignments": p, "value": float(p["a"] * p["b"])} for p in points]
    ok(api.post(f"/v1/experiments/{eid}/observations/batch", json={"observations": observations}))

    def no_fit(*_: object, **__: object) -> None:
        raise AssertionError("an exhausted space was fitted")

    monkeypatch.setattr(botorch_engine, "fit_models", no_fit)
    storage = services.storage
    loop = OptimizerLoop(
        storage, botorch_engine_factory(), settings=LoopSettings(settle_seconds=0)
    )
    storage.heartbeat(loop.name)  # an optimizer is alive: requests would wait for it
    assert loop.step() == int(eid)
    status = storage.optimizer_status(int(eid))
    assert (status.error, status.fitted_count, status.ready_candidates) == (None, 160, 0)

    caller = services.tokens.authenticate(TOKEN)
    request = services.suggestions.request(caller, int(eid))
    first = request.step_here()
    assert isinstance(first, Suggestion)  # not a wait for a fit that would bring nothing
    observed = {point_hash(p) for p in points}
    assert point_hash(first.assignments) in observed

    again = ok(api.post(f"/v1/experiments/{eid}/suggestions"))
    assert point_hash(again["assignments"]) in observed
    ok(api.get("/v1/experiments"))
