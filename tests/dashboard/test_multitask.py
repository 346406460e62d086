"""A multitask experiment in Chromium: the header counts the budget used in task costs,
the definition lists the tasks and their costs, the table and its CSV have a task column,
and only an observation of the cost-1 task is highlighted as best. A plain experiment's
table has no task column."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext
from playwright.sync_api import expect

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
