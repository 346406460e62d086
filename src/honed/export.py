"""Observations as flat rows (one per observation) for CSV, JSON, parquet and pandas.

Works on the v1 wire JSON, so it serves the CLI and the notebook helpers alike. Columns:
``id, created, suggestion, failed`` (``created`` in seconds; ISO 8601 in CSV), ``task``
(the task's name) for a multitask experiment, then each
conditional and each parameter by name (empty where the conditionals' values leave a
parameter inactive), each metric by name (``value`` for an unnamed one; ``metric.<name>`` if
a parameter has the same name) with ``<metric>_stddev`` where any observation reported one,
then ``metadata.<key>``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import IO
from typing import Any

FORMATS = ("csv", "json", "parquet")
JSON = dict[str, Any]
#: A multitask experiment's column of the task each observation evaluated.
TASK_COLUMN = "task"


def metric_column(name: str | None, parameter_names: set[str]) -> str:
    column = name if name is not None else "value"
    return f"metric.{column}" if column in parameter_names else column


def assigned_names(experiment: JSON) -> list[str]:
    """The keys of an experiment's assignments: its conditionals, then its parameters."""
    return [c["name"] for c in experiment.get("conditionals") or []] + [
        p["name"] for p in experiment.get("parameters", [])
    ]


def observation_rows(experiment: JSON, observations: Sequence[JSON]) -> list[dict[str, Any]]:
    parameters = assigned_names(experiment)
    names = set(parameters)
    metrics = [m.get("name") for m in experiment.get("metrics", [])]
    multitask = bool(experiment.get("tasks"))
    with_stddev = {
        v.get("name")
        for o in observations
        for v in o.get("values") or []
        if v.get("value_stddev") is not None
    }
    metadata_keys = sorted({k for o in observations for k in (o.get("metadata") or {})})
    rows = []
    for o in observations:
        row: dict[str, Any] = {
            "id": int(o["id"]),
            "created": o.get("created"),
            "suggestion": int(o["suggestion"]) if o.get("suggestion") else None,
            "failed": bool(o.get("failed")),
        }
        if multitask:
            row[TASK_COLUMN] = (o.get("task") or {}).get("name")
        assignments = o.get("assignments") or {}
        for name in parameters:
            row[name] = assignments.get(name)
        values = {v.get("name"): v for v in o.get("values") or []}
        for metric in metrics:
            column = metric_column(metric, names)
            value = values.get(metric) or {}
            row[column] = value.get("value")
            if metric in with_stddev:
                row[f"{column}_stddev"] = value.get("value_stddev")
        metadata = o.get("metadata") or {}
        for key in metadata_keys:
            row[f"metadata.{key}"] = metadata.get(key)
        rows.append(row)
    return rows


def columns_of(experiment: JSON, rows: Sequence[dict[str, Any]]) -> list[str]:
    if rows:
        return list(rows[0])
    assigned = assigned_names(experiment)
    names = set(assigned)
    return [
        "id",
        "created",
        "suggestion",
        "failed",
        *([TASK_COLUMN] if experiment.get("tasks") else []),
        *assigned,
        *(metric_column(m.get("name"), names) for m in experiment.get("metrics", [])),
    ]


def write_csv(experiment: JSON, rows: Sequence[dict[str, Any]], out: IO[str]) -> None:
    """The rows, with ``created`` as ISO 8601 in UTC (a spreadsheet reads it as a time,
    where integer seconds are just a number)."""
    writer = csv.DictWriter(out, fieldnames=columns_of(experiment, rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "created": iso_8601(row["created"])} for row in rows)


def iso_8601(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(experiment: JSON, observations: Sequence[JSON], out: IO[str]) -> None:
    """The experiment and its observations exactly as the v1 API returns them."""
    json.dump({"experiment": experiment, "observations": list(observations)}, out, indent=2)
    out.write("\n")


def write_parquet(experiment: JSON, rows: Sequence[dict[str, Any]], path: Path) -> None:
    try:
        import pyarrow  # noqa: F401  (pandas needs it for parquet; say so plainly if missing)
    except ImportError:
        raise RuntimeError(
            "Parquet export needs pyarrow: pip install 'honed[parquet]' (or pyarrow)"
        ) from None
    import pandas as pd

    pd.DataFrame(list(rows), columns=columns_of(experiment, rows)).to_parquet(path, index=False)
