"""Strings and numbers that decode as JSON but cannot be stored or read back: lone UTF-16
surrogates (``\\ud800``) and numbers beyond double range (``1e999``). Refused with a 400 at
parse time, in any field, on both databases; the tenant's records all still read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.app import app_on
from tests.test_api import error
from tests.test_api import ok

TOKEN = "hostile-token"
X = '{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}'
SURROGATE = "\\ud800"


def _experiment(name: str = '"e"', metadata: str = "{}", parameter: str = X) -> str:
    return (
        f'{{"name": {name}, "metadata": {metadata}, "parameters": [{parameter}], '
        '"metrics": [{"name": "m"}]}'
    )


CATEGORICAL = (
    '{"name": "c", "type": "categorical", '
    f'"categorical_values": [{{"name": "a"}}, {{"name": "b{SURROGATE}"}}]}}'
)
PRIOR = (
    '{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}, '
    '"prior": {"name": "normal", "mean": 0.5, "scale": %s}}'
)
EXPERIMENT_BODIES = {
    "experiment name": _experiment(name=f'"e{SURROGATE}"'),
    "metadata value": _experiment(metadata=f'{{"k": "{SURROGATE}"}}'),
    "metadata key": _experiment(metadata=f'{{"{SURROGATE}": "v"}}'),
    "parameter name": _experiment(parameter=X.replace('"x"', f'"x{SURROGATE}"')),
    "categorical value": _experiment(parameter=CATEGORICAL),
    "metric name": _experiment().replace('"m"', f'"m{SURROGATE}"'),
    "prior scale": _experiment(parameter=PRIOR % "1e999"),
    "prior extra key": _experiment(parameter=PRIOR % '0.1, "shape_a": -1e999'),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with app_on(request.getfixturevalue(f"{request.param}_url"), TOKEN) as (client, _):
        yield client


def _refused(api: TestClient, path: str, body: str) -> None:
    response = api.post(path, content=body, headers={"Content-Type": "application/json"})
    error(response, 400, "Malformed json")
    message = response.json()["message"]
    assert "surrogate" in message or "out of range" in message


def test_every_field_refuses_them_and_nothing_is_poisoned(api: TestClient) -> None:
    eid = ok(api.post("/v1/experiments", content=_experiment(), headers=JSON_HEADERS))["id"]
    suggestion = ok(api.post(f"/v1/experiments/{eid}/suggestions"))
    for body in EXPERIMENT_BODIES.values():
        _refused(api, "/v1/experiments", body)
    records = f"/v1/experiments/{eid}"
    _refused(api, f"{records}/suggestions", f'{{"metadata": {{"k": "{SURROGATE}"}}}}')
    _refused(
        api,
        f"{records}/observations",
        f'{{"suggestion": "{suggestion["id"]}", "value": 1, "metadata": {{"h": "{SURROGATE}"}}}}',
    )
    _refused(
        api, f"{records}/observations", f'{{"suggestion": "{suggestion["id"]}", "value": 1e999}}'
    )
    _refused(api, "/v1/clients/1/projects", f'{{"id": "p", "name": "p{SURROGATE}"}}')
    # Nothing was stored, and every read of the tenant still answers.
    listed = ok(api.get("/v1/experiments"))
    assert [e["id"] for e in listed["data"]] == [eid]
    ok(api.get(records))
    assert ok(api.get(f"{records}/observations"))["data"] == []
    assert [s["id"] for s in ok(api.get(f"{records}/suggestions"))["data"]] == [suggestion["id"]]
    ok(api.get(f"{records}/best_assignments"))
    ok(api.get("/v1/clients/1/projects"))


def test_a_valid_surrogate_pair_is_an_ordinary_character(api: TestClient) -> None:
    body = _experiment(name='"e\\ud83d\\ude00"')
    created = ok(api.post("/v1/experiments", content=body, headers=JSON_HEADERS))
    assert created["name"] == "e\U0001f600"
    assert ok(api.get(f"/v1/experiments/{created['id']}"))["name"] == "e\U0001f600"


JSON_HEADERS = {"Content-Type": "application/json"}
