"""Notebook helpers against a real server: a DataFrame and a plotly best-so-far figure."""

from __future__ import annotations

import subprocess
import sys

import pytest

from honed.client import Client
from honed.notebook import NotebookExperiment
from honed.notebook import best_so_far_figure
from honed.notebook import to_dataframe
from tests.dashboard.seed import N_OBSERVATIONS
from tests.dashboard.seed import Seeded
from tests.dashboard.seed import best_so_far
from tests.support.server import RunningServer


def test_to_dataframe(dashboard_server: RunningServer, seeded: Seeded) -> None:
    frame = to_dataframe(seeded.single, url=dashboard_server.url, token=dashboard_server.token)
    assert len(frame) == N_OBSERVATIONS
    assert frame.index.name == "id"
    assert frame["failed"].tolist() == [v is None for v in seeded.values]
    assert frame["accuracy"].dropna().tolist() == [v for v in seeded.values if v is not None]
    assert "UTC" in str(frame["created"].dtype)
    assert set(frame["kind"]) == {"a", "b", "c"}


def test_best_so_far_figure(dashboard_server: RunningServer, seeded: Seeded) -> None:
    figure = best_so_far_figure(
        seeded.single, url=dashboard_server.url, token=dashboard_server.token
    )
    observed, best = figure.data
    assert list(best.y) == best_so_far(seeded.values)
    assert list(observed.x) == list(range(1, N_OBSERVATIONS + 1))
    assert figure.layout.xaxis.title.text == "observations"


def test_minimized_metric_and_unknown_metric(
    dashboard_server: RunningServer, seeded: Seeded
) -> None:
    experiment = NotebookExperiment(seeded.pareto, dashboard_server.url, dashboard_server.token)
    try:
        frame = experiment.to_dataframe()
        figure = experiment.best_so_far_figure("latency")
        assert list(figure.data[1].y) == frame["latency"].cummin().tolist()
        with pytest.raises(ValueError, match="Unknown metric 'speed'"):
            experiment.best_so_far_figure("speed")
    finally:
        experiment.close()


def test_client_side_modules_stay_light() -> None:
    """The CLI's and notebooks' HTTP path loads no server, storage or torch code, and pandas
    and plotly only when a frame or figure is asked for."""
    code = (
        "import sys, honed.notebook, honed.remote, honed.export, honed.cli.experiments; "
        "print(sorted(m for m in ('torch', 'fastapi', 'sqlalchemy', 'pandas', 'plotly') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_honed_client_gives_frames_and_figures(
    dashboard_server: RunningServer, seeded: Seeded
) -> None:
    """The same helpers on honed's own client (the object the Scheduler and scripts use)."""
    with Client(dashboard_server.url, token=dashboard_server.token) as client:
        frame = client.to_dataframe(str(seeded.single))
        figure = client.best_so_far_figure(str(seeded.single))
    assert len(frame) == N_OBSERVATIONS
    assert frame["accuracy"].dropna().tolist() == [v for v in seeded.values if v is not None]
    assert list(figure.data[1].y) == best_so_far(seeded.values)
