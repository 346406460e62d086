"""The v1 HTTP API, route by route: status codes, SigOpt shapes, auth and tenancy."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from honed.domain.tenancy import TokenType
from honed.domain.validation import NOT_AN_OBJECT
from honed.errors import PermissionDeniedError
from honed.service.app import Services
from honed.service.tokens import TokenService
from honed.storage.sql.storage import SqlStorage
from tests.conftest import TEST_TOKEN

JSON = dict[str, Any]

PARAMETERS = [
    {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
    {"name": "n", "type": "int", "bounds": {"min": 1, "max": 50}},
    {"name": "c", "type": "categorical", "categorical_values": ["a", "b", "c"]},
    {"name": "l", "type": "double", "bounds": {"min": 0.001, "max": 1}, "transformation": "log"},
]
POINT = {"x": 0.5, "n": 3, "c": "b", "l": 0.01}

EXPERIMENT_KEYS = {
    "object", "id", "name", "type", "state", "created", "updated", "client", "user", "project",
    "development", "runs_only", "observation_budget", "parallel_bandwidth", "num_solutions",
    "metadata", "metrics", "parameters", "conditionals", "linear_constraints", "progress",
    "suggestion_ttl_seconds",
}  # fmt: skip
PROGRESS_KEYS = {
    "object", "observation_count", "observation_budget_consumed", "first_observation",
    "last_observation", "best_observation",
}  # fmt: skip
PARAMETER_KEYS = {
    "object", "name", "type", "bounds", "categorical_values", "conditions", "default_value",
    "prior", "transformation",
}  # fmt: skip
METRIC_KEYS = {"object", "name", "objective", "strategy", "threshold"}
SUGGESTION_KEYS = {"object", "id", "experiment", "state", "created", "assignments", "metadata"}
QUEUED_KEYS = {"object", "id", "experiment", "created", "assignments"}
OBSERVATION_KEYS = {
    "object", "id", "experiment", "suggestion", "created", "assignments", "failed", "metadata",
    "values",
}  # fmt: skip
BEST_KEYS = {"object", "id", "assignments", "metadata", "values"}
VALUE_KEYS = {"object", "name", "value", "value_stddev"}
TOKEN_KEYS = {
    "object", "token", "token_type", "client", "user", "organization", "development",
    "all_experiments", "permissions", "scope", "experiment", "training_run", "expires",
    "lease_length",
}  # fmt: skip
CLIENT_KEYS = {"object", "id", "name", "organization", "created", "client_security"}

ID = re.compile(r"[1-9][0-9]*")


def is_id(value: object) -> bool:
    return isinstance(value, str) and ID.fullmatch(value) is not None


def is_timestamp(value: object) -> bool:
    return type(value) is int and value > 1_000_000_000


def check_experiment(data: JSON) -> None:
    assert data["object"] == "experiment"
    # A single experiment also carries honed's "optimizer" state; list entries do not. A
    # multitask one its tasks (the key is absent otherwise).
    assert set(data) - {"optimizer", "tasks"} == EXPERIMENT_KEYS
    for task in data.get("tasks", []):
        assert set(task) == {"object", "name", "cost"}
        assert task["object"] == "task"
    if "optimizer" in data:
        assert data["optimizer"]["object"] == "optimizer_status"
        assert data["optimizer"]["error"] is None
    assert is_id(data["id"])
    assert is_id(data["client"])
    assert is_timestamp(data["created"])
    assert is_timestamp(data["updated"])
    for parameter in data["parameters"]:
        assert set(parameter) >= PARAMETER_KEYS
        assert parameter["object"] == "parameter"
    assert [p["name"] for p in data["parameters"]] == sorted(p["name"] for p in data["parameters"])
    for metric in data["metrics"]:
        assert set(metric) == METRIC_KEYS
    progress = data["progress"]
    assert set(progress) == PROGRESS_KEYS
    assert progress["object"] == "progress"
    for key in ("first_observation", "last_observation", "best_observation"):
        if progress[key] is not None:
            check_observation(progress[key])


def check_suggestion(data: JSON) -> None:
    assert data["object"] == "suggestion"
    assert set(data) >= SUGGESTION_KEYS
    assert is_id(data["id"])
    assert is_id(data["experiment"])
    assert is_timestamp(data["created"])
    assert data["state"] in ("open", "closed")


def check_queued(data: JSON) -> None:
    assert data["object"] == "queued_suggestion"
    assert set(data) >= QUEUED_KEYS
    assert is_id(data["id"])
    assert is_id(data["experiment"])
    assert is_timestamp(data["created"])


def check_observation(data: JSON) -> None:
    assert data["object"] == "observation"
    assert set(data) >= OBSERVATION_KEYS
    assert is_id(data["id"])
    assert is_id(data["experiment"])
    assert data["suggestion"] is None or is_id(data["suggestion"])
    assert is_timestamp(data["created"])
    for value in data["values"]:
        assert set(value) == VALUE_KEYS
        assert value["object"] == "metric_evaluation"


def check_best(data: JSON) -> None:
    assert data["object"] == "best_assignments"
    assert set(data) >= BEST_KEYS
    assert is_id(data["id"])


def check_page(data: JSON, check: Callable[[JSON], None]) -> list[JSON]:
    assert data["object"] == "pagination"
    assert set(data) >= {"object", "count", "data", "paging"}
    assert type(data["count"]) is int
    assert set(data["paging"]) == {"before", "after"}
    for item in data["data"]:
        check(item)
    items: list[JSON] = data["data"]
    return items


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def error(response: Any, status: int, *fragments: str) -> str:
    """The response is SigOpt's error shape with ``status``; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"message", "status"}
    assert body["status"] == status
    message: str = body["message"]
    for fragment in fragments:
        assert fragment in message
    return message


def create_experiment(api: TestClient, **fields: Any) -> JSON:
    body = {"name": "API test", "parameters": PARAMETERS, **fields}
    data: JSON = ok(api.post("/v1/experiments", json=body))
    return data


@pytest.fixture
def experiment(api: TestClient) -> JSON:
    return create_experiment(api, metrics=[{"name": "accuracy"}], observation_budget=5)


@pytest.fixture
def eid(experiment: JSON) -> str:
    value: str = experiment["id"]
    return value


def suggest(api: TestClient, eid: str, **body: Any) -> JSON:
    data: JSON = ok(api.post(f"/v1/experiments/{eid}/suggestions", json=body))
    return data


def observe(api: TestClient, eid: str, **body: Any) -> JSON:
    data: JSON = ok(api.post(f"/v1/experiments/{eid}/observations", json=body))
    return data


def issue(
    storage: SqlStorage, client_id: int | None = None, permissions: str = "write"
) -> tuple[str, int]:
    """A new token (secret, client id): for a new client, or for ``client_id``."""
    if client_id is None:
        client_id = storage.create_client("other").id
    issued = Services(storage).tokens.issue(client_id, TokenType.CLIENT_API, permissions)
    return issued.secret, client_id


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:".encode()).decode()}


# --- transport: auth, routing, bodies, queries ----------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (basic("unknown-token"), 403),
        (basic(""), 400),
        ({"Authorization": "Basic !!not-base64!!"}, 400),
        ({"Authorization": "Digest abc"}, 400),
        (basic(TEST_TOKEN), 200),
        ({"Authorization": f"Bearer {TEST_TOKEN}"}, 200),
    ],
    ids=[
        "none",
        "unknown",
        "empty-user",
        "bad-base64",
        "other-scheme",
        "basic",
        "bearer",
    ],
)
def test_authentication(api: TestClient, headers: dict[str, str], status: int) -> None:
    response = api.get("/v1/experiments", headers=headers, auth=None)
    if status == 200:
        check_page(ok(response), check_experiment)
    else:
        error(response, status)


def test_revoked_token_is_refused(api: TestClient, storage: SqlStorage) -> None:
    client = storage.first_client()
    assert client is not None
    secret, _ = issue(storage, client.id)
    ok(api.get("/v1/tokens/self", auth=(secret, "")))
    services: Services = api.app.state.services  # type: ignore[attr-defined]
    token = services.tokens.authenticate(secret)
    services.tokens.revoke(token.id)  # a revocation through this process applies at once
    error(api.get("/v1/tokens/self", auth=(secret, "")), 403)


def test_revocation_elsewhere_applies_within_the_cache_time(storage: SqlStorage) -> None:
    client = storage.first_client() or storage.create_client("c")
    secret, _ = issue(storage, client.id)
    tokens = TokenService(storage, cache_seconds=0.0)
    token = tokens.authenticate(secret)
    storage.revoke_token(token.id)  # e.g. `honed token revoke` in another process
    assert tokens.cached(secret) is None
    with pytest.raises(PermissionDeniedError):
        tokens.authenticate(secret)


def test_health_needs_no_token(api: TestClient) -> None:
    assert ok(api.get("/health", auth=None)) == {}


@pytest.mark.parametrize("path", ["/v1/nothing", "/v1/experiments/1/nothing"])
def test_unknown_route(api: TestClient, path: str) -> None:
    error(api.get(path), 404, f"Endpoint not found: {path}")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/v1/experiments", "[GET, POST]"),
        ("PUT", "/v1/experiments/{eid}/suggestions", "[GET, POST, DELETE]"),
        ("PUT", "/v1/experiments/{eid}/queued_suggestions/1", "[GET, DELETE]"),
        ("PUT", "/health", "[GET, HEAD, POST]"),
    ],
)
def test_method_not_allowed(
    api: TestClient, eid: str, method: str, path: str, allowed: str
) -> None:
    response = api.request(method, path.format(eid=eid))
    error(response, 405, "This endpoint accepts only the following methods", allowed)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/experiments", {"name": "skipped", "parameters": PARAMETERS}),
        ("GET", "/v1/experiments/{eid}", None),
        ("DELETE", "/v1/experiments/{eid}", None),
    ],
)
def test_skip_response_content(
    api: TestClient, eid: str, method: str, path: str, body: JSON | None
) -> None:
    headers = {"X-Response-Content": "skip"}
    response = api.request(method, path.format(eid=eid), json=body, headers=headers)
    assert response.status_code == 204
    assert response.content == b""
    # Errors are still reported in full, and the request itself did happen.
    error(api.get("/v1/experiments/999999", headers=headers), 404)
    listed = ok(api.get("/v1/experiments", params={"state": "all"}))["data"]
    assert len(listed) == (2 if method == "POST" else 1)
    assert listed[-1]["state"] == ("deleted" if method == "DELETE" else "active")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"metadata": {"a": NaN}}', "Malformed json"),
        (b'{"metadata": {"a": -Infinity}}', "Malformed json"),
        (b'{"metadata": {}, "metadata": {}}', "duplicate key"),
        (b'{"metadata": {"a": "\xff"}}', "UTF-8"),
        (b'{"metadata": {"a": "\\u0000"}}', "NUL"),
        (b'{"metadata": {"\\u0000": "a"}}', "NUL"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"metadata": ', "Malformed json"),
        (b"[1, 2]", "expected a JSON object"),
        (b'"text"', "expected a JSON object"),
        (b"null", "expected a JSON object"),
        (b'{"unknown": 1}', "unknown"),
    ],
    ids=[
        "nan",
        "minus-infinity",
        "duplicate-keys",
        "invalid-utf8",
        "nul",
        "nul-key",
        "deep",
        "truncated",
        "array",
        "string",
        "null",
        "unknown-field",
    ],
)
def test_bad_json_body(api: TestClient, eid: str, content: bytes, fragment: str) -> None:
    response = api.post(
        f"/v1/experiments/{eid}/suggestions",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    error(response, 400, fragment)
    assert ok(api.get(f"/v1/experiments/{eid}/suggestions"))["count"] == 0


@pytest.mark.parametrize("content", [b"", b"  \n"], ids=["missing", "blank"])
def test_empty_body_is_an_empty_object(api: TestClient, eid: str, content: bytes) -> None:
    # The sigopt client may send no Content-Type; the body is JSON all the same.
    check_suggestion(ok(api.post(f"/v1/experiments/{eid}/suggestions", content=content)))


def test_oversized_body(api: TestClient, eid: str) -> None:
    padding = "x" * (10 * 1024 * 1024)
    response = api.post(
        f"/v1/experiments/{eid}/suggestions",
        content=f'{{"metadata": {{"pad": "{padding}"}}}}'.encode(),
    )
    error(response, 413)


# The sigopt client sends Python's str(True); other clients send true or 1.
QUERY_BOOLEANS = [("True", True), ("true", True), ("1", True)]
QUERY_BOOLEANS += [("False", False), ("false", False), ("0", False)]


def test_query_booleans(api: TestClient, eid: str) -> None:
    """One state, every spelling (each is a read): deleted=<value> selects the deleted."""
    kept, gone = suggest(api, eid), suggest(api, eid)
    ok(api.delete(f"/v1/experiments/{eid}/suggestions/{gone['id']}"))
    observe(api, eid, assignments=POINT, value=1.0)
    for value, deleted in QUERY_BOOLEANS:
        page = ok(api.get(f"/v1/experiments/{eid}/suggestions", params={"deleted": value}))
        assert [s["id"] for s in page["data"]] == [gone["id"] if deleted else kept["id"]], value
        observations = ok(
            api.get(f"/v1/experiments/{eid}/observations", params={"deleted": value})
        )
        assert observations["count"] == (0 if deleted else 1), value
    for value in ("yes", "", "2", "truth"):
        response = api.get(f"/v1/experiments/{eid}/suggestions", params={"deleted": value})
        error(response, 400, "deleted")


def test_id_filter(api: TestClient, eid: str) -> None:
    made = [suggest(api, eid)["id"] for _ in range(3)]
    for form in ("{a},{b}", "[{a}, {b}]", "{a}, {b}", "{b},{a},{a}"):
        query = form.format(a=made[0], b=made[2])
        page = ok(api.get(f"/v1/experiments/{eid}/suggestions", params={"id": query}))
        assert [s["id"] for s in page["data"]] == [made[2], made[0]], form
        assert page["count"] == 2, form
    for query in ("abc", "1,x", "-1", "[1, [2]]", "[1", "1.0"):
        response = api.get(f"/v1/experiments/{eid}/suggestions", params={"id": query})
        error(response, 400, "id")


@pytest.mark.parametrize("path", ["", "/{eid}/suggestions", "/{eid}/observations"])
def test_limit_and_paging(api: TestClient, eid: str, path: str) -> None:
    url = "/v1/experiments" + path.format(eid=eid)
    for _ in range(4):
        if path.endswith("observations"):
            observe(api, eid, assignments=POINT, value=1.0)
        elif path:
            suggest(api, eid)
        else:
            create_experiment(api)
    total = 5 if not path else 4
    counted = ok(api.get(url, params={"limit": 0}))
    assert (counted["count"], counted["data"]) == (total, [])
    everything = ok(api.get(url))["data"]
    ids = [item["id"] for item in everything]
    assert ids == sorted(ids, key=int, reverse=True)
    walked: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = ok(api.get(url, params=params))
        assert page["count"] == total
        walked += [item["id"] for item in page["data"]]
        if page["paging"]["before"] is None:
            break
        assert is_id(page["paging"]["before"])
        params = {"limit": 3, "before": page["paging"]["before"]}
    assert walked == ids
    newer = ok(api.get(url, params={"limit": 2, "after": ids[-1]}))
    assert [item["id"] for item in newer["data"]] == ids[-3:-1]
    for bad in ("1001", "-1", "abc", "1.5"):
        error(api.get(url, params={"limit": bad}), 400, "limit")
    error(api.get(url, params={"limit": 1001}), 400, "Exceeded maximum limit: 1000")
    error(api.get(url, params={"before": "marker"}), 400, "before")
    assert len(ok(api.get(url, params={"limit": 1000}))["data"]) == total


def test_path_ids_that_name_nothing(api: TestClient, eid: str) -> None:
    for path in ("abc", "0", "-1", "1.0", "99999999999999999999999", f"{eid}x", "999999"):
        error(api.get(f"/v1/experiments/{path}"), 404)
        error(api.get(f"/v1/experiments/{path}/suggestions"), 404)
        error(api.get(f"/v1/experiments/{eid}/suggestions/{path}"), 404)


# --- experiments ------------------------------------------------------------------------------


def test_create_experiment_shape(api: TestClient, storage: SqlStorage) -> None:
    data = create_experiment(
        api,
        metrics=["accuracy", {"name": "cost", "objective": "minimize", "strategy": "store"}],
        observation_budget=30,
        parallel_bandwidth=2,
        metadata={"team": "ml", "version": 2, "dropped": None},
    )
    check_experiment(data)
    client = storage.first_client()
    assert client is not None
    assert data["client"] == str(client.id)
    assert (data["name"], data["type"], data["state"]) == ("API test", "offline", "active")
    assert (data["observation_budget"], data["parallel_bandwidth"]) == (30, 2)
    assert data["metadata"] == {"team": "ml", "version": 2}
    assert [m["name"] for m in data["metrics"]] == ["accuracy", "cost"]
    assert data["metrics"][0] == {
        "object": "metric",
        "name": "accuracy",
        "objective": "maximize",
        "strategy": "optimize",
        "threshold": None,
    }
    assert [p["name"] for p in data["parameters"]] == ["c", "l", "n", "x"]
    by_name = {p["name"]: p for p in data["parameters"]}
    assert by_name["c"]["bounds"] is None
    assert by_name["c"]["categorical_values"] == [
        {"object": "categorical_value", "name": name, "enum_index": index}
        for index, name in enumerate(["a", "b", "c"], start=1)
    ]
    assert by_name["n"]["bounds"] == {"object": "bounds", "min": 1, "max": 50}
    assert type(by_name["n"]["bounds"]["min"]) is int
    assert by_name["x"]["bounds"] == {"object": "bounds", "min": 0.0, "max": 1.0}
    assert (by_name["l"]["transformation"], by_name["x"]["transformation"]) == ("log", None)
    assert "grid" not in by_name["x"]
    assert data["progress"]["observation_count"] == 0
    assert ok(api.get(f"/v1/experiments/{data['id']}")) == data


def test_create_experiment_defaults_and_extras(api: TestClient) -> None:
    data = create_experiment(
        api,
        parameters=[
            {"name": "g", "type": "double", "grid": [0.1, 0.5]},
            {"name": "k", "type": "int", "bounds": {"min": 0, "max": 3}, "default_value": 2},
        ],
        linear_constraints=[
            {"type": "less_than", "terms": [{"name": "k", "weight": 1}], "threshold": 2}
        ],
    )
    assert data["metrics"] == [
        {
            "object": "metric",
            "name": None,
            "objective": "maximize",
            "strategy": "optimize",
            "threshold": None,
        }
    ]
    grid = next(p for p in data["parameters"] if p["name"] == "g")
    assert (grid["grid"], grid["bounds"]) == (
        [0.1, 0.5],
        {"object": "bounds", "min": 0.1, "max": 0.5},
    )
    assert data["linear_constraints"] == [
        {
            "object": "linear_constraint",
            "type": "less_than",
            "terms": [{"object": "constraint_term", "name": "k", "weight": 1.0}],
            "threshold": 2.0,
        }
    ]
    suggestion = suggest(api, data["id"])
    assert suggestion["assignments"]["k"] <= 2


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"parameters": PARAMETERS}, ("name",)),
        ({"name": "e"}, ("parameters",)),
        ({"name": "e", "parameters": PARAMETERS, "color": "red"}, ("color",)),
        ({"name": "", "parameters": PARAMETERS}, ("name",)),
        ({"name": "e", "parameters": []}, ("parameters",)),
        (
            {
                "name": "e",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 1, "max": 0}}],
            },
            ("parameters[0] (x).bounds",),
        ),
        ({"name": "e", "parameters": [{"name": "x", "type": "float"}]}, ("parameters[0].type",)),
        ({"name": 5, "parameters": PARAMETERS}, ("name",)),
        ({"name": "e", "parameters": PARAMETERS, "metadata": {"a": [1]}}, ("metadata.a",)),
        ({"name": "e", "parameters": PARAMETERS, "metrics": ["a", "b"]}, ("observation_budget",)),
        ({"name": "e", "parameters": PARAMETERS, "type": "bandit"}, ("type",)),
        (
            {"name": "e", "parameters": PARAMETERS, "observation_budget": 1.5},
            ("observation_budget",),
        ),
    ],
    ids=[
        "no-name",
        "no-parameters",
        "unknown-key",
        "empty-name",
        "zero-parameters",
        "bounds",
        "parameter-type",
        "name-type",
        "metadata",
        "budget-required",
        "experiment-type",
        "budget-type",
    ],
)
def test_create_experiment_rejects(
    api: TestClient, body: JSON, fragments: tuple[str, ...]
) -> None:
    error(api.post("/v1/experiments", json=body), 400, *fragments)
    assert ok(api.get("/v1/experiments", params={"state": "all"}))["count"] == 0


def test_client_experiment_routes(api: TestClient, storage: SqlStorage) -> None:
    client = storage.first_client()
    assert client is not None
    body = {"name": "via client", "parameters": PARAMETERS}
    created = ok(api.post(f"/v1/clients/{client.id}/experiments", json=body))
    check_experiment(created)
    page = ok(api.get(f"/v1/clients/{client.id}/experiments"))
    assert [e["id"] for e in check_page(page, check_experiment)] == [created["id"]]


def test_list_experiments_by_state(api: TestClient) -> None:
    kept = create_experiment(api)["id"]
    gone = create_experiment(api)["id"]
    assert ok(api.delete(f"/v1/experiments/{gone}")) == {}

    def listed(**params: str) -> list[str]:
        return [
            e["id"]
            for e in check_page(ok(api.get("/v1/experiments", params=params)), check_experiment)
        ]

    assert listed() == [kept]
    assert listed(state="active") == [kept]
    assert listed(state="deleted") == [gone]
    assert listed(state="all") == [gone, kept]
    error(api.get("/v1/experiments", params={"state": "archived"}), 400, "state")


def test_update_experiment(api: TestClient, experiment: JSON) -> None:
    eid = experiment["id"]
    url = f"/v1/experiments/{eid}"
    updated = ok(api.put(url, json={"name": "renamed", "observation_budget": 9}))
    check_experiment(updated)
    assert (updated["name"], updated["observation_budget"]) == ("renamed", 9)
    assert ok(api.get(url)) == updated
    with_metadata = ok(api.put(url, json={"metadata": {"stage": "two"}}))
    assert (with_metadata["metadata"], with_metadata["name"]) == ({"stage": "two"}, "renamed")
    # Omitted keys keep their value; an explicit null clears.
    assert ok(api.put(url, json={}))["metadata"] == {"stage": "two"}
    assert ok(api.put(url, json={"metadata": None}))["metadata"] is None
    assert ok(api.put(url, json={"observation_budget": None}))["observation_budget"] is None
    # The experiment's own parameters, with "object"/"enum_index"/null fields, round-trip.
    round_trip = ok(api.put(url, json={"parameters": updated["parameters"]}))
    assert round_trip["parameters"] == updated["parameters"]
    assert ok(api.put(url, json={"metrics": updated["metrics"]}))["metrics"] == updated["metrics"]
    changed = [dict(p) for p in updated["parameters"]]
    changed[-1]["bounds"] = {"object": "bounds", "min": 0.25, "max": 0.75}
    narrowed = ok(api.put(url, json={"parameters": changed}))
    assert narrowed["parameters"][-1]["bounds"] == {"object": "bounds", "min": 0.25, "max": 0.75}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"conditionals": []}, "conditionals"),
        ({"state": "paused"}, "state"),
        ({"metadata": {"a": {"b": 1}}}, "metadata.a"),
        ({"parameters": [{"name": "x", "type": "int", "bounds": {"min": 0, "max": 1}}]}, "type"),
        (
            {"parameters": [{"name": "z", "type": "double", "bounds": {"min": 0, "max": 1}}]},
            "default_value",
        ),
        ({"metrics": [{"name": "accuracy", "objective": "minimize"}]}, "metrics"),
        ({"metrics": [{"name": "other"}]}, "metrics"),
        ({"project": "p"}, "project"),
    ],
    ids=[
        "null-name",
        "empty-name",
        "conditionals",
        "state",
        "metadata",
        "parameter-type-change",
        "new-parameter-without-default",
        "metric-objective-change",
        "metric-renamed",
        "project",
    ],
)
def test_update_experiment_rejects(
    api: TestClient, experiment: JSON, body: JSON, fragment: str
) -> None:
    url = f"/v1/experiments/{experiment['id']}"
    error(api.put(url, json=body), 400, fragment)
    after = ok(api.get(url))
    assert (after["name"], after["parameters"], after["metrics"]) == (
        experiment["name"],
        experiment["parameters"],
        experiment["metrics"],
    )


def test_deleted_experiment_refuses_new_records_until_undeleted(api: TestClient, eid: str) -> None:
    open_suggestion = suggest(api, eid)
    url = f"/v1/experiments/{eid}"
    assert ok(api.delete(url)) == {}
    assert ok(api.delete(url)) == {}  # idempotent
    assert ok(api.get(url))["state"] == "deleted"
    refused = [
        api.post(f"{url}/suggestions", json={}),
        api.post(f"{url}/suggestions", json={"assignments": POINT}),
        api.post(f"{url}/queued_suggestions", json={"assignments": POINT}),
        api.post(f"{url}/observations", json={"suggestion": open_suggestion["id"], "value": 1}),
        api.post(
            f"{url}/observations/batch",
            json={"observations": [{"assignments": POINT, "value": 1}]},
        ),
    ]
    for response in refused:
        error(response, 400, f"for deleted experiment {eid}")
    # Reads still work.
    ok(api.get(f"{url}/suggestions"))
    ok(api.get(f"{url}/observations"))
    restored = ok(api.put(url, json={"state": "active"}))
    assert restored["state"] == "active"
    suggest(api, eid)
    observe(api, eid, suggestion=open_suggestion["id"], value=1)


def test_best_assignments_and_stopping_criteria(api: TestClient, experiment: JSON) -> None:
    eid = experiment["id"]
    empty = ok(api.get(f"/v1/experiments/{eid}/best_assignments"))
    assert (empty["count"], empty["data"], empty["paging"]) == (
        0,
        [],
        {"before": None, "after": None},
    )
    stop = ok(api.get(f"/v1/experiments/{eid}/stopping_criteria"))
    assert stop == {"object": "stopping_criteria", "should_stop": False, "reasons": []}
    made = []
    for value in (0.3, 0.9, 0.1, 0.5):
        made.append(observe(api, eid, assignments={**POINT, "x": value}, value=value))
    observe(api, eid, assignments=POINT, failed=True)
    best = check_page(ok(api.get(f"/v1/experiments/{eid}/best_assignments")), check_best)
    assert [b["id"] for b in best] == [made[1]["id"]]
    assert best[0]["assignments"] == {**POINT, "x": 0.9}
    assert best[0]["values"][0]["value"] == 0.9
    progress = ok(api.get(f"/v1/experiments/{eid}"))["progress"]
    assert progress["observation_count"] == 5
    assert progress["best_observation"]["id"] == made[1]["id"]
    assert progress["first_observation"]["id"] == made[0]["id"]
    stop = ok(api.get(f"/v1/experiments/{eid}/stopping_criteria"))
    assert stop == {
        "object": "stopping_criteria",
        "should_stop": True,
        "reasons": ["observation_budget_reached"],
    }


def test_multisolution_best_assignments_are_the_best_of_each_basin(api: TestClient) -> None:
    refused = api.post(
        "/v1/experiments", json={"name": "m", "parameters": PARAMETERS, "num_solutions": 3}
    )
    error(refused, 400, "Invalid observation_budget", "num_solutions > 1")
    experiment = create_experiment(api, num_solutions=3, observation_budget=10)
    assert experiment["num_solutions"] == 3
    eid = experiment["id"]
    assert ok(api.get(f"/v1/experiments/{eid}"))["num_solutions"] == 3
    changed = api.put(f"/v1/experiments/{eid}", json={"num_solutions": 2})
    error(changed, 400, "num_solutions")
    made = [
        observe(api, eid, assignments={**POINT, "c": c, "x": x}, value=value)
        for c, x, value in [("a", 0.1, 0.9), ("a", 0.11, 1.0), ("b", 0.1, 0.8), ("a", 0.9, 0.7)]
    ]
    best = check_page(ok(api.get(f"/v1/experiments/{eid}/best_assignments")), check_best)
    # Best first; the 0.9 beside the 1.0 is the same solution.
    assert [b["id"] for b in best] == [made[1]["id"], made[2]["id"], made[3]["id"]]


# --- suggestions --------------------------------------------------------------------------------


def test_suggestion_lifecycle(api: TestClient, eid: str) -> None:
    url = f"/v1/experiments/{eid}/suggestions"
    first = suggest(api, eid, metadata={"worker": "w1"})
    check_suggestion(first)
    assert (first["state"], first["metadata"], first["deleted"]) == (
        "open",
        {"worker": "w1"},
        False,
    )
    assert set(first["assignments"]) == {"x", "n", "c", "l"}
    assert type(first["assignments"]["n"]) is int
    assert ok(api.get(f"{url}/{first['id']}")) == first
    second = suggest(api, eid)
    assert second["assignments"] != first["assignments"]

    # PUT: absent metadata leaves it, null clears it.
    assert ok(api.put(f"{url}/{first['id']}", json={}))["metadata"] == {"worker": "w1"}
    assert ok(api.put(f"{url}/{first['id']}", json={"metadata": {"worker": "w2"}}))[
        "metadata"
    ] == {"worker": "w2"}
    assert ok(api.put(f"{url}/{first['id']}", json={"metadata": None}))["metadata"] is None
    error(api.put(f"{url}/{first['id']}", json={"assignments": POINT}), 400, "assignments")

    observe(api, eid, suggestion=first["id"], value=1.0)
    assert ok(api.get(f"{url}/{first['id']}"))["state"] == "closed"
    open_page = ok(api.get(url, params={"state": "open"}))
    assert [s["id"] for s in check_page(open_page, check_suggestion)] == [second["id"]]
    error(api.get(url, params={"state": "closed"}), 400, "state")

    assert ok(api.delete(f"{url}/{second['id']}")) == {}
    assert ok(api.get(f"{url}/{second['id']}"))["deleted"] is True
    assert ok(api.get(url))["count"] == 1
    assert [s["id"] for s in ok(api.get(url, params={"deleted": "true"}))["data"]] == [
        second["id"]
    ]
    error(api.get(f"{url}/999999"), 404)


@pytest.mark.parametrize(("query", "left"), [({}, 0), ({"state": "open"}, 1)], ids=["all", "open"])
def test_delete_all_suggestions(
    api: TestClient, eid: str, query: dict[str, str], left: int
) -> None:
    url = f"/v1/experiments/{eid}/suggestions"
    closed = suggest(api, eid)
    observe(api, eid, suggestion=closed["id"], value=0.5)
    suggest(api, eid)
    suggest(api, eid)
    assert ok(api.delete(url, params=query)) == {}
    remaining = ok(api.get(url))
    assert remaining["count"] == left
    assert ok(api.get(url, params={"state": "open"}))["count"] == 0


def test_manual_suggestion(api: TestClient, eid: str) -> None:
    made = suggest(api, eid, assignments={**POINT, "n": 3.0})
    assert made["assignments"] == POINT
    assert type(made["assignments"]["n"]) is int
    again = suggest(api, eid, assignments=POINT)  # manual duplicates are allowed
    assert again["id"] != made["id"]


@pytest.mark.parametrize(
    ("assignments", "fragment"),
    [
        ({**POINT, "x": 2}, "assignments.x"),
        ({**POINT, "c": "z"}, "assignments.c"),
        ({**POINT, "n": 2.5}, "assignments.n"),
        ({**POINT, "l": 0}, "assignments.l"),
        ({k: v for k, v in POINT.items() if k != "c"}, "Missing parameter"),
        ({**POINT, "extra": 1}, "extra"),
    ],
    ids=["bounds", "category", "int", "log", "missing", "unknown"],
)
def test_invalid_manual_suggestion(
    api: TestClient, eid: str, assignments: JSON, fragment: str
) -> None:
    error(
        api.post(f"/v1/experiments/{eid}/suggestions", json={"assignments": assignments}),
        400,
        fragment,
    )
    error(
        api.post(f"/v1/experiments/{eid}/queued_suggestions", json={"assignments": assignments}),
        400,
        fragment,
    )


def test_queued_suggestions_are_served_first_in_order(api: TestClient, eid: str) -> None:
    url = f"/v1/experiments/{eid}/queued_suggestions"
    points = [{**POINT, "x": x} for x in (0.1, 0.2, 0.3)]
    queued = [ok(api.post(url, json={"assignments": p})) for p in points]
    for item in queued:
        check_queued(item)
    assert ok(api.get(f"{url}/{queued[1]['id']}")) == queued[1]
    page = check_page(ok(api.get(url)), check_queued)
    assert [q["id"] for q in page] == [q["id"] for q in reversed(queued)]
    assert ok(api.delete(f"{url}/{queued[1]['id']}")) == {}
    error(api.get(f"{url}/{queued[1]['id']}"), 404)

    served = [suggest(api, eid) for _ in range(3)]
    assert [s["assignments"] for s in served[:2]] == [points[0], points[2]]
    assert served[2]["assignments"] not in points  # the queue is empty: an engine point
    assert ok(api.get(url))["count"] == 0
    error(api.post(url, json={}), 400, "assignments")


# --- observations ------------------------------------------------------------------------------


def test_observation_shapes_and_value_forms(api: TestClient, eid: str) -> None:
    suggestion = suggest(api, eid)
    from_values = observe(
        api,
        eid,
        suggestion=suggestion["id"],
        values=[{"name": "accuracy", "value": 0.8, "value_stddev": 0.05}],
        metadata={"host": "a"},
    )
    check_observation(from_values)
    assert from_values["suggestion"] == suggestion["id"]
    assert from_values["assignments"] == suggestion["assignments"]
    assert (from_values["failed"], from_values["metadata"]) == (False, {"host": "a"})
    assert from_values["values"] == [
        {"object": "metric_evaluation", "name": "accuracy", "value": 0.8, "value_stddev": 0.05}
    ]
    assert (from_values["value"], from_values["value_stddev"]) == (0.8, 0.05)

    # The older hosted API's top-level value / value_stddev, and an unnamed value.
    legacy = observe(api, eid, assignments=POINT, value=0.7, value_stddev=0.1)
    assert legacy["values"] == [
        {"object": "metric_evaluation", "name": "accuracy", "value": 0.7, "value_stddev": 0.1}
    ]
    assert legacy["suggestion"] is None
    unnamed = observe(api, eid, assignments=POINT, values=[{"value": 3}])
    assert unnamed["values"][0]["name"] == "accuracy"
    extreme = observe(api, eid, assignments=POINT, value=-1.7976931348623157e308)
    assert extreme["value"] == -1.7976931348623157e308

    failed = observe(api, eid, assignments=POINT, failed=True)
    assert (failed["failed"], failed["values"], failed["value"]) == (True, [], None)
    assert ok(api.get(f"/v1/experiments/{eid}/observations/{failed['id']}")) == failed


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"assignments": POINT}, "values"),
        ({"assignments": POINT, "values": []}, "values"),
        ({"assignments": POINT, "failed": True, "value": 1}, "failed"),
        ({"value": 1}, "suggestion"),
        ({"suggestion": "{sid}", "assignments": POINT, "value": 1}, "suggestion"),
        ({"assignments": POINT, "value": 1, "values": [{"value": 1}]}, "value"),
        ({"assignments": POINT, "value_stddev": 1}, "value_stddev"),
        ({"assignments": POINT, "value": 1, "value_stddev": -1}, "value_stddev"),
        ({"assignments": POINT, "values": [{"name": "other", "value": 1}]}, "other"),
        ({"assignments": POINT, "values": [{"name": "accuracy", "value": None}]}, "value"),
        (
            {"assignments": POINT, "values": [{"name": "accuracy", "value": 1, "color": 1}]},
            "color",
        ),
        ({"assignments": {**POINT, "x": 9}, "value": 1}, "assignments.x"),
        ({"suggestion": "999999", "value": 1}, "suggestion"),
        ({"suggestion": "abc", "value": 1}, "suggestion"),
        ({"assignments": POINT, "value": "high"}, "value"),
        ({"assignments": POINT, "value": 1, "colour": "red"}, "colour"),
    ],
    ids=[
        "no-values",
        "empty-values",
        "failed-with-values",
        "neither-suggestion-nor-assignments",
        "both",
        "value-and-values",
        "stddev-alone",
        "negative-stddev",
        "unknown-metric",
        "null-value",
        "unknown-value-key",
        "bad-assignments",
        "missing-suggestion",
        "bad-suggestion-id",
        "string-value",
        "unknown-key",
    ],
)
def test_invalid_observation(api: TestClient, eid: str, body: JSON, fragment: str) -> None:
    sid = suggest(api, eid)["id"]
    if body.get("suggestion") == "{sid}":
        body = {**body, "suggestion": sid}
    error(api.post(f"/v1/experiments/{eid}/observations", json=body), 400, fragment)
    assert ok(api.get(f"/v1/experiments/{eid}/observations"))["count"] == 0
    assert ok(api.get(f"/v1/experiments/{eid}/suggestions/{sid}"))["state"] == "open"


def test_observation_batch(api: TestClient, eid: str) -> None:
    url = f"/v1/experiments/{eid}/observations"
    suggestion = suggest(api, eid)
    good = [{"suggestion": suggestion["id"], "value": 1.0}, {"assignments": POINT, "failed": True}]
    bad = [*good, {"assignments": {**POINT, "c": "z"}, "value": 2.0}]
    error(
        api.post(f"{url}/batch", json={"observations": bad}),
        400,
        "Error in observation 3/3",
        "assignments.c",
    )
    error(
        api.post(f"{url}/batch", json={"observations": [*good, {"value": 1}]}),
        400,
        "observation 3/3",
    )
    assert ok(api.get(url))["count"] == 0
    assert ok(api.get(f"/v1/experiments/{eid}/suggestions/{suggestion['id']}"))["state"] == "open"
    error(api.post(f"{url}/batch", json={"observations": []}), 400, "observations")
    created = check_page(
        ok(api.post(f"{url}/batch", json={"observations": good})), check_observation
    )
    assert [o["suggestion"] for o in created] == [suggestion["id"], None]
    assert [o["failed"] for o in created] == [False, True]
    assert ok(api.get(url))["count"] == 2


def test_observation_batch_items_are_documented_and_checked_as_observations(
    api: TestClient, eid: str
) -> None:
    schemas = ok(api.get("/openapi.json"))["components"]["schemas"]
    assert (
        schemas["ObservationBatch"]["properties"]["observations"]["items"]
        == (schemas["ObservationIn"])
    )
    url = f"/v1/experiments/{eid}/observations/batch"
    good = {"assignments": POINT, "value": 1.0}
    for item, message in (
        ("x", f"Error in observation 2/2: {NOT_AN_OBJECT}"),
        ({**good, "value": "high"}, "Error in observation 2/2: Invalid value: "),
        ({**good, "colour": "red"}, "Error in observation 2/2: Unknown field colour"),
    ):
        answered = error(api.post(url, json={"observations": [good, item]}), 400)
        assert answered.startswith(message), answered


def test_observation_update(api: TestClient, eid: str) -> None:
    url = f"/v1/experiments/{eid}/observations"
    first, second = suggest(api, eid), suggest(api, eid)
    observation = observe(
        api,
        eid,
        suggestion=first["id"],
        values=[{"name": "accuracy", "value": 1.0, "value_stddev": 0.2}],
    )
    oid = observation["id"]

    def put(body: JSON) -> JSON:
        data: JSON = ok(api.put(f"{url}/{oid}", json=body))
        check_observation(data)
        assert ok(api.get(f"{url}/{oid}")) == data
        return data

    # value_stddev is kept when an update leaves it out, in either value form.
    assert put({"values": [{"name": "accuracy", "value": 2.0}]})["values"][0] == {
        "object": "metric_evaluation",
        "name": "accuracy",
        "value": 2.0,
        "value_stddev": 0.2,
    }
    legacy = put({"value": 3.0})
    assert (legacy["value"], legacy["value_stddev"], legacy["values"][0]["value_stddev"]) == (
        3.0,
        0.2,
        0.2,
    )
    assert put({"value": 4.0, "value_stddev": 0.5})["value_stddev"] == 0.5
    # An explicit null clears it (SigOpt's PATCH semantics), in either value form.
    assert put({"value": 4.0, "value_stddev": None})["value_stddev"] is None
    put({"value": 4.0, "value_stddev": 0.5})
    cleared = put({"values": [{"name": "accuracy", "value": 4.5, "value_stddev": None}]})
    assert (cleared["value"], cleared["values"][0]["value_stddev"]) == (4.5, None)
    assert put({"value": 4.0})["value_stddev"] is None
    assert put({"metadata": {"note": "x"}})["metadata"] == {"note": "x"}
    assert put({})["metadata"] == {"note": "x"}
    assert put({"metadata": None})["metadata"] is None
    failed = put({"failed": True})
    assert (failed["failed"], failed["values"]) == (True, [])
    recovered = put({"failed": False, "value": 5.0})
    assert (recovered["failed"], recovered["value"]) == (False, 5.0)
    moved = put({"suggestion": second["id"]})
    assert (moved["suggestion"], moved["assignments"]) == (second["id"], second["assignments"])
    assert ok(api.get(f"/v1/experiments/{eid}/suggestions/{second['id']}"))["state"] == "closed"
    raw = put({"assignments": POINT})
    assert (raw["suggestion"], raw["assignments"]) == (None, POINT)
    error(api.put(f"{url}/{oid}", json={"failed": True, "value": 1.0}), 400, "failed")
    error(api.put(f"{url}/{oid}", json={"suggestion": second["id"], "assignments": POINT}), 400)
    error(api.put(f"{url}/999999", json={"value": 1.0}), 404)


def test_observation_delete(api: TestClient, eid: str) -> None:
    url = f"/v1/experiments/{eid}/observations"
    made = [observe(api, eid, assignments=POINT, value=v) for v in (1.0, 2.0, 3.0)]
    assert [o["id"] for o in ok(api.get(url))["data"]] == [o["id"] for o in reversed(made)]
    assert ok(api.delete(f"{url}/{made[1]['id']}")) == {}
    assert [o["id"] for o in ok(api.get(url))["data"]] == [made[2]["id"], made[0]["id"]]
    assert [o["id"] for o in ok(api.get(url, params={"deleted": "True"}))["data"]] == [
        made[1]["id"]
    ]
    assert ok(api.get(f"/v1/experiments/{eid}"))["progress"]["observation_count"] == 2
    assert ok(api.delete(url)) == {}
    assert ok(api.get(url))["count"] == 0
    assert ok(api.get(f"/v1/experiments/{eid}"))["progress"]["observation_count"] == 0
    error(api.delete(f"{url}/999999"), 404)


# --- tokens, clients, tenancy, permissions ----------------------------------------------


def test_token_self_and_client(api: TestClient, storage: SqlStorage) -> None:
    client = storage.first_client()
    assert client is not None
    token = ok(api.get("/v1/tokens/self"))
    assert set(token) == TOKEN_KEYS
    assert (token["object"], token["client"], token["token_type"]) == (
        "token",
        str(client.id),
        "client-api",
    )
    assert (token["permissions"], token["development"], token["token"]) == ("write", False, None)
    found = ok(api.get(f"/v1/clients/{client.id}"))
    assert set(found) == CLIENT_KEYS
    assert (found["object"], found["id"], found["name"]) == ("client", str(client.id), client.name)
    assert is_timestamp(found["created"])
    _, other = issue(storage)
    error(api.get(f"/v1/clients/{other}"), 404)
    error(api.get("/v1/clients/abc"), 404)


FOREIGN_REQUESTS = [
    ("GET", ""),
    ("PUT", ""),
    ("DELETE", ""),
    ("GET", "/best_assignments"),
    ("GET", "/stopping_criteria"),
    ("GET", "/suggestions"),
    ("POST", "/suggestions"),
    ("DELETE", "/suggestions"),
    ("GET", "/suggestions/{sid}"),
    ("PUT", "/suggestions/{sid}"),
    ("DELETE", "/suggestions/{sid}"),
    ("GET", "/queued_suggestions"),
    ("POST", "/queued_suggestions"),
    ("GET", "/queued_suggestions/{qid}"),
    ("DELETE", "/queued_suggestions/{qid}"),
    ("GET", "/observations"),
    ("POST", "/observations"),
    ("POST", "/observations/batch"),
    ("DELETE", "/observations"),
    ("GET", "/observations/{oid}"),
    ("PUT", "/observations/{oid}"),
    ("DELETE", "/observations/{oid}"),
]
BODIES: dict[str, JSON] = {
    "PUT ": {"name": "taken over", "metadata": {"a": "b"}},
    "PUT /suggestions/{sid}": {"metadata": {"a": "b"}},
    "PUT /observations/{oid}": {"metadata": {"a": "b"}},
    "POST /queued_suggestions": {"assignments": POINT},
    "POST /observations": {"assignments": POINT, "value": 1},
    "POST /observations/batch": {"observations": [{"assignments": POINT, "value": 1}]},
}


@pytest.fixture
def records(api: TestClient, eid: str) -> dict[str, str]:
    """One of each record in ``eid``: a suggestion, a queued suggestion, an observation."""
    sid = suggest(api, eid)["id"]
    queued = ok(api.post(f"/v1/experiments/{eid}/queued_suggestions", json={"assignments": POINT}))
    oid = observe(api, eid, assignments=POINT, value=1.0)["id"]
    return {"eid": eid, "sid": sid, "qid": queued["id"], "oid": oid}


def snapshot(api: TestClient, eid: str) -> list[Any]:
    url = f"/v1/experiments/{eid}"
    return [
        ok(api.get(url)),
        ok(api.get(f"{url}/suggestions")),
        ok(api.get(f"{url}/queued_suggestions")),
        ok(api.get(f"{url}/observations")),
    ]


def send(
    api: TestClient, method: str, path: str, ids: dict[str, str], auth: tuple[str, str]
) -> Any:
    url = f"/v1/experiments/{ids['eid']}" + path.format(**ids)
    return api.request(method, url, json=BODIES.get(f"{method} {path}"), auth=auth)


WRITES = [(m, p) for m, p in FOREIGN_REQUESTS if m != "GET"]
READS = [(m, p) for m, p in FOREIGN_REQUESTS if m == "GET"]


@pytest.mark.parametrize(
    ("who", "requests", "status"),
    [
        ("other-client", FOREIGN_REQUESTS, 404),
        ("read-only", WRITES, 403),
        ("read-only", READS, 200),
    ],
    ids=["other-client-gets-404", "read-only-writes-get-403", "read-only-reads"],
)
def test_access_to_every_experiment_route(
    api: TestClient,
    storage: SqlStorage,
    records: dict[str, str],
    who: str,
    requests: list[tuple[str, str]],
    status: int,
) -> None:
    first = storage.first_client()
    assert first is not None
    if who == "other-client":
        secret, _ = issue(storage)
    else:
        secret, _ = issue(storage, first.id, permissions="read")
    before = snapshot(api, records["eid"])
    for method, path in requests:
        response = send(api, method, path, records, (secret, ""))
        assert response.status_code == status, (method, path, response.text)
        if status != 200:
            error(response, status, *(["permission"] if status == 403 else []))
    assert snapshot(api, records["eid"]) == before
    body = {"name": "e", "parameters": PARAMETERS}
    if who == "other-client":
        # Its own views are empty, and it cannot reach the first client.
        assert ok(api.get("/v1/experiments", auth=(secret, ""), params={"state": "all"})) == {
            "object": "pagination",
            "count": 0,
            "data": [],
            "paging": {"before": None, "after": None},
        }
        error(api.get(f"/v1/clients/{first.id}/experiments", auth=(secret, "")), 404)
        error(api.post(f"/v1/clients/{first.id}/experiments", json=body, auth=(secret, "")), 404)
    else:
        assert ok(api.get("/v1/tokens/self", auth=(secret, "")))["permissions"] == "read"
        assert ok(api.get("/v1/experiments", auth=(secret, "")))["count"] == 1
        error(api.post("/v1/experiments", json=body, auth=(secret, "")), 403, "permission")


def test_other_clients_have_their_own_experiments(
    api: TestClient, storage: SqlStorage, eid: str
) -> None:
    secret, other = issue(storage)
    theirs = ok(
        api.post(
            "/v1/experiments", json={"name": "theirs", "parameters": PARAMETERS}, auth=(secret, "")
        )
    )
    assert theirs["client"] == str(other)
    assert [e["id"] for e in ok(api.get("/v1/experiments", auth=(secret, "")))["data"]] == [
        theirs["id"]
    ]
    own = ok(api.get(f"/v1/clients/{other}/experiments", auth=(secret, "")))
    assert [e["id"] for e in own["data"]] == [theirs["id"]]
    assert [e["id"] for e in ok(api.get("/v1/experiments"))["data"]] == [eid]
    error(api.get(f"/v1/experiments/{theirs['id']}"), 404)


def test_an_empty_metrics_list_is_refused_not_replaced(api: TestClient) -> None:
    body = {"name": "no metrics", "parameters": PARAMETERS, "metrics": []}
    error(api.post("/v1/experiments", json=body), 400, "metrics", "at least one metric")
    assert ok(api.get("/v1/experiments"))["data"] == []
    # Omitted, SigOpt's default stands: one unnamed metric.
    created = ok(api.post("/v1/experiments", json={"name": "default", "parameters": PARAMETERS}))
    assert [m["name"] for m in created["metrics"]] == [None]


def test_a_task_is_refused_by_a_plain_experiment(api: TestClient, eid: str) -> None:
    url = f"/v1/experiments/{eid}"
    cheap = {"name": "cheap", "cost": 0.1}
    for task in ("cheap", cheap):
        body = {"assignments": POINT, "value": 1.0, "task": task}
        error(api.post(f"{url}/observations", json=body), 400, "Invalid task", "not multitask")
        manual = {"assignments": POINT, "task": task}
        error(api.post(f"{url}/suggestions", json=manual), 400, "Invalid task", "not multitask")
        error(api.post(f"{url}/queued_suggestions", json=manual), 400, "Invalid task")
    # Not even with a suggestion, whose task it would be.
    suggestion = suggest(api, eid)
    assert "task" not in suggestion
    body = {"suggestion": suggestion["id"], "value": 1.0, "task": "cheap"}
    error(api.post(f"{url}/observations", json=body), 400, "Invalid task")
    batch = {"observations": [{"assignments": POINT, "value": 1.0, "task": "cheap"}]}
    error(api.post(f"{url}/observations/batch", json=batch), 400, "1/1", "Invalid task")
    assert ok(api.get(f"{url}/observations"))["data"] == []
    assert ok(api.get(f"{url}/queued_suggestions"))["data"] == []
    assert "tasks" not in ok(api.get(url))


TASKS = [{"name": "cheap", "cost": 0.1}, {"name": "full", "cost": 1}]


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"tasks": TASKS[:1]}, ("Invalid tasks", "2 to 10")),
        ({"tasks": [{"name": "cheap"}, TASKS[1]]}, ("Missing required field tasks[0].cost",)),
        ({"tasks": [{"cost": 0.1}, TASKS[1]]}, ("Missing required field tasks[0].name",)),
        ({"tasks": [{**TASKS[0], "cost": "0.1"}, TASKS[1]]}, ("Invalid tasks[0].cost",)),
        ({"tasks": [{**TASKS[0], "colour": 1}, TASKS[1]]}, ("Unknown field tasks[0].colour",)),
        ({"tasks": [0.1, 1]}, ("Invalid tasks[0]",)),
        ({"tasks": [{**TASKS[0], "cost": 0}, TASKS[1]]}, ("Invalid tasks[0] (cheap).cost",)),
        ({"tasks": [{**TASKS[0], "cost": -0.1}, TASKS[1]]}, ("Invalid tasks[0] (cheap).cost",)),
        ({"tasks": [TASKS[0], {**TASKS[1], "cost": 2}]}, ("Invalid tasks[1] (full).cost",)),
        ({"tasks": [TASKS[0], {**TASKS[0], "cost": 1}]}, ("Invalid tasks[1].name", "duplicate")),
        ({"tasks": [TASKS[0], {**TASKS[1], "cost": 0.1}]}, ("Invalid tasks[1] (full).cost",)),
        ({"tasks": [TASKS[0], {**TASKS[1], "cost": 0.9}]}, ("Invalid tasks", "cost 1")),
        ({"tasks": [{**TASKS[0], "name": ""}, TASKS[1]]}, ("Invalid tasks[0].name",)),
        (
            {"tasks": TASKS, "metrics": [{"name": "f"}, {"name": "g"}]},
            ("Invalid tasks", "exactly one metric"),
        ),
        (
            {
                "tasks": TASKS,
                "metrics": ["f", {"name": "g", "strategy": "constraint", "threshold": 0}],
            },
            ("Invalid tasks", "constraint"),
        ),
        ({"tasks": TASKS, "num_solutions": 2}, ("Invalid tasks", "num_solutions")),
        (
            {"tasks": TASKS, "observation_budget": None},
            ("Invalid observation_budget", "multitask"),
        ),
    ],
)
def test_multitask_definitions_follow_sigopts_rules(
    api: TestClient, changes: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    body = {"name": "m", "parameters": PARAMETERS, "observation_budget": 10, **changes}
    error(api.post("/v1/experiments", json=body), 400, *fragments)
    assert ok(api.get("/v1/experiments"))["data"] == []


def test_multitask_experiments_show_their_tasks_which_never_change(api: TestClient) -> None:
    # Given cheapest first, with the client's own "object"; rendered the target first.
    given = [{"object": "task", **TASKS[0]}, {"name": "half", "cost": 0.5}, TASKS[1]]
    experiment = create_experiment(api, tasks=given, observation_budget=10)
    check_experiment(experiment)
    expected = [
        {"object": "task", "name": "full", "cost": 1.0},
        {"object": "task", "name": "half", "cost": 0.5},
        {"object": "task", "name": "cheap", "cost": 0.1},
    ]
    assert experiment["tasks"] == expected
    eid = experiment["id"]
    assert ok(api.get(f"/v1/experiments/{eid}"))["tasks"] == expected
    assert [e["tasks"] for e in ok(api.get("/v1/experiments"))["data"]] == [expected]
    error(api.put(f"/v1/experiments/{eid}", json={"tasks": TASKS}), 400, "tasks")
    renamed = ok(api.put(f"/v1/experiments/{eid}", json={"name": "renamed"}))
    assert renamed["tasks"] == expected
    assert renamed["progress"]["observation_budget_consumed"] == 0.0


def test_constraints_that_cannot_hold_together_are_refused(api: TestClient) -> None:
    ints = [{"name": name, "type": "int", "bounds": {"min": 0, "max": 300}} for name in ("a", "b")]
    terms = [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}]
    above = {"type": "greater_than", "terms": terms, "threshold": 450}
    below = {"type": "less_than", "terms": terms, "threshold": 150}
    body = {"name": "c", "parameters": ints, "linear_constraints": [above, below]}
    error(api.post("/v1/experiments", json=body), 400, "linear_constraints", "all of them")
    assert ok(api.get("/v1/experiments"))["data"] == []
    # Only integers: 2a = 3 holds for a double, not for an int.
    odd = [{"name": "a", "weight": 2}]
    exact = [
        {"type": "greater_than", "terms": odd, "threshold": 3},
        {"type": "less_than", "terms": odd, "threshold": 3},
    ]
    refused = {"name": "c", "parameters": ints, "linear_constraints": exact}
    error(api.post("/v1/experiments", json=refused), 400, "linear_constraints")
    # Each can hold alone; together with room between them they are fine.
    below["threshold"] = 500
    created = ok(api.post("/v1/experiments", json=body))
    point = ok(api.post(f"/v1/experiments/{created['id']}/suggestions"))["assignments"]
    assert 450 <= point["a"] + point["b"] <= 500
