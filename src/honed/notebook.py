"""Notebook helpers: an experiment's observations as a pandas DataFrame, and its
best-so-far curve as a plotly figure.

    >>> from honed.notebook import NotebookExperiment
    >>> exp = NotebookExperiment("12", url="http://honed:8080", token="...")  # doctest: +SKIP
    >>> exp.to_dataframe().head()  # doctest: +SKIP
    >>> exp.best_so_far_figure().show()  # doctest: +SKIP

pandas and plotly load on first use, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from honed.export import assigned_names
from honed.export import columns_of
from honed.export import metric_column
from honed.export import observation_rows
from honed.remote import Remote

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

__all__ = ["NotebookExperiment", "best_so_far", "best_so_far_figure", "to_dataframe"]


class NotebookExperiment:
    """One experiment on a honed server (url/token default to SIGOPT_API_URL/TOKEN).

    Every call fetches fresh data, so re-running a cell shows the latest observations.
    """

    def __init__(self, experiment_id: str | int, url: str | None = None, token: str | None = None):
        self.id = str(experiment_id)
        self._remote = Remote(url, token)

    def fetch(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The experiment and its observations (oldest first), as the v1 API returns them."""
        return self._remote.experiment(self.id), self._remote.observations(self.id)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per observation; columns as in ``honed export --format csv``."""
        return frame_of(*self.fetch(), sources=self._remote.suggestion_sources(self.id))

    def best_so_far_figure(self, metric: str | None = None) -> go.Figure:
        """The best value so far against the number of observations (plotly)."""
        return figure_of(*self.fetch(), metric=metric)

    def close(self) -> None:
        self._remote.close()


def to_dataframe(
    experiment_id: str | int, url: str | None = None, token: str | None = None
) -> pd.DataFrame:
    experiment = NotebookExperiment(experiment_id, url, token)
    try:
        return experiment.to_dataframe()
    finally:
        experiment.close()


def best_so_far_figure(
    experiment_id: str | int,
    url: str | None = None,
    token: str | None = None,
    metric: str | None = None,
) -> go.Figure:
    experiment = NotebookExperiment(experiment_id, url, token)
    try:
        return experiment.best_so_far_figure(metric)
    finally:
        experiment.close()


def frame_of(
    experiment: dict[str, Any],
    observations: list[dict[str, Any]],
    sources: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """``sources``: each suggestion's ``source`` by id, for the ``source`` column."""
    import pandas as pd

    rows = observation_rows(experiment, observations, sources)
    frame = pd.DataFrame(rows, columns=columns_of(experiment, rows))
    frame["created"] = pd.to_datetime(frame["created"], unit="s", utc=True)
    return frame.set_index("id")


def best_so_far(
    experiment: dict[str, Any], observations: list[dict[str, Any]], metric: str | None = None
) -> tuple[str, list[float | None], list[float | None]]:
    """(metric column, each observation's value, the running best), oldest first.

    Failed observations, those outside a metric threshold and (multitask) those of a task
    other than the cost-1 one do not count as best.
    """
    metrics = [m for m in experiment.get("metrics", []) if m.get("strategy") != "store"]
    optimized = [m for m in metrics if m.get("strategy", "optimize") == "optimize"] or metrics
    chosen = next((m for m in optimized if m.get("name") == metric), None)
    if chosen is None:
        if metric is not None:
            known = [m.get("name") or "value" for m in optimized]
            raise ValueError(f"Unknown metric {metric!r}: expected one of {known}")
        chosen = optimized[0]
    sign = -1.0 if chosen.get("objective") == "minimize" else 1.0
    targets = {t.get("name") for t in experiment.get("tasks") or [] if t.get("cost") == 1}
    values: list[float | None] = []
    running: list[float | None] = []
    best: float | None = None
    for o in observations:
        found = [v["value"] for v in o.get("values") or [] if v.get("name") == chosen.get("name")]
        value = None if o.get("failed") or not found else float(found[0])
        values.append(value)
        if (
            value is not None
            and _within_thresholds(metrics, o)
            and (not targets or (o.get("task") or {}).get("name") in targets)
            and (best is None or sign * value > sign * best)
        ):
            best = value
        running.append(best)
    names = set(assigned_names(experiment))
    return metric_column(chosen.get("name"), names), values, running


def _within_thresholds(metrics: list[dict[str, Any]], observation: dict[str, Any]) -> bool:
    values = {v.get("name"): v["value"] for v in observation.get("values") or []}
    for m in metrics:
        threshold = m.get("threshold")
        value = values.get(m.get("name"))
        if threshold is None:
            continue
        if value is None:
            return False
        if (value < threshold) if m.get("objective") != "minimize" else (value > threshold):
            return False
    return True


def figure_of(
    experiment: dict[str, Any], observations: list[dict[str, Any]], metric: str | None = None
) -> go.Figure:
    import plotly.graph_objects as go

    column, values, running = best_so_far(experiment, observations, metric)
    x = list(range(1, len(observations) + 1))
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=x, y=values, mode="markers", name=column, marker={"color": "#9aa5b1", "size": 6}
        )
    )
    figure.add_trace(
        go.Scatter(x=x, y=running, mode="lines", name=f"best {column}", line={"shape": "hv"})
    )
    figure.update_layout(
        title=f"{experiment.get('name', '')}: best {column} so far",
        xaxis_title="observations",
        yaxis_title=column,
        template="plotly_white",
    )
    return figure
