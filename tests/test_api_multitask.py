"""Multitask over HTTP, on SQLite and PostgreSQL: every suggestion, queued suggestion and
observation of a multitask experiment names its task as SigOpt renders it, the initial
design cycles through the tasks, the budget is consumed in cost, and only the cost-1 task
counts as best. Every bad input is a 400 naming ``task`` that stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.engine.design import initial_design_size
from honed.export import columns_of
from honed.export import observation_rows
from tests.support.app import app_on
from tests.test_api import check_best
from tests.test_api import check_observation
from tests.test_api import check_page
from tests.test_api import check_suggestion
from tests.test_api import error
from tests.test_api import ok

TOKEN = "multitask-token"
JSON = dict[str, Any]

PARAMETERS = [
    {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 9}},
]
TASKS: list[dict[str, Any]] = [
    {"name": "full", "cost": 1},
    {"name": "tenth", "cost": 0.1},
    {"name": "half", "cost": 0.5},
]
COST = {"full": 1.0, "tenth": 0.1, "half": 0.5}
POINT = {"x": 0.25, "n": 3}


def task(name: str) -> JSON:
    return {"object": "task", "name": name, "cost": COST[name]}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with app_on(request.getfixturevalue(f"{request.param}_url"), TOKEN) as (client, _):
        yield client


@pytest.fixture
def url(api: TestClient) -> str:
    body = {
        "name": "multitask",
        "parameters": PARAMETERS,
        "metrics": [{"name": "f", "objective": "maximize"}],
        "observation_budget": 4,
        "tasks": TASKS,
    }
    return f"/v1/experiments/{ok(api.post('/v1/experiments', json=body))['id']}"


def observe(api: TestClient, url: str, **body: Any) -> JSON:
    data: JSON = ok(api.post(f"{url}/observations", json=body))
    check_observation(data)
    return data


def test_the_design_cycles_through_the_tasks_cheapest_first(api: TestClient, url: str) -> None:
    spec_tasks = {t["name"] for t in TASKS}
    design = max(5, 2 * len(TASKS))  # the design holds every task twice
    made = []
    for _ in range(design + 2):
        suggestion = ok(api.post(f"{url}/suggestions"))
        check_suggestion(suggestion)
        assert suggestion["source"] == "engine"
        made.append(suggestion)
    names = [s["task"]["name"] for s in made]
    assert names[:design] == ["tenth", "half", "full"] * 2
    # No optimizer runs here: past the design the sequence engine serves the target task.
    assert names[design:] == ["full", "full"]
    assert all(s["task"] == task(s["task"]["name"]) for s in made)
    assert set(names) == spec_tasks
    listed = ok(api.get(f"{url}/suggestions"))["data"]
    assert [s["task"]["name"] for s in listed] == names[::-1]
    one = ok(api.get(f"{url}/suggestions/{made[0]['id']}"))
    assert one["task"] == task("tenth")
    updated = ok(api.put(f"{url}/suggestions/{made[0]['id']}", json={"metadata": {"k": 1}}))
    assert updated["task"] == task("tenth")


def test_manual_and_queued_suggestions_need_their_task(api: TestClient, url: str) -> None:
    for body, fragments in [
        ({"assignments": POINT}, ("Invalid task", "needs the task", "'full'")),
        ({"assignments": POINT, "task": "nope"}, ("Invalid task", "'nope' is not a task")),
        ({"assignments": POINT, "task": {"cost": 0.1}}, ("Invalid task",)),
        ({"assignments": POINT, "task": {"name": "half", "what": 1}}, ("task.what",)),
        ({"assignments": POINT, "task": 0.5}, ("Invalid task",)),
    ]:
        error(api.post(f"{url}/suggestions", json=body), 400, *fragments)
        error(api.post(f"{url}/queued_suggestions", json=body), 400, *fragments)
    error(api.post(f"{url}/suggestions", json={"task": "half"}), 400, "Invalid task", "manual")
    assert ok(api.get(f"{url}/suggestions"))["count"] == 0
    assert ok(api.get(f"{url}/queued_suggestions"))["count"] == 0

    # A name, or the task object as the client renders it.
    manual = ok(api.post(f"{url}/suggestions", json={"assignments": POINT, "task": "half"}))
    assert (manual["source"], manual["task"]) == ("manual", task("half"))
    as_object = {"assignments": {**POINT, "x": 0.5}, "task": task("tenth")}
    assert ok(api.post(f"{url}/suggestions", json=as_object))["task"] == task("tenth")

    queued = ok(api.post(f"{url}/queued_suggestions", json={**as_object, "task": "full"}))
    assert queued["task"] == task("full")
    assert ok(api.get(f"{url}/queued_suggestions/{queued['id']}"))["task"] == task("full")
    assert [q["task"] for q in ok(api.get(f"{url}/queued_suggestions"))["data"]] == [task("full")]
    served = ok(api.post(f"{url}/suggestions"))
    assert (served["source"], served["task"]) == ("queued", task("full"))


def test_a_point_open_at_one_task_is_free_at_the_others(api: TestClient) -> None:
    """Two points, both open at the full task (manual suggestions): the engine serves both
    at the cheap one, each an evaluation of its own; once every point is open at every
    task, a further suggestion is refused rather than repeat one."""
    body = {
        "name": "two points",
        "parameters": [{"name": "n", "type": "int", "bounds": {"min": 1, "max": 2}}],
        "metrics": [{"name": "f", "objective": "maximize"}],
        "observation_budget": 4,
        "tasks": [{"name": "full", "cost": 1}, {"name": "tenth", "cost": 0.1}],
    }
    url = f"/v1/experiments/{ok(api.post('/v1/experiments', json=body))['id']}"
    for n in (1, 2):
        ok(api.post(f"{url}/suggestions", json={"assignments": {"n": n}, "task": "full"}))
    served = [ok(api.post(f"{url}/suggestions")) for _ in range(2)]
    assert [s["source"] for s in served] == ["engine", "engine"]
    pairs = sorted((s["assignments"]["n"], s["task"]["name"]) for s in served)
    assert pairs == [(1, "tenth"), (2, "tenth")]
    error(api.post(f"{url}/suggestions"), 409, "No free point left")
    assert ok(api.get(f"{url}/suggestions", params={"state": "open"}))["count"] == 4


def test_with_every_target_point_open_a_fallback_point_is_at_a_cheaper_task(
    api: TestClient,
) -> None:
    """Six points, all open at the full task (manual suggestions). The design places what
    it can at the cheap task; past it the sequence engine serves the full task only, where
    nothing is free, and the fallback takes the cheap task's free points (it was refused
    with a 409). Only once every point is open at every task is a request refused."""
    body = {
        "name": "six points",
        "parameters": [{"name": "n", "type": "int", "bounds": {"min": 1, "max": 6}}],
        "metrics": [{"name": "f", "objective": "maximize"}],
        "observation_budget": 12,
        "tasks": [{"name": "full", "cost": 1}, {"name": "tenth", "cost": 0.1}],
    }
    url = f"/v1/experiments/{ok(api.post('/v1/experiments', json=body))['id']}"
    for n in range(1, 7):
        ok(api.post(f"{url}/suggestions", json={"assignments": {"n": n}, "task": "full"}))
    served = [ok(api.post(f"{url}/suggestions")) for _ in range(6)]
    assert {s["task"]["name"] for s in served} == {"tenth"}
    assert sorted(s["assignments"]["n"] for s in served) == [1, 2, 3, 4, 5, 6]
    assert [s["source"] for s in served].count("fallback") >= 1
    error(api.post(f"{url}/suggestions"), 409, "No free point left", "each of its 2 tasks")
    assert ok(api.get(f"{url}/suggestions", params={"state": "open"}))["count"] == 12


def test_observations_take_the_task_of_their_suggestion_or_the_one_given(
    api: TestClient, url: str
) -> None:
    suggestion = ok(api.post(f"{url}/suggestions"))
    assert suggestion["task"] == task("tenth")
    # The suggestion's task is the observation's; sending one too is refused.
    refused = {"suggestion": suggestion["id"], "value": 1.0, "task": "full"}
    error(api.post(f"{url}/observations", json=refused), 400, "Invalid task", "suggestion")
    of_suggestion = observe(api, url, suggestion=suggestion["id"], value=1.0)
    assert of_suggestion["task"] == task("tenth")
    # Raw assignments need their task.
    for body, fragment in [
        ({"assignments": POINT, "value": 2.0}, "needs the task"),
        ({"assignments": POINT, "value": 2.0, "task": None}, "needs the task"),
        ({"assignments": POINT, "value": 2.0, "task": "nope"}, "'nope'"),
    ]:
        error(api.post(f"{url}/observations", json=body), 400, "Invalid task", fragment)
    batch = {
        "observations": [
            {"assignments": POINT, "value": 2.0, "task": "half"},
            {"assignments": POINT, "value": 2.0},
        ]
    }
    error(api.post(f"{url}/observations/batch", json=batch), 400, "2/2", "Invalid task")
    assert ok(api.get(f"{url}/observations"))["count"] == 1

    of_point = observe(api, url, assignments=POINT, value=2.0, task={"name": "half"})
    assert (of_point["suggestion"], of_point["task"]) == (None, task("half"))
    batch["observations"][1]["task"] = "full"
    made = check_page(ok(api.post(f"{url}/observations/batch", json=batch)), check_observation)
    assert [o["task"] for o in made] == [task("half"), task("full")]
    stored = ok(api.get(f"{url}/observations/{of_point['id']}"))
    assert stored["task"] == task("half")
    listed = ok(api.get(f"{url}/observations"))["data"]
    assert [o["task"]["name"] for o in listed] == ["full", "half", "half", "tenth"]


def test_an_update_may_change_the_task_of_an_observation_of_assignments(
    api: TestClient, url: str
) -> None:
    of_point = observe(api, url, assignments=POINT, value=1.0, task="tenth")
    changed = ok(api.put(f"{url}/observations/{of_point['id']}", json={"task": "full"}))
    assert changed["task"] == task("full")
    kept = ok(api.put(f"{url}/observations/{of_point['id']}", json={"value": 3.0}))
    assert (kept["task"], kept["value"]) == (task("full"), 3.0)
    for body, fragment in [({"task": None}, "needs the task"), ({"task": "nope"}, "'nope'")]:
        error(api.put(f"{url}/observations/{of_point['id']}", json=body), 400, fragment)

    suggestion = ok(api.post(f"{url}/suggestions"))
    of_suggestion = observe(api, url, suggestion=suggestion["id"], value=1.0)
    one = f"{url}/observations/{of_suggestion['id']}"
    # Of a suggestion: its task, unless assignments (with a task) replace the suggestion.
    error(api.put(one, json={"task": "full"}), 400, "Invalid task", "suggestion")
    error(api.put(one, json={"assignments": POINT}), 400, "Invalid task", "needs its task")
    unlinked = ok(api.put(one, json={"assignments": POINT, "task": "half"}))
    assert (unlinked["suggestion"], unlinked["task"]) == (None, task("half"))
    # Linked to a suggestion again: the suggestion's task.
    other = ok(api.post(f"{url}/suggestions"))
    relink = {"suggestion": other["id"], "task": "full"}
    error(api.put(one, json=relink), 400, "Invalid task", "suggestion's task")
    relinked = ok(api.put(one, json={"suggestion": other["id"]}))
    assert (relinked["suggestion"], relinked["task"]) == (other["id"], other["task"])


def test_the_budget_is_consumed_in_cost_and_only_the_full_task_is_best(
    api: TestClient, url: str
) -> None:
    reported = [
        ("tenth", 9.0),  # the highest value, at a cheap task: never the best
        ("full", 1.0),
        ("half", 5.0),
        ("full", 2.0),
        ("tenth", None),  # failed: its cost is spent all the same
    ]
    made = []
    for name, value in reported:
        if value is None:
            made.append(observe(api, url, assignments=POINT, failed=True, task=name))
        else:
            made.append(observe(api, url, assignments=POINT, value=value, task=name))
        progress = ok(api.get(url))["progress"]
        spent = sum(COST[n] for n, _ in reported[: len(made)])
        assert progress["observation_budget_consumed"] == pytest.approx(spent)
        assert progress["observation_count"] == len(made)
    # 2.7 of a budget of 4: five observations, yet the budget is not reached.
    stop = ok(api.get(f"{url}/stopping_criteria"))
    assert stop == {"object": "stopping_criteria", "should_stop": False, "reasons": []}
    progress = ok(api.get(url))["progress"]
    assert progress["best_observation"]["id"] == made[3]["id"]
    assert progress["best_observation"]["task"] == task("full")
    assert progress["first_observation"]["task"] == task("tenth")
    best = check_page(ok(api.get(f"{url}/best_assignments")), check_best)
    assert [(b["id"], b["task"]) for b in best] == [(made[3]["id"], task("full"))]

    observe(api, url, assignments=POINT, value=0.5, task="full")
    observe(api, url, assignments=POINT, value=0.5, task="tenth")
    # 3.8 now: still under the budget; one more target evaluation reaches it.
    assert not ok(api.get(f"{url}/stopping_criteria"))["should_stop"]
    observe(api, url, assignments=POINT, value=0.5, task="half")
    stop = ok(api.get(f"{url}/stopping_criteria"))
    assert stop["reasons"] == ["observation_budget_reached"]
    ok(api.delete(f"{url}/observations/{made[0]['id']}"))
    assert ok(api.get(url))["progress"]["observation_budget_consumed"] == pytest.approx(4.2)


def test_observations_sort_by_task_cost(api: TestClient, url: str) -> None:
    names = ["half", "full", "tenth", "full", "half"]
    made = [observe(api, url, assignments=POINT, value=1.0, task=n) for n in names]
    ranked = sorted(zip(made, names, strict=True), key=lambda p: (COST[p[1]], int(p[0]["id"])))
    expected = [o["id"] for o, _ in reversed(ranked)]
    page = ok(api.get(f"{url}/observations", params={"sort": "task"}))
    assert [o["id"] for o in page["data"]] == expected
    up = ok(api.get(f"{url}/observations", params={"sort": "task", "ascending": "true"}))
    assert [o["id"] for o in up["data"]] == expected[::-1]
    # Paged with the client's markers, which carry the cost.
    walked: list[str] = []
    params: dict[str, Any] = {"sort": "task", "limit": 2}
    while True:
        page = ok(api.get(f"{url}/observations", params=params))
        walked += [o["id"] for o in page["data"]]
        if page["paging"]["before"] is None:
            break
        params["before"] = page["paging"]["before"]
    assert walked == expected


def test_exports_have_a_task_column(api: TestClient, url: str) -> None:
    made = [observe(api, url, assignments=POINT, value=1.0, task=n) for n in ("tenth", "full")]
    experiment = ok(api.get(url))
    rows = observation_rows(experiment, made)
    head = ["id", "created", "status", "failed", "suggestion", "source", "task", "n", "x", "f"]
    assert columns_of(experiment, rows) == head
    assert columns_of(experiment, []) == head
    assert [row["task"] for row in rows] == ["tenth", "full"]


PARAMETER_TASK = {"name": "task", "type": "int", "bounds": {"min": 1, "max": 3}}
NAMED_TASK: list[tuple[JSON, str]] = [
    ({"parameters": [*PARAMETERS, PARAMETER_TASK]}, "parameters[2].name"),
    ({"conditionals": [{"name": "task", "values": ["a", "b"]}]}, "conditionals[0].name"),
    ({"metrics": [{"name": "task", "objective": "maximize"}]}, "metrics[0].name"),
]


@pytest.mark.parametrize(
    ("change", "field"), NAMED_TASK, ids=["parameter", "conditional", "metric"]
)
def test_nothing_of_a_multitask_experiment_is_named_task(
    api: TestClient, change: JSON, field: str
) -> None:
    """``task`` is each suggestion's task beside the assignments and values (a command's
    ``{task}``, the column of exports and of the Scheduler's table); a plain experiment
    may use the name."""
    body = {
        "name": "named task",
        "parameters": PARAMETERS,
        "metrics": [{"name": "f", "objective": "maximize"}],
        "observation_budget": 4,
        "tasks": TASKS,
        **change,
    }
    error(api.post("/v1/experiments", json=body), 400, f"Invalid {field}: 'task'", "{task}")
    plain = ok(api.post("/v1/experiments", json={k: v for k, v in body.items() if k != "tasks"}))
    assert not plain.get("tasks")


def test_an_update_cannot_add_a_parameter_named_task(api: TestClient, url: str) -> None:
    update = {"parameters": [*PARAMETERS, {**PARAMETER_TASK, "default_value": 1}]}
    error(api.put(url, json=update), 400, "Invalid parameters[2].name: 'task'")
    assert sorted(p["name"] for p in ok(api.get(url))["parameters"]) == ["n", "x"]


def test_the_design_size_is_what_the_api_cycles_over() -> None:
    """The design test counts on the design honed.engine.design sizes for three tasks."""
    space = SearchSpace(
        (
            Parameter("x", ParameterType.DOUBLE, bounds=(0.0, 1.0)),
            Parameter("n", ParameterType.INT, bounds=(1, 9)),
        )
    )
    tasks = tuple(Task(t["name"], float(t["cost"])) for t in TASKS)
    spec = ExperimentSpec("m", space, (Metric("f"),), observation_budget=4, tasks=tasks)
    assert initial_design_size(spec) == 2 * len(TASKS)
