"""Playwright on Debian's Chromium (headless), with console errors collected per page."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import ConsoleMessage
from playwright.sync_api import Page
from playwright.sync_api import expect
from playwright.sync_api import sync_playwright

from tests.support.server import RunningServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The machine running the tests may be busy: let assertions wait longer than Playwright's 5 s
# before calling a page wrong (they pass as soon as the page is right).
expect.set_options(timeout=20_000)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size > 10_000  # a real rendering, not a blank page
        return path


def watch(page: Page) -> Watched:
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))
    return watched


def sign_in(context: BrowserContext, server: RunningServer, path: str = "/dashboard/") -> Watched:
    watched = watch(context.new_page())
    page = watched.page
    page.goto(server.url + path)
    page.wait_for_url(re.compile(r"/dashboard/login\?"))
    page.fill("#token", server.token)
    page.click("#sign-in")
    page.wait_for_url(server.url + path)
    return watched


def chart_data(watched: Watched, expression: str) -> Any:
    """Series data as ECharts holds it (getOption), e.g. ``honedCharts.best``."""
    return watched.page.evaluate(
        f"() => {expression}.getOption().series.map((s) => s.data.map((d) => d.value ?? d))"
    )


def wait_loaded(watched: Watched, times: int = 1) -> None:
    watched.page.wait_for_function(f"() => (window.honedLoaded || 0) >= {times}")


LABEL_PROBLEMS = (Path(__file__).parent / "label_problems.js").read_text()


def label_problems(watched: Watched) -> list[str]:
    """Texts of the page's visible charts that overlap or are cut off, in words."""
    problems: list[str] = watched.page.evaluate(LABEL_PROBLEMS)
    return problems


LEGEND_TEXTS = (Path(__file__).parent / "legend_texts.js").read_text()


def legend_texts(watched: Watched, chart: str) -> list[str]:
    """The texts a chart's legend shows, e.g. of ``honedCharts.best``."""
    texts: list[str] = watched.page.evaluate(f"() => ({LEGEND_TEXTS})({chart})")
    return texts


def readme_screenshot(watched: Watched, name: str, through: str | None = None) -> None:
    """The README's pictures (docs/NAME), refreshed when HONED_UPDATE_SCREENSHOT=1, so a
    test run leaves the tree clean: the viewport, or with ``through`` the page from the
    viewport's top to the bottom of that element."""
    if os.environ.get("HONED_UPDATE_SCREENSHOT") != "1":
        return
    target = DOCS / name
    temporary = target.with_suffix(".tmp.png")
    page = watched.page
    if through is None:
        page.screenshot(path=str(temporary), full_page=False)
    else:
        box = page.locator(through).bounding_box()
        viewport = page.viewport_size
        assert box is not None, through
        assert viewport is not None
        bottom = min(box["y"] + box["height"] + 16, viewport["height"])
        page.screenshot(
            path=str(temporary),
            clip={"x": 0, "y": 0, "width": viewport["width"], "height": bottom},
        )
    shutil.move(temporary, target)


def api(server: RunningServer, path: str) -> Any:
    """GET a path of the server's API as its token's client; the answer must be 200."""
    response = httpx.get(server.url + path, auth=(server.token, ""), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def post(server: RunningServer, path: str, body: dict[str, Any]) -> Any:
    """POST to the server's API as its token's client; the answer must be 200."""
    response = httpx.post(server.url + path, auth=(server.token, ""), json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def open_observed(
    context: BrowserContext,
    server: RunningServer,
    experiment: dict[str, Any],
    points: Sequence[tuple[dict[str, Any], float]],
) -> tuple[Watched, list[str]]:
    """Report ``points`` (assignments, value) as observations of ``experiment``, then open
    its page once loaded: the page and the observations' ids, in order."""
    path = f"/v1/experiments/{experiment['id']}/observations"
    observed = [
        post(server, path, {"assignments": assignments, "value": value})["id"]
        for assignments, value in points
    ]
    watched = sign_in(context, server, f"/dashboard/experiments/{experiment['id']}")
    wait_loaded(watched)
    return watched, observed
