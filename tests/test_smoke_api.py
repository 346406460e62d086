"""A first end-to-end pass through the in-process app."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_create_suggest_observe_best(api: TestClient) -> None:
    experiment = api.post(
        "/v1/experiments",
        json={
            "name": "Classifier Accuracy",
            "parameters": [
                {"name": "gamma", "type": "double", "bounds": {"min": 0.001, "max": 1}}
            ],
        },
    ).json()
    eid = experiment["id"]
    suggestion = api.post(f"/v1/experiments/{eid}/suggestions").json()
    assert suggestion["state"] == "open"
    observed = api.post(
        f"/v1/experiments/{eid}/observations",
        json={"suggestion": suggestion["id"], "value": 0.5, "metadata": {"hostname": "a"}},
    )
    assert observed.status_code == 200, observed.text
    assert api.get(f"/v1/experiments/{eid}/suggestions/{suggestion['id']}").json()["state"] == (
        "closed"
    )
    best = api.get(f"/v1/experiments/{eid}/best_assignments").json()
    assert best["data"][0]["assignments"] == suggestion["assignments"]
