"""The dashboard in a real headless Chromium against a real ``honed serve``."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import expect

from tests.dashboard.browser import chart_data
from tests.dashboard.browser import post
from tests.dashboard.browser import readme_screenshot
from tests.dashboard.browser import sign_in
from tests.dashboard.browser import wait_loaded
from tests.dashboard.browser import watch
from tests.dashboard.seed import BUDGET
from tests.dashboard.seed import HOSTS
from tests.dashboard.seed import N_OBSERVATIONS
from tests.dashboard.seed import Seeded
from tests.dashboard.seed import best_so_far
from tests.support.server import RunningServer


def test_wrong_or_missing_token_is_refused(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    url = dashboard_server.url
    api = f"{url}/dashboard/api/experiments/{seeded.single}"
    assert httpx.get(api).status_code == 401
    assert httpx.get(api, auth=("wrong", "")).status_code == 403
    assert httpx.get(f"{url}/dashboard/api/experiments", auth=("wrong", "")).status_code == 403

    watched = watch(context.new_page())
    page = watched.page
    page.goto(f"{url}/dashboard/experiments/{seeded.single}")  # no token: to the login page
    page.wait_for_url(re.compile(r"/dashboard/login\?next=%2Fdashboard%2Fexperiments"))
    page.fill("#token", "not-a-token")
    page.click("#sign-in")
    expect(page.locator("#login-error")).to_contain_text("Token refused")
    assert page.evaluate("() => localStorage.getItem('honed.token')") is None
    assert "/dashboard/login" in page.url

    # A token revoked or replaced while signed in sends the browser back to the login page.
    page.evaluate("() => localStorage.setItem('honed.token', 'stale')")
    page.goto(f"{url}/dashboard/")
    page.wait_for_url(re.compile(r"/dashboard/login\?.*reason=refused"))
    expect(page.locator("#login-error")).to_contain_text("refused")
    watched.screenshot("login-refused")


def test_experiments_list(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    watched = sign_in(context, dashboard_server)
    row = watched.page.locator(f"#experiments tr[data-id='{seeded.single}']")
    expect(row).to_contain_text("Classifier accuracy")
    expect(row).to_contain_text(f"{N_OBSERVATIONS} / {BUDGET}")
    best = max(v for v in seeded.values if v is not None)
    expect(row.locator("td").nth(4)).to_have_text(f"accuracy {best:.6g}")  # metric, value
    expect(row.locator("td").nth(3)).to_have_text(str(seeded.values.count(None)))
    pareto = watched.page.locator(f"#experiments tr[data-id='{seeded.pareto}']")
    expect(pareto).to_contain_text("Latency against loss")
    expect(pareto.locator("td").nth(4)).to_have_text(re.compile(r"^\d+ Pareto points$"))
    watched.screenshot("experiments")
    readme_screenshot(watched, "dashboard-list.png", through="main")
    row.locator("a").click()
    watched.page.wait_for_url(f"{dashboard_server.url}/dashboard/experiments/{seeded.single}")
    wait_loaded(watched)
    assert watched.errors == []


def test_experiment_page_charts_hold_the_data(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{seeded.single}")
    wait_loaded(watched)
    page = watched.page
    done = [v for v in seeded.values if v is not None]

    # No trial stopped early: no "stopped early" series, so no such legend entry either.
    best_line, observed = chart_data(watched, "honedCharts.best")
    assert best_line == [[i + 1, v] for i, v in enumerate(best_so_far(seeded.values))]
    assert [point[1] for point in observed] == done

    (parallel,) = chart_data(watched, "honedCharts.parallel")
    assert [row[-1] for row in parallel] == done
    assert page.evaluate("() => honedCharts.parallel.getOption().parallelAxis.length") == 4
    for name in ("x", "y", "kind"):
        # Then the model band's series, empty: this server runs no optimizer.
        points, *band = chart_data(watched, f"honedCharts.scatter[{name!r}]")
        assert [p[1] for p in points] == done
        assert band == [[], [], []]
    kinds, *_band = chart_data(watched, "honedCharts.scatter['kind']")
    assert {p[0] for p in kinds} == {"a", "b", "c"}
    expect(page.locator("#pareto-panel")).to_be_hidden()

    stats = page.locator("#stats")
    expect(stats.locator("#stat-observations")).to_contain_text(f"{N_OBSERVATIONS}")
    expect(stats.locator("#stat-best")).to_contain_text(f"{max(done):.6g}")

    suggestions = page.locator("#suggestions tbody tr")
    expect(suggestions).to_have_count(2)
    assert sorted(suggestions.evaluate_all("rows => rows.map(r => r.dataset.id)")) == sorted(
        seeded.open_suggestions
    )

    for host in HOSTS:
        worker = page.locator(f"#workers tr[data-hostname='{host}']")
        cells = worker.locator("td")
        expect(cells.nth(2)).to_have_text(str(seeded.hosts.count(host)))
        failures = sum(
            1 for h, v in zip(seeded.hosts, seeded.values, strict=True) if h == host and v is None
        )
        expect(cells.nth(3)).to_have_text(str(failures))
    watched.screenshot("experiment")
    assert watched.errors == []


def test_observations_table_sorts_and_pages(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{seeded.single}")
    wait_loaded(watched)
    page = watched.page
    rows = page.locator("#observations tbody tr")
    info = page.locator("#page-info")
    expect(rows).to_have_count(20)
    expect(info).to_have_text(f"page 1 of 3 ({N_OBSERVATIONS} observations)")

    def column(index: int) -> list[str]:
        result: list[str] = rows.evaluate_all(
            f"rows => rows.map(r => r.cells[{index}].textContent)"
        )
        return result

    ids = [int(i) for i in column(0)]
    assert ids == sorted(ids, reverse=True)  # newest first by default

    accuracy = page.locator("#observations th[data-key='m:accuracy']")
    accuracy.click()
    done = sorted(v for v in seeded.values if v is not None)
    expect(accuracy).to_have_class(re.compile("sorted-asc"))
    assert [float(v) for v in column(8)] == pytest.approx(done[:20], rel=1e-5)
    accuracy.click()
    expect(accuracy).to_have_class(re.compile("sorted-desc"))
    assert [float(v) for v in column(8)] == pytest.approx(done[::-1][:20], rel=1e-5)

    page.click("#next-page")
    page.click("#next-page")
    expect(info).to_have_text(f"page 3 of 3 ({N_OBSERVATIONS} observations)")
    expect(page.locator("#next-page")).to_be_disabled()
    # Failed observations have no value: they sort last either way, and are marked.
    failed = page.locator("#observations tbody tr.failed")
    expect(failed).to_have_count(seeded.values.count(None))
    expect(failed.first.locator(".badge.failed")).to_have_text("failed")
    watched.screenshot("observations-page-3")
    page.click("#prev-page")
    expect(info).to_have_text(f"page 2 of 3 ({N_OBSERVATIONS} observations)")
    assert watched.errors == []


def test_pareto_front(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{seeded.pareto}")
    wait_loaded(watched)
    expect(watched.page.locator("#pareto-panel")).to_be_visible()
    front_ids = watched.page.evaluate(
        "() => honedCharts.pareto.getOption().series[1].data.map((d) => d.id)"
    )
    best = httpx.get(
        f"{dashboard_server.url}/v1/experiments/{seeded.pareto}/best_assignments",
        auth=(dashboard_server.token, ""),
    ).json()["data"]
    assert sorted(front_ids) == sorted(b["id"] for b in best)
    assert 1 < len(front_ids) < 20
    others, front = chart_data(watched, "honedCharts.pareto")
    assert len(others) + len(front) == 20
    watched.screenshot("pareto")
    assert watched.errors == []


def test_an_early_stopped_trial_is_marked_in_the_pareto_chart_not_a_plain_point(
    context: BrowserContext, dashboard_server: RunningServer
) -> None:
    """Its partial values (here better on both metrics than every completed trial) were a
    grey point beyond the front, as if the front were wrong."""
    experiment = post(
        dashboard_server,
        "/v1/experiments",
        {
            "name": "Pareto with a stopped trial",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "metrics": [
                {"name": "a", "objective": "maximize"},
                {"name": "b", "objective": "minimize"},
            ],
            "observation_budget": 10,
        },
    )
    points = [(0.1, 1, 5, "completed"), (0.2, 2, 6, "completed"), (0.3, 1.5, 7, "completed")]
    points.append((0.4, 4, 2, "early_stopped"))
    ids = [
        post(
            dashboard_server,
            f"/v1/experiments/{experiment['id']}/observations",
            {
                "assignments": {"x": x},
                "values": [{"name": "a", "value": a}, {"name": "b", "value": b}],
                "metadata": {"honed_status": status},
            },
        )["id"]
        for x, a, b, status in points
    ]
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{experiment['id']}")
    wait_loaded(watched)
    series = watched.page.evaluate(
        "() => honedCharts.pareto.getOption().series.map((s) => "
        "[s.id, s.name, s.symbol ?? null, s.data.map((d) => d.id)])"
    )
    assert series == [
        ["others", "observations", None, [ids[2]]],
        ["front", "Pareto front", "emptyCircle", [ids[0], ids[1]]],
        ["stopped", "stopped early", "triangle", [ids[3]]],
    ]
    assert watched.errors == []


def test_live_refresh_shows_a_new_observation(
    context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    watched = sign_in(context, dashboard_server, f"/dashboard/experiments/{seeded.live}")
    page = watched.page
    page.goto(f"{dashboard_server.url}/dashboard/experiments/{seeded.live}?refresh=300")
    wait_loaded(watched)
    page.evaluate("() => { window.notReloaded = true; }")
    expect(page.locator("#observations tbody tr")).to_have_count(1)

    response = httpx.post(
        f"{dashboard_server.url}/v1/experiments/{seeded.live}/observations",
        auth=(dashboard_server.token, ""),
        json={
            "assignments": {"x": 0.25},
            "values": [{"name": "sharpe_ratio", "value": 2.5}],
            "metadata": {"hostname": "late-worker"},
        },
    )
    assert response.status_code == 200, response.text
    new_id = response.json()["id"]
    expect(page.locator(f"#observations tbody tr[data-id='{new_id}']")).to_have_count(1)
    expect(page.locator("#workers tr[data-hostname='late-worker']")).to_have_count(1)
    page.wait_for_function("() => honedCharts.best.getOption().series[0].data.length === 2")
    assert chart_data(watched, "honedCharts.best")[0] == [[1, 1.0], [2, 2.5]]
    assert page.evaluate("() => window.notReloaded") is True
    watched.screenshot("live")
    assert watched.errors == []


def test_share_link_is_read_only(
    browser: Browser, context: BrowserContext, dashboard_server: RunningServer, seeded: Seeded
) -> None:
    url = dashboard_server.url
    owner = sign_in(context, dashboard_server, f"/dashboard/experiments/{seeded.single}")
    wait_loaded(owner)
    owner.page.click("#share")
    link = owner.page.locator("#share-url")
    expect(link).to_have_value(re.compile(r"#share="))
    share_url = link.input_value()
    token = share_url.split("#share=")[1]
    assert share_url.startswith(f"{url}/dashboard/experiments/{seeded.single}#share=")

    # The share token reads but cannot write, nor mint further links.
    auth = (token, "")
    assert httpx.get(f"{url}/v1/experiments/{seeded.single}", auth=auth).status_code == 200
    write = httpx.post(
        f"{url}/v1/experiments/{seeded.single}/observations",
        auth=auth,
        json={"assignments": {"x": 0.5, "y": 2, "kind": "a"}, "values": [{"value": 1}]},
    )
    assert write.status_code == 403
    assert "read-only" in write.json()["message"]
    assert (
        httpx.post(f"{url}/v1/experiments/{seeded.single}/suggestions", auth=auth).status_code
        == 403
    )
    assert httpx.post(f"{url}/dashboard/api/share", auth=auth).status_code == 403
    assert httpx.delete(f"{url}/v1/experiments/{seeded.single}", auth=auth).status_code == 403

    guest_context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        guest = watch(guest_context.new_page())
        guest.page.goto(share_url)
        wait_loaded(guest)
        assert "#" not in guest.page.url  # the token leaves the address bar at once
        expect(guest.page.locator("#read-only")).to_be_visible()
        expect(guest.page.locator("#share")).to_have_count(0)
        (best_line, _observed) = chart_data(guest, "honedCharts.best")
        assert len(best_line) == N_OBSERVATIONS
        guest.screenshot("shared")
        # The link is for this experiment only: the guest's list holds it and no other.
        guest.page.goto(f"{url}/dashboard/")
        expect(guest.page.locator(f"#experiments tr[data-id='{seeded.single}']")).to_have_count(1)
        expect(guest.page.locator("#experiments tbody tr")).to_have_count(1)
        for other in (seeded.pareto, seeded.live):
            assert httpx.get(f"{url}/v1/experiments/{other}", auth=auth).status_code == 404
        assert guest.errors == []
    finally:
        guest_context.close()
    assert owner.errors == []
