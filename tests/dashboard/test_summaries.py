"""The dashboard's JSON and use cases in-process: best-so-far, workers, access rules."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.tenancy import Token
from honed.server.dashboard.built import BuiltPage
from honed.server.dashboard.built import PageCache
from honed.service.summaries import NO_HOSTNAME
from honed.service.summaries import SILENT_MIN_SECONDS
from honed.service.summaries import ExperimentDetail
from honed.service.summaries import SummaryService
from honed.service.summaries import best_so_far
from honed.service.summaries import workers
from honed.storage.sql.storage import SqlStorage

SPACE = SearchSpace((Parameter("x", ParameterType.DOUBLE, bounds=(0.0, 1.0)),))


def observation(i: int, value: float | None, host: str | None = None, at: int = 0) -> Observation:
    return Observation(
        id=i,
        experiment_id=1,
        suggestion_id=None,
        assignments={"x": 0.5},
        values=() if value is None else (MetricValue("f", value),),
        failed=value is None,
        metadata={"hostname": host} if host else None,
        created=at,
    )


def test_best_so_far_skips_failed_and_infeasible() -> None:
    metric = Metric("f", Objective.MINIMIZE, threshold=5.0)
    spec = ExperimentSpec("e", SPACE, (metric,))
    experiment = Experiment(1, 1, spec, ExperimentState.ACTIVE, 0, 0)
    values = [None, 7.0, 4.0, None, 4.5, 1.0, 6.0]
    trace = best_so_far(experiment, metric, [observation(i, v) for i, v in enumerate(values)])
    assert trace == (None, None, 4.0, 4.0, 4.0, 1.0, 1.0)


def test_workers_counts_failures_and_flags_silence() -> None:
    now = 100_000
    items = [
        observation(1, 1.0, "a", now - 3000),
        observation(2, None, "a", now - 2900),
        observation(3, 1.0, "a", now - 2800),  # usual gap 100 s, quiet for 2800 s: silent
        observation(4, 1.0, "b", now - 10),
        observation(5, None, None, now - 5),
    ]
    by_host = {w.hostname: w for w in workers(items, now)}
    assert [w.hostname for w in workers(items, now)] == [NO_HOSTNAME, "b", "a"]
    assert (by_host["a"].observations, by_host["a"].failures, by_host["a"].silent) == (3, 1, True)
    assert (by_host["b"].observations, by_host["b"].failures, by_host["b"].silent) == (1, 0, False)
    assert by_host[NO_HOSTNAME].failures == 1


def test_no_worker_is_silent_once_the_experiment_is_done(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An hour after its last report a worker is silent while the experiment still waits
    for results, and not once its budget is spent with nothing out."""

    def experiment_with(budget: int, observed: int) -> str:
        body = {
            "name": "e",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "f"}],
            "observation_budget": budget,
        }
        experiment_id: str = api.post("/v1/experiments", json=body).json()["id"]
        for i in range(observed):
            api.post(
                f"/v1/experiments/{experiment_id}/observations",
                json={
                    "assignments": {"x": i / 4},
                    "values": [{"name": "f", "value": i}],
                    "metadata": {"hostname": "gpu-1"},
                },
            ).raise_for_status()
        return experiment_id

    done, waiting = experiment_with(budget=2, observed=2), experiment_with(budget=3, observed=2)
    out = api.post(f"/v1/experiments/{done}/suggestions").json()["id"]  # one still out
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)  # the clock summaries reads

    def silent(experiment_id: str) -> bool:
        (worker,) = api.get(f"/dashboard/api/experiments/{experiment_id}").json()["workers"]
        value: bool = worker["silent"]
        return value

    assert silent(waiting) is True
    assert silent(done) is True  # its budget is spent, but a suggestion is out
    api.delete(f"/v1/experiments/{done}/suggestions/{out}").raise_for_status()
    assert silent(done) is False


def _experiment(api: TestClient) -> str:
    response = api.post(
        "/v1/experiments",
        json={
            "name": "e",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "f"}],
        },
    )
    assert response.status_code == 200, response.text
    experiment_id: str = response.json()["id"]
    return experiment_id


def test_detail_json_and_share_rules(api: TestClient) -> None:
    experiment_id = _experiment(api)
    api.post(
        f"/v1/experiments/{experiment_id}/observations",
        json={
            "assignments": {"x": 0.1},
            "values": [{"name": "f", "value": 2.0}],
            "metadata": {"hostname": "h1"},
        },
    )
    api.post(f"/v1/experiments/{experiment_id}/suggestions")
    detail = api.get(f"/dashboard/api/experiments/{experiment_id}").json()
    assert detail["best_so_far"] == [{"metric": "f", "values": [2.0]}]
    assert [w["hostname"] for w in detail["workers"]] == ["h1"]
    assert len(detail["open_suggestions"]) == 1
    assert detail["experiment"]["parameters"][0]["bounds"] == [0.0, 1.0]

    listed = api.get("/dashboard/api/experiments").json()["experiments"]
    assert [(e["id"], e["observation_count"], e["best_value"]) for e in listed] == [
        (experiment_id, 1, 2.0)
    ]
    assert api.get("/dashboard/api/experiments?state=gone").status_code == 400
    assert api.get("/dashboard/api/experiments/999").status_code == 404

    shared = api.post(f"/dashboard/api/share?experiment={experiment_id}").json()
    assert shared["permissions"] == "read"
    reader = (shared["token"], "")
    assert api.get(f"/dashboard/api/experiments/{experiment_id}", auth=reader).status_code == 200
    assert api.post("/dashboard/api/share", auth=reader).status_code == 403
    assert api.post(f"/v1/experiments/{experiment_id}/suggestions", auth=reader).status_code == 403
    assert api.post("/dashboard/api/share?experiment=999").status_code == 404


def test_pages_are_served_with_a_strict_policy(api: TestClient) -> None:
    for path in ("/dashboard/", "/dashboard/login", "/dashboard/experiments/1"):
        response = api.get(path, auth=None)
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
    # An id that is no id: still a 404, but the page (which says so), not JSON in a tab.
    not_an_id = api.get("/dashboard/experiments/abc")
    assert not_an_id.status_code == 404
    assert not_an_id.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in not_an_id.headers["content-security-policy"]
    assert api.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/"
    script = api.get("/dashboard/static/vendor/echarts/echarts.min.js")
    assert script.status_code == 200
    assert script.headers["cache-control"] == "no-cache"
    again = api.get(
        "/dashboard/static/vendor/echarts/echarts.min.js",
        headers={"If-None-Match": script.headers["etag"]},
    )
    assert again.status_code == 304
    assert "Apache" in api.get("/dashboard/static/vendor/echarts/LICENSE").text


def _page(api: TestClient, experiment_id: str, etag: str | None = None) -> httpx.Response:
    headers = {"If-None-Match": etag} if etag is not None else {}
    response: httpx.Response = api.get(
        f"/dashboard/api/experiments/{experiment_id}", headers=headers
    )
    return response


def test_an_unchanged_page_is_a_304_without_building_it(
    api: TestClient, storage: SqlStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that polls an unchanged experiment costs a few index reads, not the whole
    build (at 30,000 observations that was seconds of a server core per poll)."""
    experiment_id = _experiment(api)
    api.post(
        f"/v1/experiments/{experiment_id}/observations",
        json={"assignments": {"x": 0.1}, "values": [{"name": "f", "value": 2.0}]},
    ).raise_for_status()
    first = _page(api, experiment_id)
    etag = first.headers["ETag"]
    assert etag == f'"{first.json()["version"]}"'
    built: list[int] = []
    detail = SummaryService.detail

    def counted(self: SummaryService, caller: Token, eid: int) -> ExperimentDetail:
        built.append(eid)
        return detail(self, caller, eid)

    def unread(*args: object) -> None:
        raise AssertionError("an unchanged page read the experiment's records")

    monkeypatch.setattr(SummaryService, "detail", counted)
    monkeypatch.setattr(storage, "all_observations", unread)
    monkeypatch.setattr(storage, "open_suggestions", unread)
    monkeypatch.setattr(storage, "list_suggestions", unread)
    for _ in range(3):
        unchanged = _page(api, experiment_id, etag)
        assert (unchanged.status_code, unchanged.headers["ETag"]) == (304, etag)
    assert built == []
    # The caller is checked first: a version answers nothing about another's experiment.
    assert _page(api, "999", etag).status_code == 404


def test_every_write_of_the_experiment_changes_the_page(api: TestClient) -> None:
    experiment_id = _experiment(api)
    base = f"/v1/experiments/{experiment_id}"
    etags: list[str] = []

    def changed(what: str) -> dict[str, Any]:
        previous = etags[-1] if etags else None
        response = _page(api, experiment_id, previous)
        assert response.status_code == 200, what
        etag = response.headers["ETag"]
        assert etag not in etags, what
        assert _page(api, experiment_id, etag).status_code == 304, what
        etags.append(etag)
        data: dict[str, Any] = response.json()
        return data

    changed("first load")
    observed = api.post(
        f"{base}/observations",
        json={"assignments": {"x": 0.1}, "values": [{"name": "f", "value": 2.0}]},
    ).json()["id"]
    assert len(changed("an observation")["observations"]) == 1
    suggestion = api.post(f"{base}/suggestions").json()["id"]
    assert len(changed("a suggestion")["open_suggestions"]) == 1
    api.put(
        f"{base}/suggestions/{suggestion}", json={"metadata": {"hostname": "gpu-2"}}
    ).raise_for_status()
    assert changed("suggestion metadata")["open_suggestions"][0]["hostname"] == "gpu-2"
    api.put(
        f"{base}/observations/{observed}", json={"metadata": {"hostname": "gpu-1"}}
    ).raise_for_status()
    assert changed("observation metadata")["observations"][0]["hostname"] == "gpu-1"
    api.post(
        f"{base}/observations", json={"suggestion": suggestion, "values": [{"value": 3.0}]}
    ).raise_for_status()
    data = changed("the suggestion observed")
    assert (len(data["observations"]), data["open_suggestions"]) == (2, [])
    api.delete(f"{base}/observations/{observed}").raise_for_status()
    assert len(changed("an observation deleted")["observations"]) == 1
    api.post(f"{base}/suggestions").raise_for_status()
    changed("another suggestion")
    api.delete(f"{base}/suggestions").raise_for_status()
    assert changed("open suggestions deleted")["open_suggestions"] == []
    api.put(base, json={"name": "renamed"}).raise_for_status()
    assert changed("experiment renamed")["experiment"]["name"] == "renamed"
    api.put(base, json={"metadata": {"owner": "me"}}).raise_for_status()
    assert changed("experiment metadata")["experiment"]["metadata"] == {"owner": "me"}
    api.put(base, json={"observation_budget": 40}).raise_for_status()
    assert changed("budget")["experiment"]["budget"] == 40


def test_a_worker_falling_silent_changes_an_unwritten_page(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock alone changes one thing the page shows: a worker becomes silent. A page
    version says until when it holds, so that poll is answered in full."""
    experiment_id = _experiment(api)
    api.post(
        f"/v1/experiments/{experiment_id}/observations",
        json={
            "assignments": {"x": 0.1},
            "values": [{"name": "f", "value": 2.0}],
            "metadata": {"hostname": "gpu-1"},
        },
    ).raise_for_status()
    first = _page(api, experiment_id)
    (worker,) = first.json()["workers"]
    assert worker["silent"] is False
    etag = first.headers["ETag"]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + SILENT_MIN_SECONDS - 5)
    assert _page(api, experiment_id, etag).status_code == 304
    monkeypatch.setattr(time, "time", lambda: real() + SILENT_MIN_SECONDS + 5)
    later = _page(api, experiment_id, etag)
    assert later.status_code == 200
    (worker,) = later.json()["workers"]
    assert worker["silent"] is True
    # Nothing else can change now without a write.
    assert later.headers["ETag"].endswith('.0"')
    monkeypatch.setattr(time, "time", lambda: real() + 100 * SILENT_MIN_SECONDS)
    assert _page(api, experiment_id, later.headers["ETag"]).status_code == 304


def test_a_changed_page_is_built_once_for_every_tab(
    api: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second tab's first load (or a reload) takes the page the first tab's poll built,
    with the clock's fields as of its own request; a write makes the next load build."""
    experiment_id = _experiment(api)
    base = f"/v1/experiments/{experiment_id}"
    api.post(
        f"{base}/observations",
        json={"assignments": {"x": 0.1}, "values": [{"name": "f", "value": 2.0}]},
    ).raise_for_status()
    api.post(f"{base}/suggestions").raise_for_status()
    built: list[int] = []
    detail = SummaryService.detail

    def counted(self: SummaryService, caller: Token, eid: int) -> ExperimentDetail:
        built.append(eid)
        return detail(self, caller, eid)

    monkeypatch.setattr(SummaryService, "detail", counted)
    first = _page(api, experiment_id)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 60)
    second = _page(api, experiment_id)
    assert len(built) == 1
    assert second.headers["ETag"] == first.headers["ETag"]
    one, two = first.json(), second.json()
    assert two["now"] - one["now"] in (60, 61)
    assert two["open_suggestions"][0]["age"] - one["open_suggestions"][0]["age"] in (60, 61)
    for data in (one, two):
        del data["now"], data["open_suggestions"][0]["age"]
    assert one == two
    api.post(f"{base}/suggestions").raise_for_status()
    assert len(_page(api, experiment_id).json()["open_suggestions"]) == 2
    assert len(built) == 2


def test_the_page_cache_is_bounded_and_keeps_one_page_per_experiment() -> None:
    def page(experiment_id: int, records: str, size: int, until: int | None = None) -> BuiltPage:
        rest = b"{" + b" " * (size - 2) + b"}"
        return BuiltPage(experiment_id, records, f"{records}.0", until, rest, ())

    cache = PageCache(pages=3, size=100)
    for i in range(4):
        cache.put(page(i, "a", 10))
    assert cache.get(0, "a", 0) is None  # the least recently used went first
    assert [cache.get(i, "a", 0) is not None for i in (1, 2, 3)] == [True] * 3
    cache.put(page(1, "b", 10))  # a newer version of 1 replaces its page
    assert cache.get(1, "a", 0) is None
    assert cache.get(1, "b", 0) is not None
    cache.put(page(4, "a", 80))  # four pages: the least recent (2) goes; 3, 1, 4 fill 100
    assert [cache.get(i, "a", 0) is not None for i in (2, 3, 4)] == [False, True, True]
    assert cache.get(1, "b", 0) is not None
    cache.put(page(7, "a", 20))  # 120 bytes: the least recent two (3, then 4) go
    assert [cache.get(i, "a", 0) is not None for i in (3, 4, 7)] == [False, False, True]
    assert cache.get(1, "b", 0) is not None
    cache.put(page(5, "a", 101))  # larger than the whole cache: not kept
    assert cache.get(5, "a", 0) is None
    cache.put(page(6, "a", 10, until=1_000))  # a worker falls silent at 1,000
    assert cache.get(6, "a", 999) is not None
    assert cache.get(6, "a", 1_000) is None
