"""Stale suggestions: with ``suggestion_ttl_seconds`` an open suggestion whose worker sends no
news expires (deleted, its point free again); updating the suggestion extends its lease; a
late report is still stored. Off by default, as in SigOpt."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.scale.helpers import EXPERIMENT
from tests.scale.helpers import new_experiment
from tests.scale.helpers import ok

TTL = 3.0


def open_ids(api: TestClient, base: str) -> set[str]:
    page = ok(api.get(f"{base}/suggestions", params={"state": "open"}))
    return {s["id"] for s in page["data"]}


def test_open_suggestions_expire_unless_their_worker_updates_them(api: TestClient) -> None:
    eid = new_experiment(api, suggestion_ttl_seconds=TTL)
    base = f"/v1/experiments/{eid}"
    assert ok(api.get(base))["suggestion_ttl_seconds"] == TTL
    started = time.time()
    kept, dropped = (ok(api.post(f"{base}/suggestions")) for _ in range(2))
    assert started + TTL - 1 <= kept["lease_until"] <= time.time() + TTL + 1
    # The kept one's worker reports every second (PUT as the sigopt client's update, or
    # POST); the other's worker is silent.
    for turn in range(4):
        time.sleep(1.0)
        method = api.put if turn % 2 else api.post
        updated = ok(method(f"{base}/suggestions/{kept['id']}", json={}))
        assert updated["lease_until"] >= kept["lease_until"]
        assert not updated["deleted"]
    assert time.time() - started > TTL
    assert open_ids(api, base) == {kept["id"]}
    expired = ok(api.get(f"{base}/suggestions/{dropped['id']}"))
    assert (expired["deleted"], expired["state"]) == (True, "open")
    # The expired suggestion's late report is data all the same; updates do not revive it.
    assert ok(api.put(f"{base}/suggestions/{dropped['id']}", json={}))["deleted"]
    late = ok(api.post(f"{base}/observations", json={"suggestion": dropped["id"], "value": 1}))
    assert late["suggestion"] == dropped["id"]
    ok(api.post(f"{base}/observations", json={"suggestion": kept["id"], "value": 2}))
    assert open_ids(api, base) == set()
    # Metadata updates still work, and also extend the lease.
    third = ok(api.post(f"{base}/suggestions"))
    tagged = ok(api.put(f"{base}/suggestions/{third['id']}", json={"metadata": {"w": "a"}}))
    assert tagged["metadata"] == {"w": "a"}
    # Turned off: no lease on new suggestions.
    assert (
        ok(api.put(base, json={"suggestion_ttl_seconds": None}))["suggestion_ttl_seconds"] is None
    )
    assert ok(api.post(f"{base}/suggestions"))["lease_until"] is None


def test_no_expiry_by_default_and_bad_ttls_are_refused(api: TestClient) -> None:
    eid = new_experiment(api)
    base = f"/v1/experiments/{eid}"
    assert ok(api.get(base))["suggestion_ttl_seconds"] is None
    assert ok(api.post(f"{base}/suggestions"))["lease_until"] is None
    for bad in (0, -1, "60", 1e9):
        response = api.post("/v1/experiments", json={**EXPERIMENT, "suggestion_ttl_seconds": bad})
        assert response.status_code == 400, bad
        assert "suggestion_ttl_seconds" in response.json()["message"]
    response = api.put(base, json={"suggestion_ttl_seconds": -5})
    assert response.status_code == 400
    assert "suggestion_ttl_seconds" in response.json()["message"]
