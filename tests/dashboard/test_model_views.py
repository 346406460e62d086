"""The views of honed's model in Chromium, against a real ``honed serve`` with one optimizer
process: the importance chart's bars are the analysis the API serves, and the slices draw
the model's prediction and band from it."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext

from tests.dashboard.browser import sign_in
from tests.dashboard.browser import wait_loaded
from tests.support.server import RunningServer
from tests.support.server import running_server

OBSERVATIONS = 14


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    database = tmp_path_factory.mktemp("model-views") / "honed.db"
    with running_server(f"sqlite:///{database}", optimizers=1) as server:
        yield server


def seed_and_wait_for_the_analysis(server: RunningServer) -> tuple[str, dict[str, Any]]:
    """An experiment whose metric depends on x alone; returns its id and the served model
    analysis once the optimizer stored one of all its observations."""
    with httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=30) as http:
        experiment = http.post(
            "/v1/experiments",
            json={
                "name": "Model views",
                "parameters": [
                    {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
                    {
                        "name": "lr",
                        "type": "double",
                        "bounds": {"min": 1e-4, "max": 1},
                        "transformation": "log",
                    },
                    {"name": "kind", "type": "categorical", "categorical_values": ["a", "b"]},
                ],
                "metrics": [{"name": "score", "objective": "maximize"}],
            },
        ).json()["id"]
        batch = []
        for i in range(OBSERVATIONS):
            x = (i * 0.618) % 1
            batch.append(
                {
                    "assignments": {
                        "x": x,
                        "lr": 10 ** (-4 * ((i * 0.382) % 1)),
                        "kind": "ab"[i % 2],
                    },
                    "values": [{"name": "score", "value": math.sin(6 * x) + x}],
                }
            )
        response = http.post(
            f"/v1/experiments/{experiment}/observations/batch", json={"observations": batch}
        )
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            model: dict[str, Any] = http.get(
                f"/dashboard/api/experiments/{experiment}/model"
            ).json()
            analysis = model["analysis"]
            if analysis is not None and analysis["observation_count"] == OBSERVATIONS:
                return experiment, model
            time.sleep(0.5)
    raise AssertionError(f"no model analysis within 240 s: {model}\n{server.log()}")


def test_importance_bars_and_slice_bands_are_the_served_analysis(
    context: BrowserContext, model_server: RunningServer
) -> None:
    experiment, model = seed_and_wait_for_the_analysis(model_server)
    assert model["status"] == "ready"
    (analysis,) = model["analysis"]["metrics"]
    shares = {i["parameter"]: i["share"] for i in analysis["importance"]}
    assert shares["x"] > 0.8, shares

    watched = sign_in(context, model_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    page.wait_for_function(
        "() => window.honedCharts.importance && "
        "honedCharts.importance.getOption().series[0].data.length > 0"
    )
    bars = page.evaluate(
        "() => honedCharts.importance.getOption().series[0].data.map(d => [d.name, d.value])"
    )
    assert dict(bars) == shares
    assert [name for name, _ in bars] == sorted(shares, key=shares.__getitem__)
    note = page.locator("#importance-note").inner_text()
    assert "first-order Sobol indices of the Gaussian process's posterior mean" in note

    for parameter in ("x", "lr", "kind"):
        band = next(s for s in analysis["slices"] if s["parameter"] == parameter)
        series = page.evaluate(
            f"() => Object.fromEntries(honedCharts.scatter[{parameter!r}].getOption().series"
            ".map(s => [s.id, s.data.map(d => d.value ?? d)]))"
        )
        assert series["model-mean"] == [
            [x, y] for x, y in zip(band["values"], band["mean"], strict=True)
        ]
        assert series["model-lower"] == [
            [x, y] for x, y in zip(band["values"], band["lower"], strict=True)
        ]
        widths = [w for _, w in series["model-band"]]
        assert widths == pytest.approx(
            [u - lo for u, lo in zip(band["upper"], band["lower"], strict=True)]
        )
        assert all(w >= 0 for w in widths)
        assert any(w > 0 for w in widths)
    assert page.evaluate("() => honedCharts.scatter.lr.getOption().xAxis[0].type") == "log"
    assert page.locator("#slices-note").is_visible()
    watched.screenshot("model-views")
    assert watched.errors == []


def test_the_page_says_when_the_model_is_not_ready(
    context: BrowserContext, model_server: RunningServer
) -> None:
    with httpx.Client(
        base_url=model_server.url, auth=(model_server.token, ""), timeout=30
    ) as http:
        experiment = http.post(
            "/v1/experiments",
            json={
                "name": "Too early",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "score", "objective": "maximize"}],
            },
        ).json()["id"]
        http.post(
            f"/v1/experiments/{experiment}/observations",
            json={"assignments": {"x": 0.5}, "values": [{"name": "score", "value": 1.0}]},
        ).raise_for_status()
    watched = sign_in(context, model_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    empty = watched.page.locator("#importance-panel .chart-empty")
    assert "Model not ready" in empty.inner_text()
    assert watched.page.locator("#chart-importance").is_hidden()
    assert watched.errors == []
