"""The experiment page's views in Chromium against a real ``honed serve``: each chart holds
what the API returns, log parameters get log axes, stopped trials are marked and never
best, a brush survives refreshes, the table filters and opens rows, and the page holds up
at phone width and for unknown or empty experiments."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import expect

from honed.api.export import export_json
from honed.domain.trials import ENDED_KEY
from honed.domain.trials import PROGRESS_PREFIX
from honed.domain.trials import STARTED_KEY
from honed.domain.trials import STATUS_KEY
from tests.dashboard.browser import Watched
from tests.dashboard.browser import api
from tests.dashboard.browser import chart_data
from tests.dashboard.browser import label_problems
from tests.dashboard.browser import post
from tests.dashboard.browser import readme_screenshot
from tests.dashboard.browser import sign_in
from tests.dashboard.browser import wait_loaded
from tests.dashboard.seed import Seeded
from tests.dashboard.seed import Trained
from tests.dashboard.test_cli import honed
from tests.support.server import RunningServer

#: What the JSON export adds to each v1 observation (honed.api.export).
EXPORTED = ("source", "intermediate_values")
NOT_FOUND_RESOURCE = "Failed to load resource: the server responded with a status of 404"


def trained_of(seeded: Seeded) -> Trained:
    assert seeded.trained is not None
    return seeded.trained


def open_trained(context: BrowserContext, server: RunningServer, seeded: Seeded) -> Watched:
    watched = sign_in(context, server, f"/dashboard/experiments/{trained_of(seeded).id}")
    wait_loaded(watched)
    return watched


def test_stopped_trials_are_marked_counted_and_never_best(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    trained = trained_of(seeded)
    watched = open_trained(context, dashboard_server, seeded)
    page = watched.page
    count = trained.statuses.count
    expect(page.locator("#stat-completed b")).to_have_text(str(count("completed")))
    expect(page.locator("#stat-failed b")).to_have_text(str(count("failed")))
    expect(page.locator("#stat-stopped b")).to_have_text(str(count("early_stopped")))
    assert 0 < count("early_stopped") < len(trained.statuses)

    best_line, observed, _stopped = chart_data(watched, "honedCharts.best")
    running: float | None = None
    expected = []
    for status, value in zip(trained.statuses, trained.values, strict=True):
        if status == "completed" and value is not None and (running is None or value > running):
            running = value
        expected.append(running)
    assert [v for _, v in best_line] == expected
    assert [v for _, v in observed] == [
        v for s, v in zip(trained.statuses, trained.values, strict=True) if s == "completed"
    ]
    stopped_ids = page.evaluate("() => honedCharts.best.getOption().series[2].data.map(d => d.id)")
    assert stopped_ids == [
        i
        for i, s in zip(trained.observation_ids, trained.statuses, strict=True)
        if s == "early_stopped"
    ]
    # The API agrees: best_assignments is the best completed trial, not a stopped one.
    (best,) = api(dashboard_server, f"/v1/experiments/{trained.id}/best_assignments")["data"]
    best_value = best["values"][0]["value"]
    assert best_value == expected[-1]
    assert best["id"] not in stopped_ids
    expect(page.locator("#stat-best b")).to_have_text(f"{best_value:.6g}")
    rows = page.locator("#observations tbody tr.early_stopped .badge")
    expect(rows.first).to_have_text("stopped early")
    assert watched.errors == []


def test_views_hold_what_the_api_returns_with_log_axes(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    trained = trained_of(seeded)
    watched = open_trained(context, dashboard_server, seeded)
    page = watched.page
    detail = api(dashboard_server, f"/dashboard/api/experiments/{trained.id}")
    done = [o for o in detail["observations"] if o["status"] == "completed"]
    values = sorted(o["values"]["val_accuracy"] for o in done)

    (edf,) = chart_data(watched, "honedCharts.edf")
    assert edf == [[v, (i + 1) / len(values)] for i, v in enumerate(values)]

    # Log parameters: log axes in the parallel coordinates, the slices and the contour.
    axes = page.evaluate("() => honedCharts.parallel.getOption().parallelAxis.map(a => a.type)")
    assert axes == ["log", "log", "value", "category", "value"]
    for name, kind in (("learning_rate", "log"), ("weight_decay", "log"), ("batch_size", "value")):
        axis = page.evaluate(f"() => honedCharts.scatter[{name!r}].getOption().xAxis[0].type")
        assert axis == kind, name
    contour = page.evaluate(
        "() => { const o = honedCharts.contour.getOption();"
        " return [o.xAxis[0].type, o.yAxis[0].type]; }"
    )
    assert contour == ["log", "log"]
    (parallel,) = chart_data(watched, "honedCharts.parallel")
    assert sorted(row[-1] for row in parallel) == values
    # No value axis sits on zero in the middle of a plot.
    on_zero = page.evaluate("() => honedCharts.best.getOption().xAxis[0].axisLine.onZero")
    assert on_zero is False

    # Learning curves: one line per trial, split by status, as stored.
    completed, failed, stopped = chart_data(watched, "honedCharts.curves")

    def joined(status: str) -> list[Any]:
        out: list[Any] = []
        for s, curve in zip(trained.statuses, trained.curves, strict=True):
            if s == status:
                out += [*curve, ["-", "-"]]
        return out

    assert completed == joined("completed")
    assert failed == joined("failed")
    assert stopped == joined("early_stopped")

    # Timeline: every trial in its status's series, on its worker's row, start to end.
    hosts = page.evaluate("() => honedCharts.timeline.getOption().yAxis[0].data")
    bars = page.evaluate(
        "() => honedCharts.timeline.getOption().series.map(s => s.data.map(d => [d.id, d.value]))"
    )
    by_id = {o["id"]: o for o in detail["observations"]}
    for status, series in zip(("completed", "failed", "early_stopped"), bars, strict=True):
        for observation_id, (row, start, end, _lane, _lanes) in series:
            o = by_id[observation_id]
            assert o["status"] == status
            assert hosts[row] == o["hostname"]
            assert (start, end) == (1000 * o["started"], 1000 * o["ended"])
    assert sum(len(s) for s in bars) == len(trained.statuses)
    watched.screenshot("views")
    readme_screenshot(watched, "dashboard.png")
    page.evaluate("() => document.querySelector('.metric-bar').scrollIntoView()")
    readme_screenshot(watched, "dashboard-analysis.png")
    assert watched.errors == []


def test_pareto_hypervolume_is_the_servers(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{seeded.pareto}")
    wait_loaded(watched)
    detail = api(dashboard_server, f"/dashboard/api/experiments/{seeded.pareto}")
    (trace,) = chart_data(watched, "honedCharts.hypervolume")
    assert [v for _, v in trace] == detail["hypervolume"]["values"]
    assert detail["hypervolume"]["values"][-1] > 0
    expect(watched.page.locator("#hypervolume-note")).to_contain_text("reference point")
    assert watched.errors == []


def test_a_brush_and_a_legend_toggle_survive_refreshes_with_new_data(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    url = dashboard_server.url
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Brushed",
            "parameters": [
                {
                    "name": "lr",
                    "type": "double",
                    "bounds": {"min": 1e-4, "max": 1},
                    "transformation": "log",
                },
                {"name": "depth", "type": "int", "bounds": {"min": 1, "max": 8}},
            ],
            "metrics": [{"name": "score", "objective": "maximize"}],
        },
    )["id"]

    def observe(i: int) -> None:
        body = {
            "assignments": {"lr": 10 ** (-4 + i % 4), "depth": 1 + i % 8},
            "values": [{"name": "score", "value": i / 10}],
        }
        post(dashboard_server, f"/v1/experiments/{experiment}/observations", body)

    for i in range(6):
        observe(i)
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    page = watched.page
    page.goto(f"{url}/dashboard/experiments/{experiment}?refresh=300")
    wait_loaded(watched)
    page.evaluate(
        "() => { honedCharts.parallel.dispatchAction({ type: 'axisAreaSelect', parallelAxisId: "
        "honedCharts.parallel.getModel().getComponent('parallelAxis', 1).id,"
        " intervals: [[2, 5]] });"
        " honedCharts.best.dispatchAction({ type: 'legendUnSelect', name: 'score' }); }"
    )
    brush = "() => honedCharts.parallel.getModel().getComponent('parallelAxis', 1).activeIntervals"
    legend = "() => honedCharts.best.getOption().legend[0].selected.score"
    assert page.evaluate(brush) == [[2, 5]]
    for refresh in range(3):
        drawn = page.evaluate("() => window.honedDrawn")
        observe(6 + refresh)
        page.wait_for_function(f"() => window.honedDrawn > {drawn}")
        (rows,) = chart_data(watched, "honedCharts.parallel")
        assert len(rows) == 7 + refresh  # the new data is drawn...
        assert page.evaluate(brush) == [[2, 5]]  # ...and the user's selection kept
        assert page.evaluate(legend) is False
    # Unchanged data is not redrawn (the server answers 304).
    drawn = page.evaluate("() => window.honedDrawn")
    loaded = page.evaluate("() => window.honedLoaded")
    page.wait_for_function(f"() => window.honedLoaded >= {loaded + 2}")
    assert page.evaluate("() => window.honedDrawn") == drawn
    assert watched.errors == []


def test_table_filters_rows_details_and_downloads(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    trained = trained_of(seeded)
    watched = open_trained(context, dashboard_server, seeded)
    page = watched.page
    rows = page.locator("#observations tbody tr")
    info = page.locator("#page-info")
    ids = list(
        zip(trained.observation_ids, trained.statuses, trained.hosts, trained.values, strict=True)
    )

    def shown() -> list[str]:
        result: list[str] = rows.evaluate_all("rows => rows.map(r => r.dataset.id)")
        return sorted(result, key=int)

    page.select_option("#filter-status", "early_stopped")
    want = [i for i, s, _, _ in ids if s == "early_stopped"]
    expect(info).to_contain_text(f"({len(want)} of {len(ids)} observations)")
    assert shown() == want
    page.select_option("#filter-host", "gpu-4")
    want = [i for i, s, h, _ in ids if s == "early_stopped" and h == "gpu-4"]
    expect(info).to_contain_text(f"({len(want)} of {len(ids)} observations)")
    assert shown() == want
    page.select_option("#filter-status", "")
    page.select_option("#filter-host", "")
    page.select_option("#filter-field", "m:val_accuracy")
    page.fill("#filter-min", "0.85")
    page.fill("#filter-max", "0.9")
    want = [i for i, _, _, v in ids if v is not None and 0.85 <= v <= 0.9]
    expect(info).to_contain_text(f"({len(want)} of {len(ids)} observations)")
    assert shown() == sorted(want, key=int)[-20:] or shown() == sorted(want, key=int)

    with page.expect_download() as download:
        page.click("#download-csv")
    table = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sorted((r["id"] for r in table), key=int) == sorted(want, key=int)
    assert {float(r["val_accuracy"]) for r in table} <= {v for v in trained.values if v}
    with page.expect_download() as download:
        page.click("#download-json")
    dumped = json.loads(Path(download.value.path()).read_text())
    assert sorted((o["id"] for o in dumped["observations"]), key=int) == sorted(want, key=int)
    page.fill("#filter-min", "")
    page.fill("#filter-max", "")

    # A failed trial's row opens its full record: reason, every metadata field, curve, source.
    index = trained.statuses.index("failed")
    observation_id = trained.observation_ids[index]
    page.select_option("#filter-status", "failed")
    page.locator(f"#observations tbody tr[data-id='{observation_id}']").click()
    dialog = page.locator("#details")
    expect(dialog).to_be_visible()
    expect(dialog.locator("tr[data-key='reason']")).to_contain_text(trained.reasons[index] or "")
    expect(dialog.locator("tr[data-key='source']")).to_contain_text("design")
    stored = api(dashboard_server, f"/v1/experiments/{trained.id}/observations/{observation_id}")
    for key, value in stored["metadata"].items():
        expect(dialog.locator(f"#details-metadata tr[data-key='{key}'] td")).to_have_text(
            str(value)
        )
    curve = page.evaluate("() => honedCharts.detailsCurve.getOption().series[0].data")
    assert curve == trained.curves[index]
    watched.screenshot("observation-details")
    page.click("#details-close")
    expect(dialog).to_be_hidden()

    # The definition: bounds, scales, objective, budget.
    page.click("#definition summary")
    lr = page.locator("#definition-parameters tr[data-name='learning_rate'] td")
    expect(lr.nth(2)).to_have_text("1e-4 … 1")
    expect(lr.nth(3)).to_have_text("log")
    expect(page.locator("#definition-metrics tr[data-name='val_accuracy']")).to_contain_text(
        "maximize"
    )
    expect(page.locator("dd[data-fact='observation budget']")).to_have_text("48")
    assert watched.errors == []


def test_unknown_and_empty_experiments_say_so(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    watched = sign_in(context, dashboard_server, "/dashboard/experiments/987654")
    expect(watched.page.locator("#not-found")).to_contain_text("No such experiment")
    # An id that is no id at all: the same page, not the API's JSON error.
    watched.page.goto(f"{dashboard_server.url}/dashboard/experiments/abc")
    expect(watched.page.locator("#not-found")).to_contain_text("No such experiment")
    assert all(NOT_FOUND_RESOURCE in e for e in watched.errors)
    empty = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Nothing yet",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "f"}],
        },
    )["id"]
    page = watched.page
    watched.errors.clear()
    page.goto(f"{dashboard_server.url}/dashboard/experiments/{empty}")
    wait_loaded(watched)
    expect(page.locator("#chart-best + .chart-empty")).to_have_text("No observations yet.")
    expect(page.locator("#chart-parallel + .chart-empty")).to_contain_text(
        "No completed observation"
    )
    expect(page.locator("#page-info")).to_contain_text("(0 observations)")
    # The slices say so too, rather than draw bare axes.
    expect(page.locator("#scatters + .chart-empty")).to_have_text(
        "No completed observation of f yet."
    )
    expect(page.locator("#scatters")).to_be_hidden()
    assert watched.errors == []


def test_the_page_fits_a_phone(
    browser_phone: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    watched = open_trained(browser_phone, dashboard_server, seeded)
    page = watched.page
    width = page.evaluate("() => window.innerWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    for chart in ("chart-best", "chart-parallel", "chart-edf", "chart-timeline"):
        box = page.locator(f"#{chart}").bounding_box()
        assert box is not None
        assert box["width"] <= width, chart
        assert box["width"] > 250, chart
    # The download buttons keep together on one line, JSON not wrapped below CSV.
    csv_button, json_button = (
        page.locator(f"#download-{kind}").bounding_box() for kind in ("csv", "json")
    )
    assert csv_button is not None
    assert json_button is not None
    assert json_button["y"] == csv_button["y"]
    assert json_button["x"] > csv_button["x"]
    watched.screenshot("phone")
    # The experiments list too: every column on the screen, none behind a sideways scroll.
    page.goto(f"{dashboard_server.url}/dashboard/")
    expect(page.locator(f"#experiments tr[data-id='{trained_of(seeded).id}']")).to_be_visible()
    table, wrap = page.evaluate(
        "() => { const t = document.getElementById('experiments');"
        " return [t.scrollWidth, t.parentElement.clientWidth]; }"
    )
    assert table <= wrap
    watched.screenshot("phone-list")
    assert watched.errors == []


def test_chart_texts_neither_overlap_nor_are_cut_off(
    browser: Browser, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    """Axis labels and names, legends and titles of every chart, on a desktop and on a
    phone, for experiments with log parameters and curves, categories, and two metrics."""
    for width, height in ((1400, 900), (390, 844)):
        context = browser.new_context(
            viewport={"width": width, "height": height}, is_mobile=width < 600
        )
        try:
            watched = sign_in(context, dashboard_server)
            for experiment in (trained_of(seeded).id, seeded.single, seeded.pareto):
                watched.page.goto(f"{dashboard_server.url}/dashboard/experiments/{experiment}")
                wait_loaded(watched)
                assert label_problems(watched) == [], (width, experiment)
            assert watched.errors == []
        finally:
            context.close()


def test_best_values_are_blue_and_worst_red_whatever_the_objective(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    """Parallel coordinates and contour cells: one colour scale for a maximized metric
    (accuracy) and a minimized one (loss), so red always reads as bad."""
    blue, red = "rgba(80,163,186,1)", "rgba(217,78,93,1)"
    watched = sign_in(context, dashboard_server)
    for experiment, maximize in ((seeded.single, True), (seeded.pareto, False)):
        watched.page.goto(f"{dashboard_server.url}/dashboard/experiments/{experiment}")
        wait_loaded(watched)
        # (value, colour) of each parallel line and each contour cell, as drawn.
        lines, cells = watched.page.evaluate(
            "() => [[honedCharts.parallel, 'stroke', (v) => v.at(-1)],"
            " [honedCharts.contour, 'fill', (v) => v[4]]].map(([c, key, value]) => {"
            " const data = c.getModel().getSeriesByIndex(0).getData(); const out = [];"
            " for (let i = 0; i < data.count(); i++) out.push([value(data.getRawDataItem(i).value"
            " ?? data.getRawDataItem(i)), data.getItemVisual(i, 'style')[key]]);"
            " return out; })"
        )
        for drawn in (lines, cells):
            ranked = sorted(drawn, key=lambda pair: pair[0], reverse=maximize)
            assert (ranked[0][1], ranked[-1][1]) == (blue, red), (experiment, ranked)
    # The contour's colour bar is labelled with the lowest and highest cell means.
    text = watched.page.evaluate("() => honedCharts.contour.getOption().visualMap[0].text")
    means = [value for value, _ in cells]
    assert text == [f"{max(means):.6g}", f"{min(means):.6g}"]
    assert watched.errors == []


def test_trials_run_at_once_on_one_worker_get_their_own_lanes(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """honed run with parallelism 4 runs four trials at once on one machine: each gets a
    lane of the worker's row in the timeline instead of being drawn over the others."""
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Four at once",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "loss", "objective": "minimize"}],
        },
    )["id"]
    start = time.time() - 3600
    # vm: trials of 40 s started every 10 s (4 at once); gpu-2: one after another.
    trials_run = [("vm", start + 10 * i, 40.0) for i in range(8)]
    trials_run += [("gpu-2", start + 70 * i, 60.0) for i in range(3)]
    batch = [
        {
            "assignments": {"x": i / 11},
            "values": [{"name": "loss", "value": i / 11}],
            "metadata": {"hostname": host, STARTED_KEY: begin, ENDED_KEY: begin + seconds},
        }
        for i, (host, begin, seconds) in enumerate(trials_run)
    ]
    post(
        dashboard_server,
        f"/v1/experiments/{experiment}/observations/batch",
        {"observations": batch},
    )
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    hosts = watched.page.evaluate("() => honedCharts.timeline.getOption().yAxis[0].data")
    # Every trial completed: one series, and the legend says "completed" alone (no
    # "failed" or "stopped early" for trials that do not exist).
    (bars,) = chart_data(watched, "honedCharts.timeline")
    assert len(bars) == len(trials_run)
    legend = watched.page.evaluate(
        "() => honedCharts.timeline.getModel().getComponent('legend').getData()"
        ".map(item => item.get('name'))"
    )
    assert legend == ["completed"]
    lanes = {hosts[row]: count for row, _, _, _, count in bars}
    assert lanes == {"vm": 4, "gpu-2": 1}
    for row, begin, end, lane, count in bars:
        assert 0 <= lane < count
        for other_row, other_begin, other_end, other_lane, _ in bars:
            if (other_row, other_lane) == (row, lane) and (other_begin, other_end) != (begin, end):
                assert other_end <= begin or end <= other_begin  # one lane, no overlap
    watched.screenshot("timeline-lanes")
    assert watched.errors == []


def test_the_contour_never_plots_one_parameter_against_itself(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    """Choosing for one axis the parameter of the other swaps them: both axes never show
    the same parameter (a diagonal of cells that says nothing)."""
    watched = open_trained(context, dashboard_server, seeded)
    page = watched.page
    axes = (
        "() => { const o = honedCharts.contour.getOption();"
        " return [document.getElementById('contour-x').value,"
        " document.getElementById('contour-y').value, o.xAxis[0].name, o.yAxis[0].name]; }"
    )
    assert page.evaluate(axes) == ["learning_rate", "weight_decay"] * 2
    page.select_option("#contour-y", "learning_rate")
    expect(page.locator("#contour-x")).to_have_value("weight_decay")
    assert page.evaluate(axes) == ["weight_decay", "learning_rate"] * 2
    page.select_option("#contour-x", "batch_size")
    page.select_option("#contour-x", "learning_rate")
    expect(page.locator("#contour-y")).to_have_value("batch_size")
    assert page.evaluate(axes) == ["learning_rate", "batch_size"] * 2
    assert watched.errors == []


def test_the_learning_curves_legend_lists_only_the_statuses_that_occur(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """No trial failed: no "failed" in the legend (nor an empty series behind it)."""
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Curves, none failed",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "accuracy", "objective": "maximize"}],
        },
    )["id"]
    for index, status in enumerate(["completed", "early_stopped", "completed"]):
        records = f"/v1/experiments/{experiment}"
        suggestion = post(dashboard_server, f"{records}/suggestions", {})
        curve = [[step, round(0.1 * step + 0.01 * index, 4)] for step in range(1, 5)]
        post(
            dashboard_server,
            f"{records}/suggestions/{suggestion['id']}",
            {"metadata": {PROGRESS_PREFIX + "0": json.dumps(curve)}},
        )
        body = {
            "suggestion": suggestion["id"],
            "values": [{"name": "accuracy", "value": curve[-1][1]}],
            "metadata": {STATUS_KEY: status},
        }
        post(dashboard_server, f"{records}/observations", body)
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    legend = watched.page.evaluate(
        "() => honedCharts.curves.getModel().getComponent('legend').getData()"
        ".map(item => item.get('name'))"
    )
    assert legend == ["completed", "stopped early"]
    series = watched.page.evaluate("() => honedCharts.curves.getOption().series.map(s => s.name)")
    assert series == legend
    assert watched.errors == []


def test_the_learning_curves_name_their_metric_whichever_metric_the_page_views(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """The curves are of the objective (what early stopping reads): their heading and
    value axis say so by name, also when the page's views are switched to a stored metric."""
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Curves of val_loss",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [
                {"name": "epoch_seconds", "strategy": "store"},
                {"name": "val_loss", "objective": "minimize"},
            ],
        },
    )["id"]
    records = f"/v1/experiments/{experiment}"
    suggestion = post(dashboard_server, f"{records}/suggestions", {})
    curve = [[step, round(1 / step, 4)] for step in range(1, 5)]
    post(
        dashboard_server,
        f"{records}/suggestions/{suggestion['id']}",
        {"metadata": {PROGRESS_PREFIX + "0": json.dumps(curve)}},
    )
    values = [{"name": "val_loss", "value": 0.25}, {"name": "epoch_seconds", "value": 30}]
    observation = post(
        dashboard_server,
        f"{records}/observations",
        {"suggestion": suggestion["id"], "values": values},
    )
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    axis_name = "() => honedCharts.curves.getOption().yAxis[0].name"
    heading = watched.page.locator("#curves-panel h2")
    assert watched.page.evaluate(axis_name) == "val_loss"
    expect(heading).to_have_text("Learning curves (val_loss by step)")
    watched.page.select_option("#metric", "epoch_seconds")
    expect(watched.page.locator("#scatters .chart").first).to_be_visible()
    assert watched.page.evaluate("() => honedCharts.edf.getOption().xAxis[0].name") == (
        "epoch_seconds"
    )
    assert watched.page.evaluate(axis_name) == "val_loss"
    expect(heading).to_have_text("Learning curves (val_loss by step)")
    # The observation's own curve, in its details, names the metric too.
    watched.page.locator(f"#observations tbody tr[data-id='{observation['id']}']").click()
    expect(watched.page.locator("#details-curve-heading")).to_have_text(
        "Learning curve (val_loss by step)"
    )
    details_axis = "() => honedCharts.detailsCurve.getOption().yAxis[0].name"
    assert watched.page.evaluate(details_axis) == "val_loss"
    assert watched.errors == []


def test_the_csv_download_is_honed_exports_csv(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    """One CSV format: the page's download holds the very rows ``honed export`` writes
    (columns, ISO 8601 times to the second, status, source, metadata), the table's rows
    only and in its order when it is filtered."""
    trained = trained_of(seeded)
    exported = honed("export", trained.id, "--format", "csv", server=dashboard_server)
    assert exported.returncode == 0, exported.stderr
    watched = open_trained(context, dashboard_server, seeded)
    page = watched.page
    page.locator("#observations thead th[data-key='id']").click()  # oldest first, as exported
    with page.expect_download() as download:
        page.click("#download-csv")
    assert Path(download.value.path()).read_text(encoding="utf-8") == exported.stdout

    header, *lines = exported.stdout.splitlines()
    columns = header.split(",")
    assert columns[:6] == ["id", "created", "status", "failed", "suggestion", "source"]
    # Parameters and metrics by name, as the v1 API lists them.
    assert columns[6:11] == [
        "batch_size",
        "learning_rate",
        "optimizer",
        "weight_decay",
        "val_accuracy",
    ]
    assert "metadata.hostname" in columns
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["status"] for r in rows] == trained.statuses
    assert {r["source"] for r in rows} == {"design"}
    assert [r["metadata.hostname"] for r in rows] == trained.hosts
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["created"]) for r in rows)

    # Filtered and sorted: the same lines, those the table shows, in its order.
    page.select_option("#filter-status", "early_stopped")
    page.locator("#observations thead th[data-key='m:val_accuracy']").click()
    shown: list[str] = page.locator("#observations tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    assert 0 < len(shown) < len(lines)
    by_id = {line.split(",", 1)[0]: line for line in lines}
    with page.expect_download() as download:
        page.click("#download-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines() == [header, *(by_id[i] for i in shown)]
    assert watched.errors == []


def test_the_json_download_is_honed_exports_json(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    """One JSON format: the page's download is the file ``honed export --format json``
    writes (the experiment and its observations as the v1 API returns them, each with its
    source and intermediate values), byte for byte; filtered and sorted, the same file
    with the table's observations only, in its order, and with none when the table shows
    none."""
    trained = trained_of(seeded)
    exported = honed("export", trained.id, "--format", "json", server=dashboard_server)
    assert exported.returncode == 0, exported.stderr
    watched = open_trained(context, dashboard_server, seeded)
    page = watched.page
    page.locator("#observations thead th[data-key='id']").click()  # oldest first, as exported
    with page.expect_download() as download:
        page.click("#download-json")
    assert download.value.suggested_filename == f"experiment-{trained.id}-observations.json"
    assert Path(download.value.path()).read_text(encoding="utf-8") == exported.stdout

    whole = json.loads(exported.stdout)
    assert whole["experiment"] == api(dashboard_server, f"/v1/experiments/{trained.id}")
    observations = whole["observations"]
    assert [o["id"] for o in observations] == sorted(trained.observation_ids, key=int)
    assert {k: v for k, v in observations[0].items() if k not in EXPORTED} == api(
        dashboard_server, f"/v1/experiments/{trained.id}/observations/{observations[0]['id']}"
    )
    assert {o["source"] for o in observations} == {"design"}
    assert [o["intermediate_values"] for o in observations] == trained.curves

    # Filtered and sorted: the table's observations, in its order, as written by the export.
    page.select_option("#filter-status", "early_stopped")
    page.locator("#observations thead th[data-key='m:val_accuracy']").click()
    shown: list[str] = page.locator("#observations tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.id)"
    )
    assert 0 < len(shown) < len(observations)
    by_id = {o["id"]: o for o in observations}
    with page.expect_download() as download:
        page.click("#download-json")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text == export_json(whole["experiment"], [by_id[i] for i in shown])

    page.select_option("#filter-field", "m:val_accuracy")
    page.fill("#filter-min", "2")  # no accuracy is above 1: an empty table
    expect(page.locator("#observations tbody tr")).to_have_count(0)
    with page.expect_download() as download:
        page.click("#download-json")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text == export_json(whole["experiment"], [])
    assert watched.errors == []


def test_the_csv_download_keeps_fields_with_commas_quotes_and_newlines_whole(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """The page cuts the server's CSV into records by id: a quoted field that holds a
    comma, a quote or a newline stays one field of one record."""
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Notes in metadata",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [{"name": "loss", "objective": "minimize"}],
        },
    )["id"]
    notes = ["plain", 'a, "quoted" b\nand a second line', "1,2"]
    batch = [
        {
            "assignments": {"x": i / 4},
            "values": [{"name": "loss", "value": i}],
            "metadata": {"note": n},
        }
        for i, n in enumerate(notes)
    ]
    post(
        dashboard_server,
        f"/v1/experiments/{experiment}/observations/batch",
        {"observations": batch},
    )
    exported = honed("export", experiment, "--format", "csv", server=dashboard_server)
    assert exported.returncode == 0, exported.stderr
    cli = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["metadata.note"] for r in cli] == notes
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    page = watched.page
    with page.expect_download() as download:
        page.click("#download-csv")  # newest first, as the table shows them
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert list(csv.DictReader(io.StringIO(text))) == cli[::-1]
    assert watched.errors == []


def test_a_category_axis_of_the_parallel_coordinates_ticks_its_categories(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    """The optimizer axis: a tick where each category sits (where its lines meet the axis),
    none between two categories, which read as values of their own."""
    watched = open_trained(context, dashboard_server, seeded)
    ticks, categories = watched.page.evaluate(
        """() => { const c = honedCharts.parallel;
          const i = c.getOption().parallelAxis.findIndex((a) => a.type === "category");
          const axis = c.getModel().getComponent("parallelAxis", i).axis;
          return [axis.getTicksCoords().map((t) => t.coord),
            c.getOption().parallelAxis[i].data.map((_, k) => axis.dataToCoord(k))]; }"""
    )
    assert len(categories) == 3
    assert ticks == pytest.approx(categories)
    assert watched.errors == []
