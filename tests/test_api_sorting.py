"""SigOpt's list options over the API: experiment search, sort, period and development;
observation sorts with ``ascending``; and paging through sorted lists with their markers."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.test_api import JSON
from tests.test_api import POINT
from tests.test_api import check_experiment
from tests.test_api import check_observation
from tests.test_api import check_page
from tests.test_api import create_experiment
from tests.test_api import error
from tests.test_api import observe
from tests.test_api import ok


def ids_of(api: TestClient, url: str, **params: Any) -> list[str]:
    return [item["id"] for item in ok(api.get(url, params=params))["data"]]


def walk(api: TestClient, url: str, marker: str, **params: Any) -> list[str]:
    """Every id, following ``paging[marker]`` one page of 2 at a time."""
    walked: list[str] = []
    query: dict[str, Any] = {"limit": 2, **params}
    for _ in range(50):
        page = ok(api.get(url, params=query))
        walked += [item["id"] for item in page["data"]]
        if page["paging"][marker] is None:
            return walked
        query = {"limit": 2, **params, marker: page["paging"][marker]}
    raise AssertionError(f"paging with {marker} did not end")


def test_experiment_search_sort_and_period(api: TestClient) -> None:
    names = ["Alpha net", "beta NET", "gamma", "ALPHABET"]
    made = [create_experiment(api, name=name) for name in names]
    ids = [e["id"] for e in made]
    url = "/v1/experiments"

    def listed(**params: Any) -> list[str]:
        page = ok(api.get(url, params=params))
        return [e["id"] for e in check_page(page, check_experiment)]

    assert listed(search="alpha") == [ids[3], ids[0]]
    assert listed(search="NET") == [ids[1], ids[0]]
    assert listed(search="%") == []
    assert listed(search="alpha", ascending="True") == [ids[0], ids[3]]
    assert ok(api.get(url, params={"search": "net", "limit": 0}))["count"] == 2

    # An observation makes the oldest experiment the most recently updated.
    observe(api, ids[0], assignments=POINT, value=1.0)
    recent = [ids[0], ids[3], ids[2], ids[1]]
    assert listed(sort="recent") == recent
    assert listed(sort="recent", ascending="true") == recent[::-1]
    updated = [e["updated"] for e in ok(api.get(url, params={"sort": "recent"}))["data"]]
    assert updated == sorted(updated, reverse=True)
    assert walk(api, url, "before", sort="recent") == recent
    assert walk(api, url, "after", sort="recent", ascending="true") == recent[::-1]
    assert walk(api, url, "before") == ids[::-1]
    assert walk(api, url, "after", ascending="true") == ids
    # A marker belongs to the order it came from.
    marker = ok(api.get(url, params={"sort": "recent", "limit": 1}))["paging"]["before"]
    error(api.get(url, params={"before": marker}), 400, "before")
    error(api.get(url, params={"sort": "id", "before": marker}), 400, "before")
    error(api.get(url, params={"sort": "recent", "before": ids[1]}), 400, "before")
    error(api.get(url, params={"sort": "recent", "after": "bm9wZQ"}), 400, "after")

    created = made[0]["created"]
    assert listed(period_start=created + 3600) == []
    assert listed(period_end=created) == []
    assert listed(period_start=created, period_end=created + 3600, search="beta") == [ids[1]]
    error(api.get(url, params={"period_start": "yesterday"}), 400, "period_start")
    error(api.get(url, params={"period_start": 10, "period_end": 10}), 400, "period_start")

    # The test token is not a development token: it lists no development experiments.
    assert listed(development="false") == ids[::-1]
    assert listed(development="true") == []
    error(api.get(url, params={"development": "maybe"}), 400, "development")

    message = error(api.get(url, params={"sort": "name"}), 400, "sort", "id", "recent")
    assert "'name'" in message
    # The same options on the client's route.
    client = ok(api.get("/v1/tokens/self"))["client"]
    client_url = f"/v1/clients/{client}/experiments"
    assert ids_of(api, client_url, search="alpha", sort="recent") == [ids[0], ids[3]]


def test_project_experiments_take_the_list_options(api: TestClient) -> None:
    client = ok(api.get("/v1/tokens/self"))["client"]
    projects = f"/v1/clients/{client}/projects"
    ok(api.post(projects, json={"id": "sorting", "name": "Sorting"}))
    first = create_experiment(api, name="first one", project="sorting")["id"]
    second = create_experiment(api, name="second one", project="sorting")["id"]
    create_experiment(api, name="first elsewhere")
    url = f"{projects}/sorting/experiments"
    assert ids_of(api, url, search="FIRST") == [first]
    observe(api, first, assignments=POINT, value=1.0)
    assert ids_of(api, url, sort="recent") == [first, second]
    assert ids_of(api, url, sort="recent", ascending="true") == [second, first]
    error(api.get(url, params={"sort": "oldest"}), 400, "sort")


def sorted_experiment(api: TestClient) -> tuple[str, list[JSON]]:
    """Observations with ties, missing stddevs and a failure; returned in creation order."""
    eid = create_experiment(
        api,
        metrics=[{"name": "accuracy"}, {"name": "loss", "strategy": "store"}],
        observation_budget=10,
    )["id"]
    rows = [
        (0.8, 0.1, 0.5, {"x": 0.3, "n": 4, "c": "b"}),
        (0.6, None, 0.9, {"x": 0.9, "n": 4, "c": "a"}),
        (0.8, 0.3, 0.1, {"x": 0.1, "n": 2, "c": "c"}),
        (None, None, None, {"x": 0.5, "n": 9, "c": "a"}),
        (-0.2, 0.2, 0.3, {"x": 0.7, "n": 1, "c": "b"}),
    ]
    made = []
    for accuracy, stddev, loss, point in rows:
        body: JSON = {"assignments": {**POINT, **point}}
        if accuracy is None:
            body["failed"] = True
        else:
            body["values"] = [
                {"name": "accuracy", "value": accuracy, "value_stddev": stddev},
                {"name": "loss", "value": loss},
            ]
        made.append(observe(api, eid, **body))
    return eid, made


def expected(made: list[JSON], value: Any) -> list[str]:
    """Ids by (value, id), largest first, a missing value above all: SigOpt's order."""

    def key(o: JSON) -> tuple[bool, Any, int]:
        v = value(o)
        return (v is None, v if v is not None else 0, int(o["id"]))

    return [o["id"] for o in sorted(made, key=key, reverse=True)]


def metric(name: str, field: str = "value") -> Any:
    def value(o: JSON) -> Any:
        found = [v[field] for v in o["values"] if v["name"] == name]
        return found[0] if found else None

    return value


def test_observation_sorts_and_paging(api: TestClient) -> None:
    eid, made = sorted_experiment(api)
    url = f"/v1/experiments/{eid}/observations"
    orders: dict[str, Any] = {
        "id": lambda o: int(o["id"]),
        "timestamp": lambda o: int(o["id"]),  # created one after another
        "value": metric("accuracy"),
        "value-accuracy": metric("accuracy"),
        "value-loss": metric("loss"),
        "value_stddev": metric("accuracy", "value_stddev"),
        "value_stddev-loss": metric("loss", "value_stddev"),
        "parameter-x": lambda o: o["assignments"]["x"],
        "parameter-n": lambda o: o["assignments"]["n"],
        "parameter-c": lambda o: o["assignments"]["c"],
    }
    for sort, value in orders.items():
        want = expected(made, value)
        page = ok(api.get(url, params={"sort": sort}))
        check_page(page, check_observation)
        assert [o["id"] for o in page["data"]] == want, sort
        assert page["count"] == len(made)
        assert ids_of(api, url, sort=sort, ascending="True") == want[::-1], sort
        # Paging: down with before (what the sigopt client's iterate_pages does), and up
        # with after when ascending.
        assert walk(api, url, "before", sort=sort) == want, sort
        assert walk(api, url, "after", sort=sort, ascending="true") == want[::-1], sort
    # The failed observation has no value: it sorts on top, as in SigOpt.
    assert ids_of(api, url, sort="value")[0] == made[3]["id"]

    # Deleted observations list sorted too.
    ok(api.delete(f"{url}/{made[0]['id']}"))
    assert ids_of(api, url, sort="value-loss") == expected(made[1:], metric("loss"))
    assert ids_of(api, url, sort="value", deleted="true") == [made[0]["id"]]


def test_bad_observation_sorts(api: TestClient) -> None:
    eid, _made = sorted_experiment(api)
    url = f"/v1/experiments/{eid}/observations"
    for sort, fragment in [
        ("name", "'name'"),
        ("value-nope", "accuracy, loss"),
        ("value_stddev-", "accuracy, loss"),
        ("parameter-nope", "c, l, n, x"),
        ("parameter", "'parameter'"),
        ("task", "'task'"),
    ]:
        allowed = ("value_stddev-<metric>", "parameter-<name>")
        error(api.get(url, params={"sort": sort}), 400, "Invalid sort", fragment, *allowed)
    # Markers carry their sort: one from another order, or of another type, is refused.
    by_value = ok(api.get(url, params={"sort": "value", "limit": 1}))["paging"]["before"]
    by_c = ok(api.get(url, params={"sort": "parameter-c", "limit": 1}))["paging"]["before"]
    error(api.get(url, params={"sort": "value-loss", "before": by_value}), 400, "before")
    error(api.get(url, params={"before": by_value}), 400, "before")
    error(api.get(url, params={"sort": "parameter-x", "after": by_c}), 400, "after")
    error(api.get(url, params={"sort": "value", "before": "!!"}), 400, "before")
    error(api.get(url, params={"sort": "value", "ascending": "up"}), 400, "ascending")


def test_every_list_takes_ascending(api: TestClient) -> None:
    eid = create_experiment(api)["id"]
    url = f"/v1/experiments/{eid}/suggestions"
    made = [ok(api.post(url, json={}))["id"] for _ in range(5)]
    assert ids_of(api, url) == made[::-1]
    assert ids_of(api, url, ascending="true") == made
    assert walk(api, url, "after", ascending="true") == made
    # Ascending, before walks back down: the items just below the marker, smallest first.
    assert ids_of(api, url, ascending="true", before=made[3], limit=2) == made[1:3]
