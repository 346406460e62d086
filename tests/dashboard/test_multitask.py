"""A multitask experiment in Chromium: the header counts the budget used in task costs,
the definition lists the tasks and their costs, the table and its CSV have a task column,
and only an observation of the cost-1 task is highlighted as best; the model's panels say
that their analysis is of the target task, and wait for its first result. A plain
experiment's table has no task column, and its slices name no task."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext
from playwright.sync_api import expect

from honed.domain.analysis import Importance
from honed.domain.analysis import MetricAnalysis
from honed.domain.analysis import ModelAnalysis
from honed.domain.analysis import Slice
from honed.domain.trials import STATUS_KEY
from honed.storage.sql.storage import SqlStorage
from tests.dashboard.browser import label_problems
from tests.dashboard.browser import legend_texts
from tests.dashboard.browser import sign_in
from tests.dashboard.browser import wait_loaded
from tests.support.server import RunningServer

PARAMETERS = [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}]
# The best value is the cheap task's: never the best, the full task's 0.7 is.
REPORTS = [(0.1, "cheap", 0.9), (0.2, "full", 0.7), (0.3, "cheap", 0.8), (0.4, "full", 0.5)]


def post(server: RunningServer, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(server.url + path, auth=(server.token, ""), json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_tasks_costs_and_the_task_column(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Two fidelities",
            "parameters": PARAMETERS,
            "metrics": [{"name": "accuracy"}],
            "tasks": [{"name": "cheap", "cost": 0.25}, {"name": "full", "cost": 1}],
            "observation_budget": 10,
        },
    )
    observed = [
        post(
            dashboard_server,
            f"/v1/experiments/{experiment['id']}/observations",
            {"assignments": {"x": x}, "value": value, "task": task},
        )["id"]
        for x, task, value in REPORTS
    ]
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment['id']}")
    wait_loaded(watched)
    page = watched.page

    # 0.25 + 1 + 0.25 + 1 of 10.
    expect(page.locator("#stat-budget")).to_contain_text("2.5")
    expect(page.locator("#stat-budget")).to_contain_text("budget used of 10")
    expect(page.locator("#stat-observations")).to_contain_text("4")
    page.click("#definition summary")
    tasks = page.locator("dd[data-fact='tasks']")
    expect(tasks).to_contain_text("full (cost 1)")
    expect(tasks).to_contain_text("cheap (cost 0.25)")

    expect(page.locator("#observations thead th[data-key='task']")).to_have_count(1)
    cells = page.locator("#observations tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.id, r.cells[5].textContent])"
    )
    assert sorted(map(tuple, cells)) == sorted(
        zip(observed, [t for _, t, _ in REPORTS], strict=True)
    )
    best = page.locator("#observations tbody tr.best")
    assert best.evaluate_all("rows => rows.map(r => r.dataset.id)") == [observed[1]]

    with page.expect_download() as download:
        page.click("#download-csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {row["id"]: row["task"] for row in table} == {
        oid: task for oid, (_, task, _) in zip(observed, REPORTS, strict=True)
    }
    assert watched.errors == []


def test_a_plain_experiment_has_no_task_column(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {"name": "One fidelity", "parameters": PARAMETERS, "observation_budget": 10},
    )
    post(
        dashboard_server,
        f"/v1/experiments/{experiment['id']}/observations",
        {"assignments": {"x": 0.5}, "value": 1.0},
    )
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment['id']}")
    wait_loaded(watched)
    page = watched.page
    expect(page.locator("#observations tbody tr")).to_have_count(1)
    expect(page.locator("#observations thead th[data-key='task']")).to_have_count(0)
    expect(page.locator("#stat-budget")).to_have_count(0)
    expect(page.locator("#stat-observations")).to_contain_text("observations of 10")
    assert watched.errors == []


def reported_multitask_experiment(server: RunningServer, name: str) -> str:
    """A multitask experiment with REPORTS observed, each at its task."""
    experiment = multitask_experiment(server, name)
    for x, task, value in REPORTS:
        post(
            server,
            f"/v1/experiments/{experiment}/observations",
            {"assignments": {"x": x}, "value": value, "task": task},
        )
    return experiment


def multitask_experiment(
    server: RunningServer, name: str, parameters: list[dict[str, Any]] = PARAMETERS
) -> str:
    experiment = post(
        server,
        "/v1/experiments",
        {
            "name": name,
            "parameters": parameters,
            "metrics": [{"name": "accuracy"}],
            "tasks": [{"name": "cheap", "cost": 0.25}, {"name": "full", "cost": 1}],
            "observation_budget": 20,
        },
    )
    experiment_id: str = experiment["id"]
    return experiment_id


def model_of(server: RunningServer, experiment: str) -> Any:
    response = httpx.get(
        f"{server.url}/dashboard/api/experiments/{experiment}/model",
        auth=(server.token, ""),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_model_panel_waits_for_a_first_result_at_the_target_task(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """Past the initial design with results of the cheap task only (and a failure at the
    full one), the model panel says that its analysis waits for a first result at the
    target task, by name, not just "Not computed yet"."""
    experiment = multitask_experiment(dashboard_server, "No full result yet")
    observations = f"/v1/experiments/{experiment}/observations"
    for i in range(6):  # the design is 5 observations here
        post(
            dashboard_server,
            observations,
            {"assignments": {"x": i / 6}, "value": 0.5 + i / 20, "task": "cheap"},
        )
    post(
        dashboard_server, observations, {"assignments": {"x": 0.9}, "failed": True, "task": "full"}
    )
    waiting = (
        "Waiting for a first result at the target task full (cost 1): the model's analyses "
        "are of that task, and none of the 7 observations so far is a result there."
    )
    model = model_of(dashboard_server, experiment)
    assert (model["status"], model["message"], model["task"]) == ("not_computed", waiting, "full")

    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    expect(watched.page.locator("#importance-panel .chart-empty")).to_have_text(waiting)
    assert watched.errors == []

    # With a result at the target task, the analysis waits for the optimizer as for a
    # plain experiment (this server runs no optimizer process).
    post(dashboard_server, observations, {"assignments": {"x": 0.8}, "value": 0.7, "task": "full"})
    model = model_of(dashboard_server, experiment)
    assert model["status"] == "not_computed"
    assert model["message"].startswith("Not computed yet: no optimizer process has fitted")


def test_the_slices_say_which_task_they_are_taken_at(
    context: BrowserContext, dashboard_server: RunningServer, dashboard_database: str
) -> None:
    """A multitask experiment's analysis is of its target task: the slices' caption and
    the importance note name it, and say that the slices are based at that task's best
    result while the points are those of every task, each in its own colour."""
    experiment = reported_multitask_experiment(dashboard_server, "Analysed at full")
    # What the optimizer process stores (honed.engine.botorch.analysis at the target
    # task's cost, based at its best result, x = 0.2); this server runs none.
    band = Slice("x", (0.0, 0.5, 1.0), (0.6, 0.65, 0.5), (0.5, 0.55, 0.4), (0.7, 0.75, 0.6))
    analysis = ModelAnalysis(
        observation_count=len(REPORTS),
        computed_at=time.time(),
        seconds=0.5,
        sample_points=64,
        metrics=(
            MetricAnalysis(
                metric="accuracy",
                importance=(Importance("x", 0.9, 1.0, 1.0),),
                explained=0.9,
                anchor={"x": 0.2},
                slices=(band,),
            ),
        ),
    )
    storage = SqlStorage.from_url(dashboard_database)
    try:
        storage.store_model_analysis(int(experiment), analysis)
    finally:
        storage.close()
    model = model_of(dashboard_server, experiment)
    assert (model["status"], model["task"]) == ("ready", "full")

    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    page.wait_for_function(
        "() => honedCharts.scatter.x && honedCharts.scatter.x.getOption().series"
        ".find(s => s.id === 'model-mean').data.length > 0"
    )
    expect(page.locator("#slices-note")).to_contain_text(
        "Model band: the prediction and ±2 standard deviations of the model at the target "
        "task full (cost 1), with the other parameters at the best observed point of that "
        "task (x = 0.2). The points are the observations of every task, each task in its "
        "own colour."
    )
    expect(page.locator("#importance-note")).to_contain_text(
        "share of the variation of accuracy at the target task full (cost 1) that"
    )
    assert watched.errors == []


def test_a_plain_experiments_slices_name_no_task(
    context: BrowserContext, dashboard_server: RunningServer, dashboard_database: str
) -> None:
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Analysed, one fidelity",
            "parameters": PARAMETERS,
            "metrics": [{"name": "accuracy"}],
        },
    )["id"]
    for x, _, value in REPORTS:
        post(
            dashboard_server,
            f"/v1/experiments/{experiment}/observations",
            {"assignments": {"x": x}, "value": value},
        )
    band = Slice("x", (0.0, 1.0), (0.6, 0.5), (0.5, 0.4), (0.7, 0.6))
    importance = (Importance("x", 1.0, 1.0, 1.0),)
    metric = MetricAnalysis("accuracy", importance, 1.0, {"x": 0.1}, (band,))
    storage = SqlStorage.from_url(dashboard_database)
    try:
        storage.store_model_analysis(
            int(experiment), ModelAnalysis(4, time.time(), 0.5, 64, (metric,))
        )
    finally:
        storage.close()
    assert model_of(dashboard_server, experiment)["task"] is None
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    note = watched.page.locator("#slices-note")
    expect(note).to_contain_text(
        "±2 standard deviations of the model, with the other parameters at the best observed "
        "point (x = 0.1)."
    )
    assert "task" not in note.inner_text()
    assert watched.errors == []


SCATTERS = """() => honedCharts.scatter.x.getOption().series
  .filter((s) => s.type === "scatter" && s.id !== "model-mean")
  .map((s) => ({ name: s.name, colour: s.itemStyle.color, points: s.data.map((d) => d.value) }))"""
LEGEND = """() => (honedCharts.scatter.x.getModel().getComponent("legend")?.getData() ?? [])
  .map((item) => item.get("name"))"""


def test_the_slices_draw_each_tasks_points_in_its_own_colour(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """A cheaper task's results are partial evaluations: in the slices each task's points
    are a series of their own, in a colour of their own (the target task's is the
    metric's), named in a legend with the task's cost. A plain experiment has no legend."""
    experiment = reported_multitask_experiment(dashboard_server, "Slices by task")
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    expect(page.locator("#scatters .chart").first).to_be_visible()
    full, cheap = page.evaluate(SCATTERS)
    assert (full["name"], cheap["name"]) == ("full (cost 1)", "cheap (cost 0.25)")
    assert full["points"] == [[x, v] for x, task, v in REPORTS if task == "full"]
    assert cheap["points"] == [[x, v] for x, task, v in REPORTS if task == "cheap"]
    assert full["colour"] == page.evaluate("() => HonedCharts.PALETTE[0]")  # the metric's
    assert cheap["colour"] not in (full["colour"], page.evaluate("() => HonedCharts.ORANGE"))
    assert page.evaluate(LEGEND) == ["full (cost 1)", "cheap (cost 0.25)"]
    assert label_problems(watched) == []  # the legend overlaps no other text
    assert watched.errors == []

    plain = post(
        dashboard_server,
        "/v1/experiments",
        {"name": "Slices, one task", "parameters": PARAMETERS, "metrics": [{"name": "accuracy"}]},
    )["id"]
    post(
        dashboard_server,
        f"/v1/experiments/{plain}/observations",
        {"assignments": {"x": 0.5}, "value": 1.0},
    )
    page.goto(f"{dashboard_server.url}/dashboard/experiments/{plain}")
    wait_loaded(watched)
    expect(page.locator("#scatters .chart").first).to_be_visible()
    (points,) = page.evaluate(SCATTERS)
    assert points["points"] == [[0.5, 1.0]]
    assert page.evaluate(LEGEND) == []
    assert watched.errors == []


def test_the_best_so_far_chart_draws_each_tasks_values_in_its_own_colour(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """Only the cost-1 task's values count as best: the cheap task's 0.9 was a point of the
    metric's own colour and name above a best line at 0.7, as if the line had missed it."""
    experiment = reported_multitask_experiment(dashboard_server, "Best so far by task")
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    series = page.evaluate(
        """() => honedCharts.best.getOption().series.map((s) => ({ id: s.id, name: s.name,
          colour: s.itemStyle.color, points: s.data.map((d) => d.value ?? d) }))"""
    )
    best, full, cheap = series
    assert best["points"] == [[1, None], [2, 0.7], [3, 0.7], [4, 0.7]]  # the full task's
    assert (full["name"], cheap["name"]) == ("full (cost 1)", "cheap (cost 0.25)")
    positions = {x: i + 1 for i, (x, _, _) in enumerate(REPORTS)}
    assert full["points"] == [[positions[x], v] for x, t, v in REPORTS if t == "full"]
    assert cheap["points"] == [[positions[x], v] for x, t, v in REPORTS if t == "cheap"]
    assert full["colour"] == best["colour"] == page.evaluate("() => HonedCharts.PALETTE[0]")
    assert cheap["colour"] not in (full["colour"], page.evaluate("() => HonedCharts.ORANGE"))
    assert label_problems(watched) == []
    assert watched.errors == []


def test_the_edf_has_one_distribution_per_task(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """The EDF mixed the cheap task's values (partial evaluations) with the full task's in
    one curve of the metric."""
    experiment = reported_multitask_experiment(dashboard_server, "EDF by task")
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    series = watched.page.evaluate(
        """() => honedCharts.edf.getOption().series.map((s) => ({ name: s.name,
          colour: s.itemStyle.color, points: s.data }))"""
    )
    full, cheap = series
    assert (full["name"], cheap["name"]) == ("full (cost 1)", "cheap (cost 0.25)")
    assert full["points"] == [[0.5, 0.5], [0.7, 1.0]]
    assert cheap["points"] == [[0.8, 0.5], [0.9, 1.0]]
    assert full["colour"] != cheap["colour"]
    assert label_problems(watched) == []
    assert watched.errors == []


def test_the_parallel_coordinates_have_a_task_axis(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """Each line ran from the parameters straight to the metric, a cheap task's value
    indistinguishable from a full evaluation's."""
    experiment = reported_multitask_experiment(dashboard_server, "Parallel by task")
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    axes = page.evaluate(
        "() => honedCharts.parallel.getOption().parallelAxis.map((a) => [a.name, a.type])"
    )
    assert axes == [["x", "value"], ["task", "category"], ["accuracy", "value"]]
    lines = page.evaluate(
        "() => honedCharts.parallel.getOption().series[0].data.map((d) => d.value)"
    )
    assert sorted(lines) == sorted([x, task, value] for x, task, value in REPORTS)
    assert label_problems(watched) == []
    assert watched.errors == []


def test_the_contour_is_of_the_full_cost_tasks_observations(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """The contour's cells averaged every task's values, a cheap task's (partial
    evaluations) with the full one's, in the same cell."""
    experiment = multitask_experiment(
        dashboard_server,
        "Contour by task",
        [
            {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
            {"name": "y", "type": "double", "bounds": {"min": 0, "max": 1}},
        ],
    )
    for x, y, task, value in [
        (0.1, 0.1, "full", 0.9),
        (0.12, 0.11, "cheap", 0.1),
        (0.9, 0.9, "full", 0.3),
        (0.5, 0.5, "cheap", 0.6),
    ]:
        post(
            dashboard_server,
            f"/v1/experiments/{experiment}/observations",
            {"assignments": {"x": x, "y": y}, "value": value, "task": task},
        )
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    cells, dots = page.evaluate(
        """() => { const s = honedCharts.contour.getOption().series;
          return [s[0].data.map((c) => [c[4], c[5]]), s[1].data.map((d) => d.value)]; }"""
    )
    assert sorted(cells) == [[0.3, 1], [0.9, 1]]
    assert sorted(dots) == [[0.1, 0.1], [0.9, 0.9]]
    expect(page.locator("#contour-note")).to_contain_text("at task full (cost 1) only")
    assert label_problems(watched) == []
    assert watched.errors == []


def test_the_legends_show_every_entry_on_a_phone(
    browser_phone: BrowserContext, dashboard_server: RunningServer
) -> None:
    """Two tasks and a stopped trial: the best-so-far legend's four entries do not fit one
    line of a phone. It wraps, every entry in sight, where a paged legend showed two and
    "1/2"; the plot moves down by the added line, under no text. The slices' three fit."""
    experiment = reported_multitask_experiment(dashboard_server, "Legends on a phone")
    post(
        dashboard_server,
        f"/v1/experiments/{experiment}/observations",
        {
            "assignments": {"x": 0.5},
            "value": 0.55,
            "task": "full",
            "metadata": {STATUS_KEY: "early_stopped"},
        },
    )
    watched = sign_in(browser_phone, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    tasks = ["full (cost 1)", "cheap (cost 0.25)"]
    assert legend_texts(watched, "honedCharts.best") == [
        "best accuracy",
        *tasks,
        "stopped early",
    ]
    assert legend_texts(watched, "honedCharts.scatter.x") == [*tasks, "stopped early"]
    assert label_problems(watched) == []
    watched.screenshot("multitask-phone")
    assert watched.errors == []
