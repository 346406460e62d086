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
import scipy.stats
from playwright.sync_api import BrowserContext
from playwright.sync_api import expect

from honed.domain.analysis import Importance
from honed.domain.analysis import MetricAnalysis
from honed.domain.analysis import ModelAnalysis
from honed.domain.analysis import Slice
from honed.storage.sql.storage import SqlStorage
from tests.dashboard.browser import label_problems
from tests.dashboard.browser import readme_screenshot
from tests.dashboard.browser import sign_in
from tests.dashboard.browser import wait_loaded
from tests.dashboard.seed import RESNET
from tests.dashboard.seed import final_accuracy
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
    return experiment, wait_for_the_analysis(server, experiment, OBSERVATIONS)


def wait_for_the_analysis(server: RunningServer, experiment: str, count: int) -> dict[str, Any]:
    """The served model analysis, once the optimizer stored one of ``count`` observations."""
    deadline = time.monotonic() + 240
    model: dict[str, Any] = {}
    with httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=30) as http:
        while time.monotonic() < deadline:
            model = http.get(f"/dashboard/api/experiments/{experiment}/model").json()
            analysis = model["analysis"]
            if analysis is not None and analysis["observation_count"] == count:
                return model
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
    # Nothing lies between two categories: the band is a bar per category and the mean a
    # dash, not a line and an area running from one category to the next.
    types = (
        "(p) => honedCharts.scatter[p].getOption().series"
        ".filter(s => s.id.startsWith('model-')).map(s => s.type)"
    )
    assert page.evaluate(f"() => ({types})('kind')") == ["bar", "bar", "scatter"]
    assert page.evaluate(f"() => ({types})('x')") == ["line", "line", "line"]
    assert page.evaluate("() => honedCharts.scatter.lr.getOption().xAxis[0].type") == "log"
    assert page.locator("#slices-note").is_visible()
    watched.screenshot("model-views")
    assert watched.errors == []


RESNET_TRIALS = 32
DIVERGED = 0.1  # chance level on CIFAR-10's ten classes: a run whose loss became nan


def seed_resnet(server: RunningServer) -> tuple[str, list[float]]:
    """A ResNet-18 tuned on 32 quasi-random points (tests.dashboard.seed's response: the
    learning rate matters most); runs with a learning rate above 0.3 diverge to chance
    level, a bad tail the model clips. Returns the id and the values, in order."""
    unit = scipy.stats.qmc.Sobol(4, scramble=True, seed=7).random(RESNET_TRIALS)
    batch, values = [], []
    for i, (a, b, c, d) in enumerate(unit):
        learning_rate, weight_decay = float(10 ** (-4 + 4 * a)), float(10 ** (-6 + 4 * b))
        batch_size, optimizer = int(32 + round(224 * c)), ("sgd", "adam", "adamw")[int(3 * d)]
        value = (
            DIVERGED
            if learning_rate > 0.3
            else final_accuracy(learning_rate, weight_decay, batch_size, optimizer)
        )
        values.append(value)
        batch.append(
            {
                "assignments": {
                    "learning_rate": learning_rate,
                    "weight_decay": weight_decay,
                    "batch_size": batch_size,
                    "optimizer": optimizer,
                },
                "values": [{"name": "val_accuracy", "value": value}],
                "metadata": {"hostname": f"gpu-{1 + i % 4}"},
            }
        )
    with httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=30) as http:
        body = {**RESNET, "observation_budget": 60}
        experiment = http.post("/v1/experiments", json=body).json()["id"]
        response = http.post(
            f"/v1/experiments/{experiment}/observations/batch", json={"observations": batch}
        )
        assert response.status_code == 200, response.text
    return experiment, values


def test_the_model_views_of_a_real_experiment_say_where_the_model_clips(
    context: BrowserContext, model_server: RunningServer
) -> None:
    """Diverged runs are far below the rest: the model clips them at Tukey's fence, so its
    band stays at the fence there. The analysis says at what value and for how many, the
    slices draw that line, and the note says why the band is not at those points."""
    experiment, values = seed_resnet(model_server)
    model = wait_for_the_analysis(model_server, experiment, RESNET_TRIALS)
    (analysis,) = model["analysis"]["metrics"]
    diverged = values.count(DIVERGED)
    assert diverged >= 2
    assert analysis["clipped"] == diverged
    assert DIVERGED < analysis["clipped_at"] < min(v for v in values if v != DIVERGED)
    shares = {i["parameter"]: i["share"] for i in analysis["importance"]}
    assert max(shares, key=shares.__getitem__) == "learning_rate", shares

    watched = sign_in(context, model_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    page.wait_for_function(
        "() => honedCharts.scatter.learning_rate && honedCharts.scatter.learning_rate"
        ".getOption().series.find(s => s.id === 'model-mean').data.length > 0"
    )
    note = page.locator("#slices-note")
    expect(note).to_contain_text(
        f"The model sees the {diverged} worst values of val_accuracy as "
        f"{analysis['clipped_at']:.6g} (dotted line"
    )
    for parameter in ("learning_rate", "weight_decay", "batch_size", "optimizer"):
        marked = page.evaluate(
            f"() => honedCharts.scatter[{parameter!r}].getOption().series"
            ".find(s => s.id === 'model-mean').markLine.data.map(d => d.yAxis)"
        )
        assert marked == [analysis["clipped_at"]], parameter
    assert label_problems(watched) == []
    page.evaluate(
        "() => { document.querySelector('.model-grid').scrollIntoView();"
        " window.scrollBy(0, -14); }"
    )
    watched.screenshot("model-views-resnet")
    readme_screenshot(watched, "dashboard-model.png", through=".model-grid")
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


def test_the_slices_say_where_the_models_band_is_cut(
    context: BrowserContext, model_server: RunningServer
) -> None:
    """Throughput that grows exponentially with the load, observed at low loads only: the
    model sees it warped, and the warp's inverse is clipped to a span of the observed values,
    so past the observations the band's top runs flat at that limit. The analysis says at
    what value, and the slices' note says that the band is cut there and why."""
    loads = [0.46 * i / 11 for i in range(12)]
    values = [math.exp(12 * load) for load in loads]
    with httpx.Client(
        base_url=model_server.url, auth=(model_server.token, ""), timeout=30
    ) as http:
        experiment = http.post(
            "/v1/experiments",
            json={
                "name": "Throughput",
                "parameters": [{"name": "load", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "throughput", "objective": "maximize"}],
            },
        ).json()["id"]
        batch = [
            {"assignments": {"load": load}, "values": [{"name": "throughput", "value": value}]}
            for load, value in zip(loads, values, strict=True)
        ]
        response = http.post(
            f"/v1/experiments/{experiment}/observations/batch", json={"observations": batch}
        )
        assert response.status_code == 200, response.text
    model = wait_for_the_analysis(model_server, experiment, len(loads))
    (analysis,) = model["analysis"]["metrics"]
    width = max(values) - min(values)
    low, high = analysis["band_limits"]
    assert (low, high) == pytest.approx((min(values) - width, max(values) + width))
    assert analysis["band_cut_at"] == [high]
    (band,) = analysis["slices"]
    assert max(band["upper"]) == high

    watched = sign_in(context, model_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    page.wait_for_function(
        "() => honedCharts.scatter.load && honedCharts.scatter.load"
        ".getOption().series.find(s => s.id === 'model-mean').data.length > 0"
    )
    expect(page.locator("#slices-note")).to_contain_text(
        f"The model's band is cut at {high:.6g} (dashed line; it runs flat there): the model "
        "fits throughput on a transformed scale and shows its predictions only from "
        f"{low:.6g} to {high:.6g} (the range of the values it was fitted on, widened by its "
        "own width either side); beyond, they are not shown."
    )
    marked = page.evaluate(
        "() => honedCharts.scatter.load.getOption().series"
        ".find(s => s.id === 'model-mean').markLine.data.map(d => [d.yAxis, d.lineStyle.type])"
    )
    assert marked == [[high, "dashed"]]
    assert label_problems(watched) == []
    page.evaluate(
        "() => { document.querySelector('.model-grid').scrollIntoView();"
        " window.scrollBy(0, -14); }"
    )
    watched.screenshot("model-views-cut")
    assert watched.errors == []


def test_the_slices_name_a_cut_only_where_the_band_reached_it(
    context: BrowserContext, dashboard_server: RunningServer, dashboard_database: str
) -> None:
    """A warped model's band has limits whether or not it reaches them: the note speaks of
    a cut only when a band reached one, and names both when both were."""
    with httpx.Client(
        base_url=dashboard_server.url, auth=(dashboard_server.token, ""), timeout=30
    ) as http:
        experiment = http.post(
            "/v1/experiments",
            json={
                "name": "Band limits",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "loss", "objective": "minimize"}],
            },
        ).json()["id"]
        for x, value in ((0.2, 1.0), (0.5, 2.0), (0.8, 4.0)):
            http.post(
                f"/v1/experiments/{experiment}/observations",
                json={"assignments": {"x": x}, "value": value},
            ).raise_for_status()
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    note = watched.page.locator("#slices-note")
    # What the optimizer process stores (this server runs none).
    for cut_at, expected in (
        ((), None),
        ((-2.0, 7.0), "The model's band is cut at -2 and 7 (dashed line; it runs flat there)"),
    ):
        band = Slice("x", (0.0, 0.5, 1.0), (1.5, 2.0, 5.0), (-2.0, 1.5, 3.0), (2.0, 2.5, 7.0))
        metric = MetricAnalysis(
            "loss",
            (Importance("x", 1.0, 1.0, 1.0),),
            1.0,
            {"x": 0.2},
            (band,),
            band_limits=(-2.0, 7.0),
            band_cut_at=cut_at,
        )
        storage = SqlStorage.from_url(dashboard_database)
        try:
            storage.store_model_analysis(
                int(experiment), ModelAnalysis(3, time.time(), 0.5, 64, (metric,))
            )
        finally:
            storage.close()
        watched.page.reload()
        wait_loaded(watched)
        expect(note).to_contain_text("Model band: the prediction")
        marked = (
            "() => honedCharts.scatter.x.getOption().series"
            ".find(s => s.id === 'model-mean').markLine.data.map(d => d.yAxis)"
        )
        if expected is None:
            assert "cut" not in note.inner_text()
            assert watched.page.evaluate(marked) == []
        else:
            expect(note).to_contain_text(expected)
            expect(note).to_contain_text("shows its predictions only from -2 to 7 (the range")
            assert watched.page.evaluate(marked) == [-2.0, 7.0]
    assert watched.errors == []
