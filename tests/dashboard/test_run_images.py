"""A run's images in the dashboard: logged by the official sigopt client's
``run.log_image``, listed on the AI experiment's page, and shown on the run's page in a
real headless Chromium against a real ``honed serve``."""

from __future__ import annotations

import io
from pathlib import Path

import png
from playwright.sync_api import BrowserContext
from playwright.sync_api import expect

from tests.dashboard.browser import sign_in
from tests.e2e.sigopt_worker import connection
from tests.support.server import RunningServer

PROJECT = "dashboard-images"


def write_png(path: Path, width: int, height: int) -> None:
    rows = [[(x * 11 + y * 5) % 256 for x in range(width * 3)] for y in range(height)]
    out = io.BytesIO()
    png.Writer(width, height, greyscale=False).write(out, rows)
    path.write_bytes(out.getvalue())


def log_run_with_images(server: RunningServer, tmp_path: Path) -> tuple[str, str]:
    """An AI experiment with one run that logged two images and carries a tag."""
    from sigopt.run_context import RunContext

    loss, confusion = tmp_path / "loss.png", tmp_path / "confusion.png"
    write_png(loss, 40, 30)
    write_png(confusion, 16, 16)
    with connection(server.url, server.token) as conn:
        client = conn.tokens("self").fetch().client
        conn.clients(client).projects().create(id=PROJECT, name="Images")
        experiment = (
            conn.clients(client)
            .projects(PROJECT)
            .aiexperiments()
            .create(
                name="images",
                parameters=[{"name": "lr", "type": "double", "bounds": {"min": 0, "max": 1}}],
                metrics=[{"name": "accuracy", "objective": "maximize"}],
                budget=3,
            )
        )
        created = conn.aiexperiments(experiment.id).training_runs().create(name="resnet")
        run = RunContext(conn, created)
        run.log_image(str(loss), name="loss curve")
        run.log_image(str(confusion))  # no name: shown by its file name
        tag = conn.impl.request(
            "POST", ["clients", client, "tags"], {"name": "baseline", "color": "#2f6fde"}, None
        )
        conn.impl.request("POST", ["training_runs", run.id, "tags"], {"id": tag["id"]}, None)
        run.log_metric("accuracy", 0.75)
        run.end()
    return experiment.id, run.id


def test_run_page_shows_the_images_the_client_logged(
    context: BrowserContext, dashboard_server: RunningServer, tmp_path: Path
) -> None:
    experiment_id, run_id = log_run_with_images(dashboard_server, tmp_path)
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment_id}")
    page = watched.page
    row = page.locator(f"#runs tr[data-id='{run_id}']")
    expect(row).to_contain_text("resnet")
    expect(row).to_contain_text("baseline")
    expect(row.locator("td").nth(3)).to_have_text("0.75")
    expect(row.locator("td").nth(5)).to_have_text("2")  # files
    row.click()

    page.wait_for_url(f"{dashboard_server.url}/dashboard/runs/{run_id}")
    expect(page.locator("#title")).to_contain_text("resnet")
    expect(page.locator("#tags")).to_have_text("baseline")
    figures = page.locator("#gallery figure")
    expect(figures).to_have_count(2)
    expect(figures.locator("figcaption")).to_have_text(["loss curve", "confusion.png"])
    # Each image was fetched and decoded: its natural size is the PNG's.
    sizes = []
    for image in figures.locator("img").all():
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        sizes.append(image.evaluate("(img) => [img.naturalWidth, img.naturalHeight]"))
    assert sizes == [[40, 30], [16, 16]]
    expect(page.locator("[data-field='values']")).to_contain_text("0.75")
    watched.screenshot("run-images")
    assert watched.errors == []
