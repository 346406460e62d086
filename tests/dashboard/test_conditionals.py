"""A conditional experiment in Chromium: the table has a column per conditional and leaves
inactive parameters empty, the downloaded CSV too, and the definition says when each
parameter applies."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import BrowserContext
from playwright.sync_api import expect

from tests.dashboard.browser import open_observed
from tests.dashboard.browser import post
from tests.support.server import RunningServer

POINTS = [
    ({"model": "forest", "trees": 120, "seed": 0.5}, 0.8),
    ({"model": "net", "rate": 0.01, "seed": 0.25}, 0.9),
]


def test_inactive_parameters_are_empty_cells(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Conditional",
            "conditionals": [{"name": "model", "values": ["forest", "net"]}],
            "parameters": [
                {
                    "name": "trees",
                    "type": "int",
                    "bounds": {"min": 10, "max": 500},
                    "conditions": {"model": "forest"},
                },
                {
                    "name": "rate",
                    "type": "double",
                    "bounds": {"min": 0.0001, "max": 1},
                    "conditions": {"model": ["net"]},
                },
                {"name": "seed", "type": "double", "bounds": {"min": 0, "max": 1}},
            ],
            "metrics": [{"name": "accuracy"}],
        },
    )
    watched, observed = open_observed(context, dashboard_server, experiment, POINTS)
    page = watched.page

    headers = page.locator("#observations thead th").all_inner_texts()
    columns = {name: headers.index(name) for name in ("model", "trees", "rate", "seed")}
    forest = page.locator(f"#observations tbody tr[data-id='{observed[0]}'] td")
    net = page.locator(f"#observations tbody tr[data-id='{observed[1]}'] td")
    expect(forest.nth(columns["model"])).to_have_text("forest")
    expect(forest.nth(columns["trees"])).to_have_text("120")
    expect(forest.nth(columns["rate"])).to_have_text("")
    expect(net.nth(columns["model"])).to_have_text("net")
    expect(net.nth(columns["trees"])).to_have_text("")
    expect(net.nth(columns["rate"])).to_have_text("0.01")

    with page.expect_download() as download:
        page.click("#download-csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    header, *rows = (line.split(",") for line in text.splitlines())
    by_id = {row[header.index("id")]: row for row in rows}
    assert by_id[observed[0]][header.index("rate")] == ""
    assert by_id[observed[1]][header.index("trees")] == ""
    assert by_id[observed[1]][header.index("model")] == "net"

    page.click("#definition summary")
    model = page.locator("#definition-parameters tr[data-name='model'] td")
    expect(model.nth(1)).to_have_text("conditional")
    expect(model.nth(2)).to_have_text("forest, net")
    trees = page.locator("#definition-parameters tr[data-name='trees'] td")
    expect(trees.nth(4)).to_have_text("model ∈ {forest}")
    expect(page.locator("#definition-parameters tr[data-name='seed'] td").nth(4)).to_have_text(
        "always"
    )
    assert watched.errors == []
