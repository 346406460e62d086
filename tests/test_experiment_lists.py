"""Lists of experiments (GET /v1/experiments, which ``honed experiments list`` shows, and the
dashboard's list) show each experiment's figures without reading its observations, on
SQLite and PostgreSQL, and the figures are those the observations give."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from honed.domain.ranking import best_observations
from honed.domain.trials import STATUS_KEY
from tests.conftest import TEST_TOKEN
from tests.support.app import app_on

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
X = [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}]


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    """The app on a store of either kind, and the store, to watch what it is asked."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'honed.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with app_on(url, TEST_TOKEN) as (client, services):
        yield client, services.storage


def seed(api: TestClient) -> list[str]:
    """A minimized metric with a constraint (failed, stopped early, infeasible, tied and
    deleted observations), two metrics (a Pareto front), and an empty experiment."""

    def post(path: str, body: dict[str, Any]) -> Any:
        response = api.post(path, json=body)
        assert response.status_code == 200, response.text
        return response.json()

    single = post(
        "/v1/experiments",
        {
            "name": "single",
            "parameters": X,
            "metrics": [
                {"name": "loss", "objective": "minimize"},
                {"name": "memory", "strategy": "constraint", "threshold": 1.5},
            ],
            "observation_budget": 30,
        },
    )["id"]
    for i in range(24):
        body: dict[str, Any] = {"assignments": {"x": i / 24}}
        if i % 7 == 3:
            body["failed"] = True
        else:
            body["values"] = [
                {"name": "loss", "value": round((i * 37 % 23) / 10, 1)},
                {"name": "memory", "value": (i * 5 % 4) / 2},
            ]
        if i % 5 == 1:
            body["metadata"] = {STATUS_KEY: "early_stopped"}
        observation = post(f"/v1/experiments/{single}/observations", body)
        if i in (2, 23):
            api.delete(f"/v1/experiments/{single}/observations/{observation['id']}")
    pareto = post(
        "/v1/experiments",
        {
            "name": "pareto",
            "parameters": X,
            "metrics": [
                {"name": "f", "objective": "maximize"},
                {"name": "g", "objective": "minimize"},
            ],
            "observation_budget": 20,
        },
    )["id"]
    for i in range(12):
        values = [{"name": "f", "value": i % 5}, {"name": "g", "value": (i * 3) % 7}]
        post(
            f"/v1/experiments/{pareto}/observations",
            {"assignments": {"x": i / 12}, "values": values},
        )
    empty = post(
        "/v1/experiments",
        {"name": "empty", "parameters": X, "metrics": [{"name": "loss"}]},
    )["id"]
    return [single, pareto, empty]


def test_the_lists_figures_are_the_observations_without_reading_them(
    served: tuple[TestClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, storage = served
    ids = seed(api)
    with monkeypatch.context() as patched:

        def unread(*args: object) -> None:
            raise AssertionError("a list read every observation of an experiment")

        patched.setattr(storage, "all_observations", unread)
        v1 = {e["id"]: e for e in api.get("/v1/experiments").json()["data"]}
        dashboard = {
            e["id"]: e for e in api.get("/dashboard/api/experiments").json()["experiments"]
        }
    assert sorted(v1) == sorted(dashboard) == sorted(ids)
    for eid in ids:
        observations = api.get(f"/v1/experiments/{eid}/observations?limit=1000").json()["data"]
        observations.sort(key=lambda o: int(o["id"]))
        best = api.get(f"/v1/experiments/{eid}/best_assignments").json()["data"]
        progress = v1[eid]["progress"]
        first, last = (observations[0], observations[-1]) if observations else (None, None)
        assert progress["observation_count"] == len(observations)
        assert progress["observation_budget_consumed"] == len(observations)
        assert progress["first_observation"] == first
        assert progress["last_observation"] == last
        by_id = {o["id"]: o for o in observations}
        single_best = by_id[best[0]["id"]] if len(best) == 1 and eid != ids[1] else None
        assert progress["best_observation"] == single_best
        # The newest of the experiment's own changes and its observations.
        assert v1[eid]["updated"] >= max(
            [v1[eid]["created"], *(o["created"] for o in observations)]
        )
        summary = dashboard[eid]
        assert summary["observation_count"] == len(observations)
        assert summary["failure_count"] == sum(o["failed"] for o in observations)
        stopped = [o for o in observations if (o["metadata"] or {}).get(STATUS_KEY)]
        assert summary["early_stopped_count"] == len(stopped)
        assert summary["budget_consumed"] == len(observations)
        assert summary["last_activity"] == v1[eid]["updated"]
        if eid == ids[1]:
            assert summary["best_count"] == len(best) > 1
        else:
            assert summary["best_value"] == (
                single_best["values"][0]["value"] if single_best else None
            )
    # The case has what it is about: failures, stops, a deleted observation and a best.
    single = dashboard[ids[0]]
    assert (single["failure_count"], single["early_stopped_count"]) == (3, 5)
    assert single["observation_count"] == 22
    assert single["best_value"] is not None


def test_the_pareto_front_is_read_without_reading_every_observation(
    served: tuple[TestClient, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``honed experiments list`` shows a two-metric experiment's Pareto front by its best
    assignments: the front as honed.domain.ranking finds it in the observations, read
    without reading them all."""
    api, storage = served
    pareto = seed(api)[1]
    experiment = storage.get_experiment(int(pareto))
    expected = [
        str(o.id)
        for o in best_observations(experiment.spec, storage.all_observations(int(pareto)))
    ]
    with monkeypatch.context() as patched:

        def unread(*args: object) -> None:
            raise AssertionError("best assignments read every observation of an experiment")

        patched.setattr(storage, "all_observations", unread)
        best = api.get(f"/v1/experiments/{pareto}/best_assignments").json()["data"]
    assert [b["id"] for b in best] == expected
    assert len(expected) > 1
