"""Small helpers of the scale-out, reliability and security tests."""

from __future__ import annotations

from typing import Any

import httpx

EXPERIMENT: dict[str, Any] = {
    "name": "scale",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
        {"name": "n", "type": "int", "bounds": {"min": 1, "max": 100}},
    ],
    "metrics": [{"name": "f", "objective": "maximize"}],
}


def ok(response: httpx.Response) -> Any:
    """The JSON of a 200 response; anything else fails with the body in the message."""
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def new_experiment(client: httpx.Client, **extra: Any) -> str:
    experiment_id: str = ok(client.post("/v1/experiments", json={**EXPERIMENT, **extra}))["id"]
    return experiment_id


def all_items(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list, paging with ``before``."""
    items: list[dict[str, Any]] = []
    before: str | None = None
    while True:
        query = {"limit": 1000, **params}
        if before is not None:
            query["before"] = before
        page = ok(client.get(path, params=query))
        items.extend(page["data"])
        before = page["paging"]["before"]
        if before is None or not page["data"]:
            return items
