"""The trial timeline past 5,000 trials: bars that would touch on screen are joined, and
zooming in (ECharts' dataZoom) joins the bars in view again for the window's scale, so
trials that are apart at that scale are bars of their own again; zooming out joins them
as before."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser
from playwright.sync_api import expect

from honed.domain.trials import ENDED_KEY
from honed.domain.trials import STARTED_KEY
from tests.dashboard.browser import sign_in
from tests.dashboard.browser import wait_loaded
from tests.support.server import RunningServer
from tests.support.server import running_server

HOSTS = ("gpu-1", "gpu-2")
PER_HOST = 3_000  # 6,000 trials: past the 5,000 at which bars are joined
# Each worker starts a trial every 90 s and it runs 60 s: 30 s apart, far less than a
# pixel of the whole span (75 hours), far more than one of an hour's window.
PERIOD = 90
DURATION = 60
BATCH = 2_000

BARS = """() => honedCharts.timeline.getOption().series.flatMap((s) => s.data.map((d) => (
  { start: d.value[1], end: d.value[2], count: d.count ?? 1 })))"""
WINDOW = "() => honedCharts.timeline.getModel().getComponent('dataZoom', 0).getValueRange()"
# dataZoom as a user's wheel does it, then two frames for what the chart does on the event.
ZOOM = """([start, end]) => new Promise((done) => {
  honedCharts.timeline.dispatchAction({ type: "dataZoom", start, end });
  requestAnimationFrame(() => requestAnimationFrame(done));
})"""


@pytest.fixture(scope="module")
def timeline(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, str, list[tuple[int, int]]]]:
    """A server with one experiment of 6,000 trials on two workers, and each trial's
    (start, end) in milliseconds."""
    database = tmp_path_factory.mktemp("timeline") / "honed.db"
    first = int(time.time()) - PER_HOST * PERIOD - 600
    trials = [
        (host, first + PERIOD * k, first + PERIOD * k + DURATION)
        for k in range(PER_HOST)
        for host in HOSTS
    ]
    with running_server(f"sqlite:///{database}") as server:
        with httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=300) as http:
            experiment = http.post(
                "/v1/experiments",
                json={
                    "name": "Timeline of 6,000",
                    "parameters": [
                        {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}
                    ],
                    "metrics": [{"name": "loss", "objective": "minimize"}],
                },
            ).json()["id"]
            for at in range(0, len(trials), BATCH):
                batch: list[dict[str, Any]] = [
                    {
                        "assignments": {"x": (i % 997) / 997},
                        "values": [{"name": "loss", "value": (i % 89) / 89}],
                        "metadata": {"hostname": host, STARTED_KEY: start, ENDED_KEY: end},
                    }
                    for i, (host, start, end) in enumerate(trials[at : at + BATCH], start=at)
                ]
                response = http.post(
                    f"/v1/experiments/{experiment}/observations/batch",
                    json={"observations": batch},
                )
                assert response.status_code == 200, response.text
        yield server, experiment, [(1000 * s, 1000 * e) for _, s, e in trials]


def test_zooming_in_splits_the_joined_bars_in_view(
    browser: Browser, timeline: tuple[RunningServer, str, list[tuple[int, int]]]
) -> None:
    server, experiment, trials = timeline
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        watched = sign_in(context, server, f"/dashboard/experiments/{experiment}")
        wait_loaded(watched)
        page = watched.page
        whole: list[dict[str, Any]] = page.evaluate(BARS)
        # The whole span: each worker's trials touch on screen, so they share bars.
        assert sum(b["count"] for b in whole) == len(trials)
        assert len(whole) < 100
        expect(page.locator("#timeline-note")).to_contain_text(
            f"Joined: {len(trials)} trials drawn as {len(whole)} bars"
        )

        page.evaluate(ZOOM, [50, 51])
        low, high = page.evaluate(WINDOW)
        in_view = sorted((s, e) for s, e in trials if e >= low and s <= high)
        assert 20 < len(in_view) < 200
        bars: list[dict[str, Any]] = page.evaluate(BARS)
        shown = [b for b in bars if b["end"] >= low and b["start"] <= high]
        # A bar per trial in view, each exactly that trial's span.
        assert sorted((b["start"], b["end"]) for b in shown) == in_view
        assert all(b["count"] == 1 for b in shown)
        # Every trial is still in a bar (those out of view stay joined).
        assert sum(b["count"] for b in bars) == len(trials)
        expect(page.locator("#timeline-note")).to_contain_text(
            f"each of the {len(in_view)} trials in view is a bar of its own"
        )

        page.evaluate(ZOOM, [0, 100])
        assert page.evaluate(BARS) == whole
        expect(page.locator("#timeline-note")).to_contain_text(
            f"Joined: {len(trials)} trials drawn as {len(whole)} bars"
        )
        assert watched.errors == []
    finally:
        context.close()
