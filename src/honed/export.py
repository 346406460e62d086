"""Exports: observations as flat rows (one per observation) for CSV, parquet and pandas,
and the experiment with its observations as JSON.

Works on the v1 wire JSON, so it serves the CLI and the notebook helpers alike: the JSON is
turned back into honed's records and laid out by honed.domain.table, the one column set
the dashboard's CSV download uses too (its docstring lists the columns). JSON is the
experiment and its observations as the API returns them, each with its suggestion's source
and intermediate values (honed.api.export), the dashboard's JSON download too.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import IO
from typing import Any

from honed.api.export import AnsweredSuggestion
from honed.api.export import export_json
from honed.api.export import export_observations
from honed.domain import table
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.table import TableSchema

FORMATS = ("csv", "json", "parquet")
JSON = dict[str, Any]


def schema_of(experiment: JSON) -> TableSchema:
    """The columns' part of a v1 experiment."""
    return TableSchema(
        conditionals=tuple(c["name"] for c in experiment.get("conditionals") or []),
        parameters=tuple(p["name"] for p in experiment.get("parameters") or []),
        metrics=tuple(m.get("name") for m in experiment.get("metrics") or []),
        multitask=bool(experiment.get("tasks")),
    )


def assigned_names(experiment: JSON) -> list[str]:
    """The keys of an experiment's assignments: its conditionals, then its parameters."""
    return list(schema_of(experiment).assigned)


def metric_column(name: str | None, parameter_names: set[str]) -> str:
    return table.metric_column(name, parameter_names)


def observation_of(data: JSON) -> Observation:
    """A v1 observation as the record the server rendered it from."""
    suggestion = data.get("suggestion")
    return Observation(
        id=int(data["id"]),
        experiment_id=int(data.get("experiment") or 0),
        suggestion_id=int(suggestion) if suggestion else None,
        assignments=dict(data.get("assignments") or {}),
        values=tuple(
            MetricValue(v.get("name"), float(v["value"]), v.get("value_stddev"))
            for v in data.get("values") or []
        ),
        failed=bool(data.get("failed")),
        metadata=data.get("metadata"),
        created=int(data["created"]),
        deleted=bool(data.get("deleted")),
        task=(data.get("task") or {}).get("name"),
    )


def observation_rows(
    experiment: JSON,
    observations: Sequence[JSON],
    sources: Mapping[int, str] | None = None,
) -> list[dict[str, Any]]:
    """``sources``: each suggestion's ``source`` by id (``honed.remote.sources_of``);
    without them the ``source`` column is empty."""
    return table.observation_rows(
        schema_of(experiment), [observation_of(o) for o in observations], sources or {}
    )


def columns_of(experiment: JSON, rows: Sequence[dict[str, Any]]) -> list[str]:
    return table.columns_of(schema_of(experiment), rows)


def write_csv(experiment: JSON, rows: Sequence[dict[str, Any]], out: IO[str]) -> None:
    """The rows, with ``created`` as ISO 8601 in UTC, exactly as the dashboard's download."""
    table.write_csv(schema_of(experiment), rows, out)


def write_json(
    experiment: JSON,
    observations: Sequence[JSON],
    suggestions: Mapping[int, JSON],
    out: IO[str],
) -> None:
    """The experiment and its observations exactly as the v1 API returns them, each with
    its suggestion's source and intermediate values, in the JSON the dashboard's download
    serves (honed.api.export). ``suggestions``: the v1 suggestions by id
    (``Remote.suggestions_by_id``)."""
    answered = {
        i: AnsweredSuggestion(s["source"], s.get("metadata"))
        for i, s in suggestions.items()
        if s.get("source")
    }
    out.write(export_json(experiment, export_observations(observations, answered)))


def write_parquet(experiment: JSON, rows: Sequence[dict[str, Any]], path: Path) -> None:
    try:
        import pyarrow  # noqa: F401  (pandas needs it for parquet; say so plainly if missing)
    except ImportError:
        raise RuntimeError(
            "Parquet export needs pyarrow: pip install 'honed[parquet]' (or pyarrow)"
        ) from None
    import pandas as pd

    pd.DataFrame(list(rows), columns=columns_of(experiment, rows)).to_parquet(path, index=False)
