"""Projects, AI experiments and training runs over HTTP (the app in-process): shapes,
MERGE and X-Response-Content, the observations runs make, 400/403/404/409 and tenants."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from honed.api.responses import DashboardFileOut
from honed.api.responses import DashboardRunOut
from honed.api.responses import DashboardRunRowOut
from honed.api.responses import DashboardRunsOut
from honed.api.responses import DashboardTagOut
from honed.storage.sql.storage import SqlStorage
from tests.support.files import declared_image
from tests.test_api import error
from tests.test_api import issue
from tests.test_api import ok

JSON = dict[str, Any]
PROJECTS = "/v1/clients/1/projects"
PARAMETERS = [
    {"name": "x", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 8}},
]
MERGE_SKIP = {"X-Response-Content": "skip"}


def create_project(api: TestClient, reference: str = "proj", **fields: Any) -> JSON:
    data: JSON = ok(api.post(PROJECTS, json={"id": reference, "name": "P", **fields}))
    return data


def create_ai(api: TestClient, project: str = "proj", **fields: Any) -> JSON:
    body = {
        "name": "AI",
        "parameters": PARAMETERS,
        "metrics": [{"name": "acc"}, {"name": "loss", "objective": "minimize"}],
        "budget": 3,
        **fields,
    }
    data: JSON = ok(api.post(f"{PROJECTS}/{project}/aiexperiments", json=body))
    return data


def merge(api: TestClient, run_id: str, body: JSON, **headers: str) -> Any:
    return api.request("MERGE", f"/v1/training_runs/{run_id}", json=body, headers=headers)


@pytest.fixture
def ai(api: TestClient) -> JSON:
    create_project(api)
    return create_ai(api)


def new_run(api: TestClient, ai: JSON, **body: Any) -> JSON:
    data: JSON = ok(
        api.post(f"/v1/aiexperiments/{ai['id']}/training_runs", json={"name": "r", **body})
    )
    return data


# --- projects ---------------------------------------------------------------------------------


def test_projects(api: TestClient) -> None:
    project = create_project(api, "my-proj.1", metadata={"team": "a"})
    assert project["object"] == "project"
    assert (project["id"], project["name"], project["client"]) == ("my-proj.1", "P", "1")
    assert project["metadata"] == {"team": "a"}
    assert project["deleted"] is False
    assert ok(api.get(f"{PROJECTS}/my-proj.1")) == project

    message = error(api.post(PROJECTS, json={"id": "my-proj.1", "name": "again"}), 409)
    assert message == "The experiment project with id `my-proj.1` already exists."

    create_project(api, "second")
    page = ok(api.get(PROJECTS))
    assert page["object"] == "pagination"
    assert page["count"] == 2
    assert [p["id"] for p in page["data"]] == ["second", "my-proj.1"]

    updated = ok(api.put(f"{PROJECTS}/second", json={"name": "Renamed", "deleted": True}))
    assert (updated["name"], updated["deleted"]) == ("Renamed", True)
    assert [p["id"] for p in ok(api.get(PROJECTS))["data"]] == ["my-proj.1"]
    assert [p["id"] for p in ok(api.get(PROJECTS, params={"deleted": "True"}))["data"]] == [
        "second"
    ]


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"name": "no id"}, ("Missing required field id",)),
        ({"id": "Upper", "name": "x"}, ("Invalid id", "lowercase")),
        ({"id": "a" * 33, "name": "x"}, ("Invalid id",)),
        ({"id": ".", "name": "x"}, ("Invalid id", "cannot be a project id")),
        ({"id": "..", "name": "x"}, ("Invalid id", "cannot be a project id")),
        ({"id": "ok", "name": ""}, ("Invalid name",)),
        ({"id": "ok", "name": "x", "color": "red"}, ("Unknown field color",)),
        ({"id": "ok", "name": "x", "metadata": {"a": [1]}}, ("Invalid metadata.a",)),
    ],
)
def test_bad_projects(api: TestClient, body: JSON, fragments: tuple[str, ...]) -> None:
    error(api.post(PROJECTS, json=body), 400, *fragments)


def test_missing_projects_and_other_clients_urls(api: TestClient) -> None:
    error(api.get(f"{PROJECTS}/nope"), 404)
    error(api.put(f"{PROJECTS}/nope", json={"name": "x"}), 404)
    error(api.post(f"{PROJECTS}/nope/aiexperiments", json={}), 400)  # body first
    error(api.get(f"{PROJECTS}/nope/aiexperiments"), 404)
    error(api.post(f"{PROJECTS}/nope/training_runs", json={"name": "r"}), 404)
    error(api.get("/v1/clients/2/projects"), 404)


# --- AI experiments ---------------------------------------------------------------------------


def test_ai_experiment_shape_and_progress(api: TestClient, ai: JSON) -> None:
    assert ai["object"] == "aiexperiment"
    assert (ai["project"], ai["budget"], ai["runs_only"], ai["client"]) == ("proj", 3, True, "1")
    assert "observation_budget" not in ai
    assert "development" not in ai
    assert ai["progress"] == {
        "object": "progress",
        "active_run_count": 0,
        "finished_run_count": 0,
        "total_run_count": 0,
        "remaining_budget": 3,
    }
    run = new_run(api, ai)
    ok(api.put(f"/v1/training_runs/{run['id']}", json={"state": "completed"}))
    new_run(api, ai)
    progress = ok(api.get(f"/v1/aiexperiments/{ai['id']}"))["progress"]
    assert (progress["active_run_count"], progress["finished_run_count"]) == (1, 1)
    assert (progress["total_run_count"], progress["remaining_budget"]) == (2, 1)

    # Listed by project and client, not among classic experiments (unless asked).
    assert [e["id"] for e in ok(api.get(f"{PROJECTS}/proj/aiexperiments"))["data"]] == [ai["id"]]
    assert [e["id"] for e in ok(api.get("/v1/aiexperiments"))["data"]] == [ai["id"]]
    assert ok(api.get("/v1/experiments"))["count"] == 0
    assert ok(api.get(f"{PROJECTS}/proj/experiments"))["count"] == 0
    listed = ok(api.get(f"{PROJECTS}/proj/experiments", params={"include_ai": "true"}))
    assert [e["object"] for e in listed["data"]] == ["aiexperiment"]
    # The classic URL redirects, as sigopt-server's does.
    redirected = api.get(f"/v1/experiments/{ai['id']}", follow_redirects=False)
    assert redirected.status_code == 301
    assert redirected.headers["location"] == f"/v1/aiexperiments/{ai['id']}"


def test_ai_experiment_update_and_delete(api: TestClient, ai: JSON) -> None:
    parameters = ai["parameters"]
    parameters[1]["bounds"]["max"] = 20  # "x" is second: sorted by name
    updated = ok(
        api.put(
            f"/v1/aiexperiments/{ai['id']}",
            json={
                "name": "Renamed",
                "budget": 7,
                "parallel_bandwidth": 2,
                "parameters": parameters,
            },
        )
    )
    assert (updated["name"], updated["budget"], updated["parallel_bandwidth"]) == ("Renamed", 7, 2)
    assert updated["parameters"][1]["bounds"]["max"] == 20
    error(api.put(f"/v1/aiexperiments/{ai['id']}", json={"observation_budget": 2}), 400)
    error(api.put(f"/v1/aiexperiments/{ai['id']}", json={"budget": 0}), 400, "Invalid budget")

    run = new_run(api, ai)
    ok(api.delete(f"/v1/aiexperiments/{ai['id']}", params={"include_runs": "False"}))
    assert ok(api.get(f"/v1/aiexperiments/{ai['id']}"))["state"] == "deleted"
    assert ok(api.get(f"/v1/training_runs/{run['id']}"))["deleted"] is False
    error(api.post(f"/v1/aiexperiments/{ai['id']}/training_runs", json={"name": "r"}), 400)
    ok(api.put(f"/v1/aiexperiments/{ai['id']}", json={"state": "active"}))
    ok(api.delete(f"/v1/aiexperiments/{ai['id']}", params={"include_runs": "True"}))
    assert ok(api.get(f"/v1/training_runs/{run['id']}"))["deleted"] is True


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"metrics": [{"objective": "maximize"}]}, ("Invalid metrics", "name")),
        ({"budget": -1}, ("Invalid budget",)),
        ({"observation_budget": 3}, ("Unknown field observation_budget",)),
        ({"parameters": []}, ("Invalid parameters",)),
        ({"metrics": None}, ("metrics",)),
    ],
)
def test_bad_ai_experiments(api: TestClient, change: JSON, fragments: tuple[str, ...]) -> None:
    create_project(api)
    body = {"name": "AI", "parameters": PARAMETERS, "metrics": [{"name": "acc"}], **change}
    error(api.post(f"{PROJECTS}/proj/aiexperiments", json=body), 400, *fragments)


def test_ai_experiment_with_linear_constraints(api: TestClient) -> None:
    """Nested definitions (linear constraints) reach the spec as checked models: the fuzz
    found a 500 here when they were passed on as plain dicts."""
    create_project(api)
    constraint = {"type": "less_than", "threshold": 0.5, "terms": [{"name": "x", "weight": 1}]}
    created = create_ai(api, linear_constraints=[constraint])
    assert created["linear_constraints"][0]["terms"] == [
        {"object": "constraint_term", "name": "x", "weight": 1.0}
    ]
    bad = {**constraint, "terms": [{"name": "nope", "weight": 1}]}
    body = {"name": "AI", "parameters": PARAMETERS, "metrics": [{"name": "acc"}], "budget": 3}
    error(
        api.post(f"{PROJECTS}/proj/aiexperiments", json={**body, "linear_constraints": [bad]}),
        400,
        "nope",
    )


def test_classic_endpoints_refuse_ai_experiments(api: TestClient, ai: JSON) -> None:
    eid = ai["id"]
    error(api.post(f"/v1/experiments/{eid}/suggestions", json={}), 403, "training_runs")
    point = {"x": 0.5, "n": 2}
    body = {"assignments": point, "values": [{"name": "acc", "value": 1}]}
    error(api.post(f"/v1/experiments/{eid}/observations", json=body), 403)
    classic = ok(api.post("/v1/experiments", json={"name": "c", "parameters": PARAMETERS}))
    error(api.get(f"/v1/aiexperiments/{classic['id']}"), 404)
    error(api.post(f"/v1/aiexperiments/{classic['id']}/training_runs", json={"name": "r"}), 404)


# --- training runs ----------------------------------------------------------------------------


def test_a_run_lifecycle_makes_one_observation(api: TestClient, ai: JSON) -> None:
    run = new_run(api, ai, metadata={"host": "a"}, assignments={"batch": 32})
    assert run["object"] == "training_run"
    assert (run["state"], run["experiment"], run["project"]) == ("active", ai["id"], "proj")
    suggestion = ok(api.get(f"/v1/experiments/{ai['id']}/suggestions/{run['suggestion']}"))
    assert suggestion["state"] == "open"
    assert run["assignments"] == {"batch": 32, **suggestion["assignments"]}
    assert run["observation"] is None
    assert run["finished"] is False

    # The client reports metrics one at a time with MERGE and X-Response-Content: skip.
    skipped = merge(api, run["id"], {"values": {"acc": {"value": 0.9}}}, **MERGE_SKIP)
    assert (skipped.status_code, skipped.content) == (204, b"")
    merge(api, run["id"], {"values": {"loss": {"value": 0.2, "value_stddev": 0.1}}}, **MERGE_SKIP)
    merge(api, run["id"], {"metadata": {"epochs": 3}}, **MERGE_SKIP)
    ok(merge(api, run["id"], {"logs": {"stdout": {"content": "x" * 5000}}}))
    done = ok(merge(api, run["id"], {"state": "completed"}))
    assert done["values"]["acc"] == {
        "object": "metric_evaluation",
        "name": "acc",
        "value": 0.9,
        "value_stddev": None,
    }
    assert done["values"]["loss"]["value_stddev"] == 0.1
    assert done["metadata"] == {"host": "a", "epochs": 3}
    assert len(done["logs"]["stdout"]["content"]) == 1124
    assert done["finished"] is True
    assert isinstance(done["completed"], int)

    observation = ok(api.get(f"/v1/experiments/{ai['id']}/observations/{done['observation']}"))
    assert observation["suggestion"] == run["suggestion"]
    assert observation["failed"] is False
    assert [(v["name"], v["value"]) for v in observation["values"]] == [
        ("acc", 0.9),
        ("loss", 0.2),
    ]
    assert (
        ok(api.get(f"/v1/experiments/{ai['id']}/suggestions/{run['suggestion']}"))["state"]
        == "closed"
    )
    # Finishing again changes the state, not the observation count.
    ok(merge(api, run["id"], {"state": "failed"}))
    assert ok(api.get(f"/v1/experiments/{ai['id']}/observations"))["count"] == 1

    best = ok(api.get(f"/v1/aiexperiments/{ai['id']}/best_training_runs"))
    assert best["object"] == "pagination"
    assert [r["id"] for r in best["data"]] == [run["id"]]


def test_failed_and_incomplete_runs_become_failed_observations(api: TestClient, ai: JSON) -> None:
    failed = new_run(api, ai)
    ok(merge(api, failed["id"], {"values": {"acc": {"value": 1.0}}}))
    failed = ok(merge(api, failed["id"], {"state": "failed"}))
    incomplete = new_run(api, ai)
    ok(merge(api, incomplete["id"], {"values": {"acc": {"value": 1.0}}}))
    incomplete = ok(api.put(f"/v1/training_runs/{incomplete['id']}", json={"state": "completed"}))
    for run in (failed, incomplete):
        observation = ok(api.get(f"/v1/experiments/{ai['id']}/observations/{run['observation']}"))
        assert (observation["failed"], observation["values"]) == (True, [])
    assert ok(api.get(f"/v1/aiexperiments/{ai['id']}/best_training_runs"))["count"] == 0


def test_a_run_reported_finished_and_manual_assignments(api: TestClient, ai: JSON) -> None:
    reported = new_run(
        api,
        ai,
        state="completed",
        assignments={"x": 0.25, "n": 3, "extra": "kept"},
        values={"acc": {"value": 0.5}, "loss": {"value": 1.5}},
    )
    assert reported["suggestion"] is None
    assert reported["observation"] is not None
    observation = ok(api.get(f"/v1/experiments/{ai['id']}/observations/{reported['observation']}"))
    assert observation["assignments"] == {"x": 0.25, "n": 3}
    manual = new_run(api, ai, assignments={"x": 0.75, "n": 1})
    suggestion = ok(api.get(f"/v1/experiments/{ai['id']}/suggestions/{manual['suggestion']}"))
    assert suggestion["assignments"] == {"x": 0.75, "n": 1}
    assert suggestion["source"] == "manual"
    error(
        api.post(
            f"/v1/aiexperiments/{ai['id']}/training_runs",
            json={"name": "r", "state": "completed", "assignments": {"x": 0.5}},
        ),
        400,
        "Missing parameter(s) in assignments: n",
    )


def test_project_runs_batch_put_and_delete(api: TestClient) -> None:
    create_project(api)
    runs = [
        {"name": f"run-{i}", "assignments": {"x": i}, "values": {"r": {"value": i}}, "state": s}
        for i, s in enumerate(["completed", "failed", "active"])
    ]
    page = ok(
        api.post(f"{PROJECTS}/proj/training_runs/batch", json={"runs": runs, "fields": "id"})
    )
    assert page["count"] == 3
    assert all(set(r) == {"object", "id"} for r in page["data"])
    listed = ok(api.get(f"{PROJECTS}/proj/training_runs"))
    assert [r["name"] for r in listed["data"]] == ["run-2", "run-1", "run-0"]
    assert [r["state"] for r in listed["data"]] == ["active", "failed", "completed"]
    assert all(r["experiment"] is None and r["suggestion"] is None for r in listed["data"])

    run = ok(
        api.post(f"{PROJECTS}/proj/training_runs", json={"name": "one", "metadata": {"a": 1}})
    )
    # PUT replaces a field; MERGE merges it.
    merged = ok(merge(api, run["id"], {"metadata": {"b": 2}}))
    assert merged["metadata"] == {"a": 1, "b": 2}
    removed = ok(merge(api, run["id"], {"metadata": {"a": None}}))
    assert removed["metadata"] == {"b": 2}
    replaced = ok(api.put(f"/v1/training_runs/{run['id']}", json={"metadata": {"c": 3}}))
    assert replaced["metadata"] == {"c": 3}
    ok(api.delete(f"/v1/training_runs/{run['id']}"))
    assert ok(api.get(f"/v1/training_runs/{run['id']}"))["deleted"] is True
    assert ok(api.get(f"{PROJECTS}/proj/training_runs"))["count"] == 3
    ok(api.put(f"/v1/training_runs/{run['id']}", json={"deleted": False}))
    assert ok(api.get(f"{PROJECTS}/proj/training_runs"))["count"] == 4


def test_checkpoints(api: TestClient, ai: JSON) -> None:
    run = new_run(api, ai)
    url = f"/v1/training_runs/{run['id']}/checkpoints"
    skipped = api.post(url, json={"values": [{"name": "acc", "value": 0.1}]}, headers=MERGE_SKIP)
    assert skipped.status_code == 204
    checkpoint = ok(api.post(url, json={"values": [{"name": "acc", "value": 0.2}]}))
    assert checkpoint["object"] == "checkpoint"
    assert checkpoint["training_run"] == run["id"]
    assert checkpoint["values"][0]["value"] == 0.2
    page = ok(api.get(url))
    assert page["count"] == 2
    assert page["data"][0]["id"] == checkpoint["id"]
    assert ok(api.get(f"/v1/training_runs/{run['id']}"))["checkpoint_count"] == 2
    error(api.post(url, json={"values": [{"name": "acc"}]}), 400, "values[0].value")
    error(api.post(url, json={"values": [{"name": "a", "value": 1}] * 2}), 400, "once")


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"state": "done"}, ("Invalid state",)),
        ({"state": None}, ("Invalid state",)),
        ({"name": None}, ("Invalid name",)),
        ({"values": {"acc": {"value": "high"}}}, ("Invalid values.acc.value",)),
        ({"values": {"acc": {}}}, ("Missing required field values.acc.value",)),
        ({"values": {"acc": {"value": 1, "value_stddev": -1}}}, ("values.acc.value_stddev",)),
        ({"metadata": {"k": {"nested": 1}}}, ("Invalid metadata.k",)),
        ({"logs": {"out": {"content": 3}}}, ("Invalid logs.out.content",)),
        ({"favorite": "yes"}, ("Invalid favorite",)),
        ({"deleted": "no"}, ("Invalid deleted",)),
        ({"flavour": 1}, ("Unknown field flavour",)),
        # Map keys are names: a 200 KB key was stored, and echoed whole in messages.
        ({"sys_metadata": {"k" * 200_000: 1}}, ("sys_metadata.kkk", "(200000 characters)")),
        ({"datasets": {"d" * 101: {}}}, ("Invalid datasets.ddd", "at most 100")),
        ({"logs": {"o" * 101: {"content": "x"}}}, ("Invalid logs.ooo",)),
        ({"assignments_meta": {"": {"source": "s"}}}, ("assignments_meta.", "at least 1")),
        ({"assignments_sources": {"s" * 101: {}}}, ("Invalid assignments_sources.sss",)),
    ],
)
def test_bad_run_updates(
    api: TestClient, ai: JSON, body: JSON, fragments: tuple[str, ...]
) -> None:
    run = new_run(api, ai)
    error(merge(api, run["id"], body), 400, *fragments)
    # Nothing stored is lost.
    assert ok(api.get(f"/v1/training_runs/{run['id']}")) == run


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({}, ("Missing required field name",)),
        ({"name": "r", "project": "proj"}, ("project",)),
        ({"name": "r", "state": "running"}, ("Invalid state",)),
        ({"name": "r", "assignments": {"x": 5.0, "n": 1}}, ("assignments.x", "bounds")),
    ],
)
def test_bad_new_runs(api: TestClient, ai: JSON, body: JSON, fragments: tuple[str, ...]) -> None:
    error(api.post(f"/v1/aiexperiments/{ai['id']}/training_runs", json=body), 400, *fragments)


def test_unknown_runs_and_methods(api: TestClient, ai: JSON) -> None:
    run = new_run(api, ai)
    for request in (
        merge(api, run["id"], {"project": "missing"}),
        api.get("/v1/training_runs/999"),
        merge(api, "999", {"state": "completed"}),
        api.put("/v1/training_runs/999", json={}),
        api.delete("/v1/training_runs/999"),
        api.get("/v1/training_runs/999/checkpoints"),
        api.post("/v1/training_runs/999/checkpoints", json={"values": []}),
        api.get("/v1/training_runs/abc"),
        api.get("/v1/aiexperiments/999"),
        api.get("/v1/aiexperiments/999/best_training_runs"),
    ):
        error(request, 404)
    error(api.post("/v1/training_runs/1"), 405, "GET", "PUT", "DELETE", "MERGE")


def test_filters(api: TestClient, ai: JSON) -> None:
    run = new_run(api, ai)
    other = create_ai(api)
    new_run(api, other)
    url = f"{PROJECTS}/proj/training_runs"
    filters = f'[{{"field": "experiment", "operator": "==", "value": "{ai["id"]}"}}]'
    assert [r["id"] for r in ok(api.get(url, params={"filters": filters}))["data"]] == [run["id"]]
    error(api.get(url, params={"filters": '[{"field": "state"}]'}), 400, "filters[0]")
    error(api.get(url, params={"filters": "{"}), 400, "filters")


# --- tenants ----------------------------------------------------------------------------------


def test_another_client_sees_none_of_it(api: TestClient, ai: JSON, storage: SqlStorage) -> None:
    run = new_run(api, ai)
    secret, other = issue(storage)
    them = (secret, "")
    base = f"/v1/clients/{other}/projects"
    error(api.get(f"{base}/proj", auth=them), 404)
    error(api.get(f"{PROJECTS}/proj", auth=them), 404)
    error(api.get(f"{base}/proj/training_runs", auth=them), 404)
    valid = {"name": "x", "parameters": PARAMETERS, "metrics": [{"name": "acc"}]}
    error(api.post(f"{base}/proj/aiexperiments", auth=them, json=valid), 404)
    error(api.get(f"/v1/aiexperiments/{ai['id']}", auth=them), 404)
    error(api.put(f"/v1/aiexperiments/{ai['id']}", auth=them, json={"name": "x"}), 404)
    error(api.delete(f"/v1/aiexperiments/{ai['id']}", auth=them), 404)
    error(
        api.post(f"/v1/aiexperiments/{ai['id']}/training_runs", auth=them, json={"name": "r"}),
        404,
    )
    error(api.get(f"/v1/aiexperiments/{ai['id']}/best_training_runs", auth=them), 404)
    error(api.get(f"/v1/training_runs/{run['id']}", auth=them), 404)
    error(api.request("MERGE", f"/v1/training_runs/{run['id']}", auth=them, json={}), 404)
    error(api.delete(f"/v1/training_runs/{run['id']}", auth=them), 404)
    error(api.get(f"/v1/training_runs/{run['id']}/checkpoints", auth=them), 404)
    assert ok(api.get("/v1/aiexperiments", auth=them))["count"] == 0
    # The other client may use the same project id for a project of its own.
    theirs = ok(api.post(base, auth=them, json={"id": "proj", "name": "theirs"}))
    assert theirs["client"] == str(other)
    assert ok(api.get(f"{PROJECTS}/proj"))["name"] == "P"
    assert ok(api.get(f"/v1/training_runs/{run['id']}")) == run


def test_read_only_tokens_cannot_write(api: TestClient, ai: JSON, storage: SqlStorage) -> None:
    run = new_run(api, ai)
    secret, _ = issue(storage, 1, permissions="read")
    reader = (secret, "")
    ok(api.get(f"/v1/training_runs/{run['id']}", auth=reader))
    error(api.request("MERGE", f"/v1/training_runs/{run['id']}", auth=reader, json={}), 403)
    error(api.post(PROJECTS, auth=reader, json={"id": "new", "name": "n"}), 403)
    error(
        api.post(f"/v1/aiexperiments/{ai['id']}/training_runs", auth=reader, json={"name": "r"}),
        403,
    )


def test_classic_experiments_in_projects(api: TestClient) -> None:
    create_project(api)
    body = {"name": "classic", "parameters": PARAMETERS, "project": "proj"}
    classic = ok(api.post("/v1/experiments", json=body))
    assert (classic["project"], classic["runs_only"]) == ("proj", False)
    listed = ok(api.get(f"{PROJECTS}/proj/experiments"))
    assert [e["id"] for e in listed["data"]] == [classic["id"]]
    moved = ok(api.put(f"/v1/experiments/{classic['id']}", json={"project": None}))
    assert moved["project"] is None
    assert ok(api.get(f"{PROJECTS}/proj/experiments"))["count"] == 0
    missing = {**body, "project": "nope"}
    error(api.post("/v1/experiments", json=missing), 400, "project `nope`")
    error(api.put(f"/v1/experiments/{classic['id']}", json={"project": "nope"}), 400, "nope")
    error(api.post("/v1/experiments", json={**body, "project": "Bad Id"}), 400, "Invalid project")


# --- the dashboard's run views ----------------------------------------------------------------


def test_the_dashboard_run_views_answer_their_documented_models(api: TestClient, ai: JSON) -> None:
    run = new_run(api, ai, values={"acc": {"value": 0.5}})
    tag = ok(api.post("/v1/clients/1/tags", json={"name": "t", "color": "#123456"}))
    ok(api.post(f"/v1/training_runs/{run['id']}/tags", json={"id": tag["id"]}))
    content = b"an image"
    declared = declared_image(content)
    uploaded = ok(api.post(f"/v1/training_runs/{run['id']}/files", json=declared))
    upload = uploaded["upload"]
    ok(api.put(upload["url"], content=content, headers=upload["headers"]))
    ok(api.post(f"/v1/training_runs/{run['id']}/files", json={**declared, "name": "pending"}))

    detail = ok(api.get(f"/dashboard/api/training_runs/{run['id']}"))
    rows = ok(api.get(f"/dashboard/api/experiments/{ai['id']}/runs"))
    assert [f["uploaded"] for f in detail["files"]] == [True, False]
    assert rows["runs"][0]["values"] == {"acc": 0.5}

    # Every key answered is a field of the route's model, and every field is answered.
    def keys_match(model: type[BaseModel], value: JSON) -> None:
        assert set(value) == set(model.model_fields), model.__name__

    DashboardRunOut.model_validate(detail)
    keys_match(DashboardRunOut, detail)
    for file in detail["files"]:
        keys_match(DashboardFileOut, file)
    DashboardRunsOut.model_validate(rows)
    keys_match(DashboardRunsOut, rows)
    for row in rows["runs"]:
        keys_match(DashboardRunRowOut, row)
        for t in row["tags"]:
            keys_match(DashboardTagOut, t)

    paths = ok(api.get("/openapi.json"))["paths"]
    for path, model in (
        ("/dashboard/api/training_runs/{run_id}", DashboardRunOut),
        ("/dashboard/api/experiments/{experiment_id}/runs", DashboardRunsOut),
    ):
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{model.__name__}"}
