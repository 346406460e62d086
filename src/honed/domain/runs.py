"""Training runs (SigOpt's AI module) and their checkpoints.

A run records one evaluation as the user's code reports it: assignments, metric values,
metadata, logs and more, in ``data``; honed's links (experiment, suggestion, observation)
and lifecycle (state, deleted, completed) sit beside it. Runs of an AI experiment get their
assignments from a suggestion, and the observation made when they finish is what the
optimizer learns from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from honed.domain.experiment import Metadata
from honed.domain.records import MetricValue
from honed.domain.validation import check_name
from honed.domain.validation import validate_metadata
from honed.errors import InvalidRequestError

MAX_LOG_LENGTH = 1124  # SigOpt: 1024 characters plus the client's truncation notice
MAX_MAP_ENTRIES = 1000


class RunState(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_finished(self) -> bool:
        return self is not RunState.ACTIVE


@dataclass(frozen=True)
class TrainingRun:
    """``data`` holds what users report, normalized by ``check_run_data``."""

    id: int
    client_id: int
    project: str
    experiment_id: int | None
    suggestion_id: int | None
    observation_id: int | None
    state: RunState
    data: Mapping[str, Any]
    created: int
    updated: int
    completed: int | None = None
    deleted: bool = False
    checkpoint_count: int = 0

    @property
    def name(self) -> str | None:
        name = self.data.get("name")
        return name if isinstance(name, str) else None

    @property
    def assignments(self) -> Mapping[str, Any]:
        return dict(self.data.get("assignments") or {})

    def metric_values(self) -> dict[str, MetricValue]:
        return {
            name: MetricValue(name, value["value"], value.get("value_stddev"))
            for name, value in (self.data.get("values") or {}).items()
        }


@dataclass(frozen=True)
class Checkpoint:
    id: int
    training_run_id: int
    values: tuple[MetricValue, ...]
    metadata: Metadata | None
    created: int


@dataclass(frozen=True)
class RunCounts:
    """Non-deleted runs of an AI experiment, by whether they have finished."""

    active: int
    finished: int

    @property
    def total(self) -> int:
        return self.active + self.finished


@dataclass(frozen=True)
class RunProgress:
    counts: RunCounts
    #: The budget less every run so far (active ones included), or None without a budget.
    remaining_budget: int | None


def merge_json(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """SigOpt's MERGE: objects merge recursively, ``null`` removes a key, the rest replaces."""
    merged = dict(old)
    for key, value in new.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_json(merged[key], value)
        else:
            merged[key] = _without_nulls(value)
    return merged


def replace_json(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """PUT: each given field replaces the stored one; ``null`` removes it."""
    replaced = dict(old)
    for key, value in new.items():
        if value is None:
            replaced.pop(key, None)
        else:
            replaced[key] = _without_nulls(value)
    return replaced


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def check_run_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalize a run's reported data; messages name the field."""
    clean: dict[str, Any] = {}
    for key, value in data.items():
        check = _CHECKS.get(key)
        if check is None:
            raise InvalidRequestError(f"Unknown field {key}")
        clean[key] = check(value, key)
    return clean


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"Invalid {path}: expected a string")
    check_name(value, path)
    return value


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequestError(f"Invalid {path}: expected true or false")
    return value


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequestError(f"Invalid {path}: expected an object")
    if len(value) > MAX_MAP_ENTRIES:
        raise InvalidRequestError(f"Invalid {path}: at most {MAX_MAP_ENTRIES} entries")
    return value


def _flat(value: Any, path: str) -> dict[str, Any]:
    return dict(validate_metadata(_object(value, path), path) or {})


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequestError(f"Invalid {path}: expected a finite number")
    return float(value)


def _values(value: Any, path: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, entry in _object(value, path).items():
        here = f"{path}.{name}"
        check_name(name, here)
        entry = _object(entry, here)
        unknown = sorted(set(entry) - {"value", "value_stddev", "name", "object"})
        if unknown:
            raise InvalidRequestError(f"Unknown field {here}.{unknown[0]}")
        if "value" not in entry:
            raise InvalidRequestError(f"Missing required field {here}.value")
        stddev = entry.get("value_stddev")
        if stddev is not None:
            stddev = _number(stddev, f"{here}.value_stddev")
            if stddev < 0:
                raise InvalidRequestError(f"Invalid {here}.value_stddev: must be >= 0")
        values[name] = {"value": _number(entry["value"], f"{here}.value"), "value_stddev": stddev}
    return values


def _strings_of(*fields: str) -> Any:
    def check(value: Any, path: str) -> dict[str, Any]:
        entry = _object(value, path)
        unknown = sorted(set(entry) - {*fields, "object"})
        if unknown:
            raise InvalidRequestError(f"Unknown field {path}.{unknown[0]}")
        clean = {}
        for field in fields:
            text = entry.get(field)
            if text is not None and not isinstance(text, str):
                raise InvalidRequestError(f"Invalid {path}.{field}: expected a string")
            clean[field] = text
        return clean

    return check


def _map_of(check: Any) -> Any:
    def check_map(value: Any, path: str) -> dict[str, Any]:
        return {
            name: check(entry, f"{path}.{name}") for name, entry in _object(value, path).items()
        }

    return check_map


def _log(value: Any, path: str) -> dict[str, Any]:
    content = _strings_of("content")(value, path)["content"]
    return {"content": content[:MAX_LOG_LENGTH] if content is not None else None}


def _datasets(value: Any, path: str) -> dict[str, Any]:
    # The client sends {"name": {}}; a list of names is accepted too.
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = {name: {} for name in value}
    return {name: {} for name in _object(value, path)}


def _source(value: Any, path: str) -> dict[str, Any]:
    entry = _object(value, path)
    sort = entry.get("sort")
    default_show = entry.get("default_show")
    return {
        "sort": _number(sort, f"{path}.sort") if sort is not None else None,
        "default_show": _bool(default_show, f"{path}.default_show")
        if default_show is not None
        else None,
    }


def _any_object(value: Any, path: str) -> dict[str, Any]:
    return dict(_object(value, path))


_CHECKS: dict[str, Any] = {
    "name": _name,
    "assignments": _flat,
    "values": _values,
    "metadata": _flat,
    "dev_metadata": _flat,
    "sys_metadata": _any_object,
    "datasets": _datasets,
    "logs": _map_of(_log),
    "model": _strings_of("type"),
    "source_code": _strings_of("content", "hash"),
    "assignments_meta": _map_of(_strings_of("source")),
    "assignments_sources": _map_of(_source),
    "favorite": _bool,
}
