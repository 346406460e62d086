"""Conditional parameters over HTTP, on SQLite and PostgreSQL: the definition round-trips,
every record follows SigOpt's rules for assignments, and every bad input is a 400 naming
its field that stores nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from honed.export import observation_rows
from honed.export import write_csv
from tests.support.app import app_on
from tests.test_api import check_experiment
from tests.test_api import error
from tests.test_api import ok

TOKEN = "conditionals-token"
JSON = dict[str, Any]

CONDITIONALS = [
    {"name": "model", "values": ["forest", "net", "linear"]},
    {"object": "conditional", "name": "size", "values": ["small", "large"]},
]
PARAMETERS = [
    {
        "name": "trees",
        "type": "int",
        "bounds": {"min": 1, "max": 500},
        "conditions": {"model": "forest"},
    },
    {
        "name": "rate",
        "type": "double",
        "bounds": {"min": 0.0001, "max": 1},
        "transformation": "log",
        "conditions": {"model": ["net", "linear"]},
    },
    {
        "name": "width",
        "type": "categorical",
        "categorical_values": ["narrow", "wide"],
        "conditions": {"model": "net", "size": ["large"]},
    },
    {"name": "seed", "type": "int", "bounds": {"min": 0, "max": 9}, "conditions": {}},
]
FOREST = {"model": "forest", "size": "small", "trees": 100, "seed": 1}
NET = {"model": "net", "size": "large", "rate": 0.01, "width": "wide", "seed": 2}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with app_on(request.getfixturevalue(f"{request.param}_url"), TOKEN) as (client, _):
        yield client


def create(api: TestClient, **changes: Any) -> JSON:
    body = {
        "name": "conditional",
        "conditionals": CONDITIONALS,
        "parameters": PARAMETERS,
        "metrics": [{"name": "accuracy", "objective": "maximize"}],
        "observation_budget": 30,
        **changes,
    }
    data: JSON = ok(api.post("/v1/experiments", json=body))
    return data


def test_the_definition_round_trips(api: TestClient) -> None:
    created = create(api)
    check_experiment(created)
    assert created["conditionals"] == [
        {"object": "conditional", "name": "model", "values": ["forest", "net", "linear"]},
        {"object": "conditional", "name": "size", "values": ["small", "large"]},
    ]
    conditions = {p["name"]: p["conditions"] for p in created["parameters"]}
    assert conditions == {
        "rate": {"model": ["net", "linear"]},
        "seed": {},
        "trees": {"model": ["forest"]},
        "width": {"model": ["net"], "size": ["large"]},
    }
    url = f"/v1/experiments/{created['id']}"
    fetched = ok(api.get(url))
    assert (fetched["conditionals"], fetched["parameters"]) == (
        created["conditionals"],
        created["parameters"],
    )
    listed = ok(api.get("/v1/experiments"))["data"]
    assert [(e["conditionals"], e["parameters"]) for e in listed] == [
        (created["conditionals"], created["parameters"])
    ]
    # The experiment's own parameters, sent back as they came, change nothing.
    again = ok(api.put(url, json={"parameters": created["parameters"]}))
    assert (again["parameters"], again["conditionals"]) == (
        created["parameters"],
        created["conditionals"],
    )


def test_records_follow_sigopt_rules_for_assignments(api: TestClient) -> None:
    eid = create(api)["id"]
    records = f"/v1/experiments/{eid}"
    for _ in range(12):  # Sobol's points: each assigns only the parameters its values activate
        suggestion = ok(api.post(f"{records}/suggestions"))
        assignments = suggestion["assignments"]
        assert assignments == _checked(assignments)
        ok(api.post(f"{records}/observations", json={"suggestion": suggestion["id"], "value": 1}))

    manual = ok(api.post(f"{records}/suggestions", json={"assignments": {**FOREST, "rate": None}}))
    assert manual["assignments"] == FOREST
    queued = ok(api.post(f"{records}/queued_suggestions", json={"assignments": NET}))
    assert queued["assignments"] == NET
    assert ok(api.post(f"{records}/suggestions"))["assignments"] == NET  # the queue first

    best = ok(api.post(f"{records}/observations", json={"assignments": NET, "value": 5}))
    assert best["assignments"] == NET
    ok(api.post(f"{records}/observations", json={"suggestion": manual["id"], "value": 2}))
    assert ok(api.get(f"{records}/best_assignments"))["data"][0]["assignments"] == NET
    listed = ok(api.get(f"{records}/observations", params={"limit": 2}))["data"]
    assert [o["assignments"] for o in listed] == [FOREST, NET]


def _checked(assignments: JSON) -> JSON:
    """The assignments every parameter of PARAMETERS allows there, and no other."""
    model, size = assignments["model"], assignments["size"]
    expected = {"model", "size", "seed"}
    expected |= {"trees"} if model == "forest" else {"rate"}
    expected |= {"width"} if (model, size) == ("net", "large") else set()
    assert set(assignments) == expected, assignments
    return assignments


def test_csv_export_leaves_inactive_parameters_empty(api: TestClient) -> None:
    experiment = create(api)
    records = f"/v1/experiments/{experiment['id']}"
    ok(api.post(f"{records}/observations", json={"assignments": FOREST, "value": 1}))
    ok(api.post(f"{records}/observations", json={"assignments": NET, "value": 2}))
    observations = ok(api.get(f"{records}/observations", params={"ascending": "true"}))["data"]
    out = io.StringIO()
    write_csv(experiment, observation_rows(experiment, observations), out)
    header, forest, net = (line.split(",") for line in out.getvalue().splitlines())
    assert header[6:] == ["model", "size", "rate", "seed", "trees", "width", "accuracy"]
    assert forest[6:] == ["forest", "small", "", "1", "100", "", "1.0"]
    assert net[6:] == ["net", "large", "0.01", "2", "", "wide", "2.0"]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"conditionals": [{"name": "model"}]}, "conditionals[0].values"),
        ({"conditionals": [{"name": "model", "values": "forest"}]}, "conditionals[0].values"),
        ({"conditionals": [{"name": "model", "values": [1]}]}, "conditionals[0].values[0]"),
        ({"conditionals": [{"name": "model", "values": []}]}, "conditionals[0] (model).values"),
        ({"conditionals": [{"name": "m", "values": ["a"], "x": 1}]}, "conditionals[0].x"),
        ({"conditionals": CONDITIONALS + CONDITIONALS[:1]}, "conditionals[2].name"),
        ({"conditionals": "model"}, "conditionals"),
        (
            {"parameters": [{**PARAMETERS[0], "conditions": {"model": 1}}]},
            "parameters[0].conditions.model",
        ),
        (
            {"parameters": [{**PARAMETERS[0], "conditions": {"colour": "red"}}]},
            "parameters[0] (trees).conditions",
        ),
        (
            {"parameters": [{**PARAMETERS[0], "conditions": {"model": "tree"}}]},
            "parameters[0] (trees).conditions.model",
        ),
        (
            {
                "parameters": [
                    *PARAMETERS,
                    {"name": "model", "type": "int", "bounds": {"min": 0, "max": 1}},
                ]
            },
            "parameters[4].name",
        ),
        (
            {
                "linear_constraints": [
                    {
                        "type": "less_than",
                        "threshold": 5,
                        "terms": [{"name": "trees", "weight": 1}],
                    }
                ]
            },
            "linear_constraints[0].terms",
        ),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(
    api: TestClient, changes: JSON, fragment: str
) -> None:
    body = {"name": "bad", "conditionals": CONDITIONALS, "parameters": PARAMETERS, **changes}
    error(api.post("/v1/experiments", json=body), 400, fragment)
    assert ok(api.get("/v1/experiments"))["count"] == 0


def test_conditionals_cannot_change(api: TestClient) -> None:
    created = create(api)
    url = f"/v1/experiments/{created['id']}"
    error(api.put(url, json={"conditionals": CONDITIONALS[:1]}), 400, "conditionals")
    changed = [
        {**p, "conditions": {"size": "huge"}} if p["name"] == "seed" else p
        for p in created["parameters"]
    ]
    error(api.put(url, json={"parameters": changed}), 400, "conditions.size")
    after = ok(api.get(url))
    assert (after["conditionals"], after["parameters"]) == (
        created["conditionals"],
        created["parameters"],
    )


@pytest.mark.parametrize(
    ("assignments", "fragment"),
    [
        ({**FOREST, "rate": 0.1}, "assignments.rate"),
        ({key: value for key, value in FOREST.items() if key != "model"}, "model"),
        ({**FOREST, "model": "tree"}, "assignments.model"),
        ({key: value for key, value in NET.items() if key != "width"}, "width"),
        ({**NET, "width": "huge"}, "assignments.width"),
        ({**NET, "colour": "red"}, "colour"),
    ],
)
def test_bad_assignments_are_refused_everywhere_naming_the_field(
    api: TestClient, assignments: JSON, fragment: str
) -> None:
    records = f"/v1/experiments/{create(api)['id']}"
    error(api.post(f"{records}/suggestions", json={"assignments": assignments}), 400, fragment)
    error(
        api.post(f"{records}/queued_suggestions", json={"assignments": assignments}), 400, fragment
    )
    body = {"assignments": assignments, "value": 1}
    error(api.post(f"{records}/observations", json=body), 400, fragment)
    batch = {"observations": [{"assignments": FOREST, "value": 1}, body]}
    error(api.post(f"{records}/observations/batch", json=batch), 400, fragment)
    stored = ok(api.post(f"{records}/observations", json={"assignments": FOREST, "value": 1}))
    error(
        api.put(f"{records}/observations/{stored['id']}", json={"assignments": assignments}),
        400,
        fragment,
    )
    assert ok(api.get(f"{records}/observations"))["data"] == [stored]
    for kind in ("suggestions", "queued_suggestions"):
        assert ok(api.get(f"{records}/{kind}"))["count"] == 0


@pytest.mark.parametrize("ascending", [True, False])
def test_observations_sort_by_a_conditional_and_by_a_parameter_some_lack(
    api: TestClient, ascending: bool
) -> None:
    """Paged two at a time: the markers carry the sort value, or its absence (an inactive
    parameter sorts after every value, ascending)."""
    records = f"/v1/experiments/{create(api)['id']}"
    points = [FOREST, NET, {**FOREST, "trees": 50}, {**NET, "model": "linear", "width": None}]
    ids = [
        ok(api.post(f"{records}/observations", json={"assignments": p, "value": 1}))["id"]
        for p in points
    ]
    expected = {
        "parameter-model": [ids[0], ids[2], ids[3], ids[1]],  # forest, forest, linear, net
        "parameter-trees": [ids[2], ids[0], ids[1], ids[3]],  # 50, 100, then none (by id)
    }
    for sort, order in expected.items():
        marker, seen = "after" if ascending else "before", list[str]()
        params: dict[str, Any] = {"sort": sort, "limit": 2, "ascending": str(ascending).lower()}
        while True:
            page = ok(api.get(f"{records}/observations", params=params))
            seen += [o["id"] for o in page["data"]]
            if not page["paging"][marker]:
                break
            params[marker] = page["paging"][marker]
        assert seen == (order if ascending else order[::-1]), sort
