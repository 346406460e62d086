"""30,000 observations on the experiment page: every chart complete, the parallel
coordinates and the timeline visibly downsampled, the table whole. The load time is
printed, not asserted (tests never assert on wall-clock time; benchmarks/ measures)."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser
from playwright.sync_api import expect

from tests.dashboard.browser import chart_data
from tests.dashboard.browser import watch
from tests.support.server import RunningServer
from tests.support.server import running_server

N = 30_000
BATCH = 2_500


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    database = tmp_path_factory.mktemp("big") / "honed.db"
    with running_server(f"sqlite:///{database}") as server:
        with httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=300) as http:
            experiment = http.post(
                "/v1/experiments",
                json={
                    "name": "Sweep of 30,000",
                    "parameters": [
                        {
                            "name": "lr",
                            "type": "double",
                            "bounds": {"min": 1e-5, "max": 0.1},
                            "transformation": "log",
                        },
                        {"name": "layers", "type": "int", "bounds": {"min": 1, "max": 12}},
                    ],
                    "metrics": [{"name": "accuracy", "objective": "maximize"}],
                },
            ).json()["id"]
            rng = random.Random(3)
            for start in range(0, N, BATCH):
                batch = [
                    {
                        "assignments": {
                            "lr": 10 ** rng.uniform(-5, -1),
                            "layers": rng.randint(1, 12),
                        },
                        "values": [
                            {"name": "accuracy", "value": round(rng.uniform(0.5, 0.95), 4)}
                        ],
                        "metadata": {"hostname": f"node-{i % 16}"},
                    }
                    for i in range(start, start + BATCH)
                ]
                response = http.post(
                    f"/v1/experiments/{experiment}/observations/batch",
                    json={"observations": batch},
                )
                assert response.status_code == 200, response.text
        yield server, experiment


def test_thirty_thousand_observations_are_drawn_whole_or_say_downsampled(
    browser: Browser, big: tuple[RunningServer, str]
) -> None:
    server, experiment = big
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        watched = watch(context.new_page())
        page = watched.page
        page.goto(f"{server.url}/dashboard/login")
        page.evaluate(f"() => localStorage.setItem('honed.token', {server.token!r})")
        started = time.monotonic()
        page.goto(f"{server.url}/dashboard/experiments/{experiment}")
        page.wait_for_function("() => (window.honedDrawn || 0) >= 1", timeout=120_000)
        page.evaluate(
            "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
        )
        seconds = time.monotonic() - started
        print(f"\n30,000 observations: page drawn {seconds:.2f} s after navigation")
        Path("build").mkdir(exist_ok=True)
        Path("build/dashboard-30k-seconds.txt").write_text(f"{seconds:.2f}\n")

        _best, observed = chart_data(watched, "honedCharts.best")
        assert len(observed) == N  # drawn whole
        (edf,) = chart_data(watched, "honedCharts.edf")
        assert len(edf) == N
        (parallel,) = chart_data(watched, "honedCharts.parallel")
        assert len(parallel) < N
        expect(page.locator("#parallel-note")).to_contain_text(
            f"Downsampled: {len(parallel)} of {N}"
        )
        expect(page.locator("#page-info")).to_contain_text(f"({N} observations)")
        # Workers in the order people count (node-2 before node-10), bottom to top.
        nodes = [f"node-{i}" for i in range(16)]
        rows = page.evaluate("() => honedCharts.timeline.getOption().yAxis[0].data")
        assert rows == nodes
        # Bars that would touch on screen are joined (a custom series costs ECharts about
        # 20 µs a bar): every trial is in one, and the note says so.
        counts = page.evaluate(
            "() => honedCharts.timeline.getOption().series.flatMap(s => s.data.map(d => d.count))"
        )
        assert sum(counts) == N
        assert len(counts) < 5_000
        expect(page.locator("#timeline-note")).to_contain_text(
            f"Joined: {N} trials drawn as {len(counts)} bars"
        )
        hosts = page.eval_on_selector_all("#filter-host option", "os => os.map(o => o.value)")
        assert hosts == ["", *nodes]
        # The contour's cells are the means of every observation; 30,000 dots on top of
        # them hid their colours, so it draws every nth and says so.
        cells, points = chart_data(watched, "honedCharts.contour")
        assert sum(cell[5] for cell in cells) == N
        assert len(points) <= 2_000
        # layers, an integer of 12 values, gets a row of cells per value: 20 rows left
        # empty strips between them, as if no layer count had been tried there.
        rows = sorted({(cell[2], cell[3]) for cell in cells})
        assert len(rows) == 12
        assert all(a[1] == b[0] for a, b in itertools.pairwise(rows))
        # "every 2nd", not "every 2th" (what the notes said of 5,001 to 10,000 lines).
        ordinals = page.evaluate(
            "() => [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 112].map(HonedCharts.ordinal)"
        )
        assert ordinals == [
            "1st",
            "2nd",
            "3rd",
            "4th",
            "11th",
            "12th",
            "13th",
            "21st",
            "22nd",
            "23rd",
            "112th",
        ]
        expect(page.locator("#contour-note")).to_contain_text(
            f"{len(points)} of {N} observations drawn as points"
        )
        # The canvas finished drawing: no progressive rendering left to do.
        assert page.evaluate(
            "() => honedCharts.best.getZr().painter._needsManuallyCompositing !== undefined"
        )
        watched.screenshot("thirty-thousand")
        assert watched.errors == []
    finally:
        context.close()
