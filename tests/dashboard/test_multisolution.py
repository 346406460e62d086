"""A multisolution experiment in Chromium: the definition says how many solutions are
wanted, and the table highlights each of the diverse best observations, not only the
single best."""

from __future__ import annotations

from playwright.sync_api import BrowserContext
from playwright.sync_api import expect

from tests.dashboard.browser import open_observed
from tests.dashboard.browser import post
from tests.support.server import RunningServer

# Two good points far apart, and a slightly better neighbour of the first: the neighbour
# and the far point are the two solutions, the first point is not (a better one is near).
POINTS = [
    ({"x": 0.10, "y": 0.10}, 0.90),
    ({"x": 0.11, "y": 0.10}, 0.95),
    ({"x": 0.90, "y": 0.90}, 0.80),
    ({"x": 0.50, "y": 0.50}, 0.10),
]


def test_the_solutions_are_highlighted(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Two solutions",
            "parameters": [
                {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
                {"name": "y", "type": "double", "bounds": {"min": 0, "max": 1}},
            ],
            "metrics": [{"name": "accuracy"}],
            "num_solutions": 2,
            "observation_budget": 20,
        },
    )
    watched, observed = open_observed(context, dashboard_server, experiment, POINTS)
    page = watched.page

    rows = page.locator("#observations tbody tr")
    expect(rows).to_have_count(len(POINTS))
    best = page.locator("#observations tbody tr.best")
    expect(best).to_have_count(2)
    assert sorted(best.evaluate_all("rows => rows.map(r => r.dataset.id)")) == sorted(
        [observed[1], observed[2]]
    )
    page.click("#definition summary")
    expect(page.locator("dd[data-fact='solutions wanted']")).to_contain_text("2")
    assert watched.errors == []
