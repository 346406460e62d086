"""Charts of an experiment with long parameter names, a dozen long categories and long host
names, on a desktop and a phone: no two texts overlap and none is cut off, a name too
long for its place is shortened with an ellipsis, and pointing at it (on a phone, tapping
it) shows it whole."""

from __future__ import annotations

import math
import time
from typing import Any

from playwright.sync_api import Browser
from playwright.sync_api import expect

from honed.domain.analysis import Importance
from honed.domain.analysis import MetricAnalysis
from honed.domain.analysis import ModelAnalysis
from honed.domain.analysis import Slice
from honed.storage.sql.storage import SqlStorage
from tests.dashboard.browser import Watched
from tests.dashboard.browser import label_problems
from tests.dashboard.browser import post
from tests.dashboard.browser import sign_in
from tests.dashboard.browser import wait_loaded
from tests.support.server import RunningServer

LEARNING_RATE = "learning_rate_of_the_warmup_phase_before_cosine_decay"
DROPOUT = "dropout_probability_in_the_attention_layers"
OPTIMIZER = "optimizer_with_its_learning_rate_schedule"
LAYERS = "number_of_transformer_encoder_layers"
METRIC = "validation_cross_entropy_loss_on_held_out_data"
SCHEDULES = [
    "sgd_nesterov_momentum_0.9",
    "adamw_cosine_with_restarts",
    "adam_linear_warmup",
    "lamb_polynomial_decay",
    "rmsprop_step_decay",
    "adagrad_constant_rate",
    "lion_cosine_annealing",
    "sophia_inverse_square_root",
    "adafactor_relative_step",
    "novograd_one_cycle_policy",
    "radam_exponential_decay",
    "lars_linear_scaling_rule",
]
HOSTS = [f"gpu-node-{k}.training-cluster.internal.example.org" for k in range(1, 9)]
N = 60


def crowded_experiment(server: RunningServer, database: str) -> str:
    experiment: str = post(
        server,
        "/v1/experiments",
        {
            "name": "Transformer pretraining with long names",
            "parameters": [
                {
                    "name": LEARNING_RATE,
                    "type": "double",
                    "bounds": {"min": 1e-5, "max": 1e-1},
                    "transformation": "log",
                },
                {"name": DROPOUT, "type": "double", "bounds": {"min": 0, "max": 0.5}},
                {"name": OPTIMIZER, "type": "categorical", "categorical_values": SCHEDULES},
                {"name": LAYERS, "type": "int", "bounds": {"min": 2, "max": 48}},
            ],
            "metrics": [{"name": METRIC, "objective": "minimize"}],
        },
    )["id"]
    now = time.time()
    batch: list[dict[str, Any]] = []
    for i in range(N):
        rate = 10 ** (-5 + 4 * ((i * 0.618) % 1))
        assignments = {
            LEARNING_RATE: rate,
            DROPOUT: round(0.5 * ((i * 0.7549) % 1), 4),
            OPTIMIZER: SCHEDULES[i % len(SCHEDULES)],
            LAYERS: 2 + (i * 7) % 47,
        }
        loss = 2.1 + 0.3 * (math.log10(rate) + 3) ** 2 + 0.02 * (i % len(SCHEDULES))
        batch.append(
            {
                "assignments": assignments,
                "values": [{"name": METRIC, "value": round(loss, 4)}],
                "metadata": {
                    "hostname": HOSTS[i % len(HOSTS)],
                    "honed_started": now - 3600 + 50 * i,
                    "honed_ended": now - 3600 + 50 * i + 300,
                },
            }
        )
    post(server, f"/v1/experiments/{experiment}/observations/batch", {"observations": batch})
    # What an optimizer process would store; this server runs none.
    numeric = {LEARNING_RATE: (1e-5, 1e-1), DROPOUT: (0.0, 0.5), LAYERS: (2, 48)}
    slices = [
        Slice(name, (low, high), (2.5, 2.4), (2.2, 2.1), (2.8, 2.7))
        for name, (low, high) in numeric.items()
    ]
    means = tuple(2.2 + 0.01 * k for k in range(len(SCHEDULES)))
    slices.append(
        Slice(
            OPTIMIZER,
            tuple(SCHEDULES),
            means,
            tuple(m - 0.1 for m in means),
            tuple(m + 0.1 for m in means),
        )
    )
    shares = {LEARNING_RATE: 0.7, OPTIMIZER: 0.15, LAYERS: 0.1, DROPOUT: 0.05}
    importance = tuple(Importance(name, s, s, s) for name, s in shares.items())
    best = batch[min(range(N), key=lambda i: batch[i]["values"][0]["value"])]
    metric = MetricAnalysis(METRIC, importance, 1.0, best["assignments"], tuple(slices))
    storage = SqlStorage.from_url(database)
    try:
        storage.store_model_analysis(int(experiment), ModelAnalysis(N, now, 0.5, 64, (metric,)))
    finally:
        storage.close()
    return experiment


def open_page(watched: Watched, server: RunningServer, experiment: str) -> None:
    watched.page.goto(f"{server.url}/dashboard/experiments/{experiment}")
    wait_loaded(watched)
    watched.page.wait_for_function(
        "() => honedCharts.importance && honedCharts.importance.getOption().series.length"
    )


# The texts of a chart drawn cut short, each with the page coordinates of its middle.
CUT_TEXTS = """(name) => {
  const c = name.startsWith("scatter.") ? honedCharts.scatter[name.slice(8)] : honedCharts[name];
  const box = c.getDom().getBoundingClientRect();
  const found = [];
  for (const el of c.getZr().storage.getDisplayList(true)) {
    if (el.type !== "tspan" || !String(el.style.text).endsWith("…")) continue;
    // The glyphs' box, as label_problems.js finds it.
    const size = el.style.fontSize || 12;
    const r = el.getBoundingRect().clone();
    const middle = { top: size / 2, middle: 0, bottom: -size / 2 }[el.style.textBaseline]
      ?? -0.35 * size;
    r.y = (el.style.y || 0) + middle - 0.375 * size;
    r.height = 0.75 * size;
    r.applyTransform(el.getComputedTransform());
    // Where input lands: the visual viewport (a phone's) may sit below the layout one.
    const [x, y] = [box.left + r.x + r.width / 2 - visualViewport.offsetLeft,
      box.top + r.y + r.height / 2 - visualViewport.offsetTop];
    found.push([String(el.style.text), x, y]);
  }
  return found;
}"""
FULL_NAMES = {LEARNING_RATE, DROPOUT, OPTIMIZER, LAYERS, METRIC, *SCHEDULES, *HOSTS}


def check_shown_whole(watched: Watched, chart: str, dom_id: str, phone: bool) -> int:
    """Points at (on a phone: taps) each text of ``chart`` that is cut short: a tip shows it
    whole, and goes when the pointer leaves. How many there were."""
    page = watched.page
    # At once, so that the texts' places are read where they stay.
    page.locator(f"#{dom_id}").evaluate(
        "(node) => node.scrollIntoView({ block: 'center', behavior: 'instant' })"
    )
    tip = page.locator(f"#{dom_id} .chart-tip")
    cut: list[tuple[str, float, float]] = page.evaluate(CUT_TEXTS, chart)
    for text, x, y in cut:
        if phone:
            page.touchscreen.tap(x, y)
        else:
            page.mouse.move(x, y)
        expect(tip).to_be_visible()
        whole = tip.inner_text()
        assert whole.removesuffix(" (log)") in FULL_NAMES, (chart, text, whole)
        assert whole.startswith(text.removesuffix("…")), (chart, text, whole)
        if not phone:
            page.mouse.move(0, 0)
            expect(tip).to_be_hidden()
    return len(cut)


def test_long_names_and_many_categories_stay_legible(
    browser: Browser, dashboard_server: RunningServer, dashboard_database: str
) -> None:
    experiment = crowded_experiment(dashboard_server, dashboard_database)
    for width, height in ((1400, 900), (390, 844)):
        context = browser.new_context(
            viewport={"width": width, "height": height},
            is_mobile=width < 600,
            has_touch=width < 600,
        )
        try:
            watched = sign_in(context, dashboard_server)
            open_page(watched, dashboard_server, experiment)
            watched.screenshot(f"crowded-{width}")
            assert label_problems(watched) == [], width
            # Names and labels that do not fit are cut, and show whole when pointed at.
            charts = {
                "importance": "chart-importance",
                "timeline": "chart-timeline",
                "parallel": "chart-parallel",
                f"scatter.{LEARNING_RATE}": f"scatter-{LEARNING_RATE}",
                f"scatter.{OPTIMIZER}": f"scatter-{OPTIMIZER}",
            }
            cut = {
                chart: check_shown_whole(watched, chart, dom, phone=width < 600)
                for chart, dom in charts.items()
            }
            assert all(cut.values()), cut
            assert watched.errors == []
        finally:
            context.close()
