"""Observations as flat rows, one per observation: the one column set of every export.

``honed export`` (CSV and parquet), the notebook's DataFrame and the dashboard's CSV
download all build their rows here, so a file from one reads like a file from another. The
server builds them from its records; the CLI and the notebooks from the v1 API's JSON,
turned back into the same records. Columns, in order:

- ``id``, ``created`` (seconds; in CSV, ISO 8601 in UTC to the second, as honed stores
  times: ``2026-01-02T03:04:05Z``), ``status`` (completed, failed or early_stopped,
  honed.domain.trials), ``failed``, ``suggestion`` (its id, empty for an observation
  reported without one) and ``source`` (what chose the point, in the words of
  honed.domain.records.generation_method: design, optimizer, fallback or manual);
- ``task`` (the task's name), for a multitask experiment only;
- each conditional, then each parameter, by name (empty where the conditionals' values
  leave a parameter inactive);
- each metric by name (``value`` for an unnamed one; ``metric.<name>`` if a parameter has
  the same name), with ``<metric>_stddev`` where any observation reported one;
- ``metadata.<key>`` for every key any observation has (the worker's ``hostname`` and a
  scheduler trial's reason and times among them).

Conditionals, parameters, metrics and metadata keys are each in order of name, as the v1
API lists them, so rows made from either side line up.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import IO
from typing import Any

from honed.domain.experiment import ExperimentSpec
from honed.domain.records import Observation
from honed.domain.records import generation_method
from honed.domain.trials import status_of

Row = dict[str, Any]
#: A multitask experiment's column of the task each observation evaluated.
TASK_COLUMN = "task"
#: The columns every row starts with.
LEADING_COLUMNS = ("id", "created", "status", "failed", "suggestion", "source")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class TableSchema:
    """What of an experiment decides its columns (any order in, name order kept)."""

    conditionals: tuple[str, ...]
    parameters: tuple[str, ...]
    metrics: tuple[str | None, ...]
    multitask: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "conditionals", tuple(sorted(self.conditionals)))
        object.__setattr__(self, "parameters", tuple(sorted(self.parameters)))
        object.__setattr__(self, "metrics", tuple(sorted(self.metrics, key=str)))

    @classmethod
    def of(cls, spec: ExperimentSpec) -> TableSchema:
        return cls(
            conditionals=tuple(c.name for c in spec.space.conditionals),
            parameters=tuple(p.name for p in spec.space.parameters),
            metrics=tuple(m.name for m in spec.metrics),
            multitask=bool(spec.tasks),
        )

    @property
    def assigned(self) -> tuple[str, ...]:
        """The keys of the assignments: the conditionals, then the parameters."""
        return self.conditionals + self.parameters

    def metric_column(self, name: str | None) -> str:
        return metric_column(name, set(self.assigned))


def metric_column(name: str | None, assigned: set[str]) -> str:
    """A metric's column: ``value`` for the unnamed one, ``metric.<name>`` where a
    parameter or conditional has the same name."""
    column = name if name is not None else "value"
    return f"metric.{column}" if column in assigned else column


def observation_rows(
    schema: TableSchema,
    observations: Sequence[Observation],
    sources: Mapping[int, str],
) -> list[Row]:
    """One row per observation, in the order given. ``sources``: each answered
    suggestion's stored ``source`` by suggestion id (a missing one leaves ``source``
    empty, as for an observation reported without a suggestion)."""
    with_stddev = {v.name for o in observations for v in o.values if v.value_stddev is not None}
    metadata_keys = sorted({str(k) for o in observations for k in (o.metadata or {})})
    rows = []
    for o in observations:
        source = sources.get(o.suggestion_id) if o.suggestion_id is not None else None
        row: Row = {
            "id": o.id,
            "created": o.created,
            "status": status_of(o),
            "failed": o.failed,
            "suggestion": o.suggestion_id,
            "source": generation_method(source),
        }
        if schema.multitask:
            row[TASK_COLUMN] = o.task
        for name in schema.assigned:
            row[name] = o.assignments.get(name)
        values = {v.name: v for v in o.values}
        for metric in schema.metrics:
            column = schema.metric_column(metric)
            value = values.get(metric)
            row[column] = value.value if value is not None else None
            if metric in with_stddev:
                row[f"{column}_stddev"] = value.value_stddev if value is not None else None
        metadata = o.metadata or {}
        for key in metadata_keys:
            row[f"metadata.{key}"] = metadata.get(key)
        rows.append(row)
    return rows


def columns_of(schema: TableSchema, rows: Sequence[Row]) -> list[str]:
    """The rows' columns; without rows, those every export has."""
    if rows:
        return list(rows[0])
    return [
        *LEADING_COLUMNS,
        *([TASK_COLUMN] if schema.multitask else []),
        *schema.assigned,
        *(schema.metric_column(m) for m in schema.metrics),
    ]


def write_csv(schema: TableSchema, rows: Sequence[Row], out: IO[str]) -> None:
    """The rows as CSV (one ``\\n`` per line), ``created`` in ISO 8601 (a spreadsheet
    reads it as a time, where integer seconds are just a number)."""
    writer = csv.DictWriter(out, fieldnames=columns_of(schema, rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(_timed(rows))


def _timed(rows: Iterable[Row]) -> Iterable[Row]:
    for row in rows:
        yield {**row, "created": iso_8601(row["created"])}


def iso_8601(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime(TIME_FORMAT)
