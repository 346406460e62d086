"""Training runs (SigOpt's AI module) and their checkpoints.

A run records one evaluation as the user's code reports it: assignments, metric values,
metadata, logs and more, in ``data``; honed's links (experiment, suggestion, observation)
and lifecycle (state, deleted, completed) sit beside it. Runs of an AI experiment get their
assignments from a suggestion, and the observation made when they finish is what the
optimizer learns from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated
from typing import Any

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictFloat
from pydantic import StrictInt
from pydantic import StrictStr
from pydantic import ValidationError
from pydantic import ValidationInfo
from pydantic.json_schema import SkipJsonSchema

from honed.domain.experiment import Metadata
from honed.domain.records import MetricValue
from honed.domain.validation import MAX_NAME_LENGTH
from honed.domain.validation import check_name
from honed.domain.validation import describe
from honed.domain.validation import validate_metadata
from honed.errors import InvalidRequestError

MAX_LOG_LENGTH = 1124  # SigOpt: 1024 characters plus the client's truncation notice
MAX_MAP_ENTRIES = 1000
MAX_BATCH = 10_000  # runs created at once


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
    #: Its files (honed.domain.files), pending ones too, and its tags, by id.
    file_ids: tuple[int, ...] = ()
    tag_ids: tuple[int, ...] = ()

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


# What a run's data may hold: the part of a run body users report (honed.api.schemas adds the
# lifecycle fields). pydantic, as for every body, so that one set of models checks the data
# and documents it. Bodies are checked against these models as sent, and a run's data again
# after a MERGE or PUT has combined them with the stored data (null removes a key there, so a
# body may hold nulls inside its objects, and stored data never does).
class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# The ``object`` (and a value's ``name``) that honed renders: accepted back, never stored.
Rendered = Annotated[Any, Field(exclude=True)]


def _flat(value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    validate_metadata(value, info.field_name or "metadata")
    return value


def _value_names(values: dict[str, Any]) -> dict[str, Any]:
    for name in values:
        check_name(name, f"values.{name}")
    return values


def _log(content: str | None) -> str | None:
    return content[:MAX_LOG_LENGTH] if content is not None else None


# SigOpt metadata: strings and numbers (honed.domain.validation.validate_metadata).
Flat = Annotated[
    dict[str, StrictStr | StrictInt | StrictFloat | None],
    AfterValidator(_flat),
]
Entries = Field(max_length=MAX_MAP_ENTRIES)
RunName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
# A map's keys are names, as metadata keys are: a 200 KB key was stored before.
Key = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]


class RunValue(_Part):
    value: float
    value_stddev: float | None = Field(default=None, ge=0)
    name: Rendered = None
    object: Rendered = None


class RunLog(_Part):
    content: Annotated[str | None, AfterValidator(_log)] = None
    object: Rendered = None


class RunModel(_Part):
    type: str | None = None
    object: Rendered = None


class RunSourceCode(_Part):
    content: str | None = None
    hash: str | None = None
    object: Rendered = None


class RunAssignmentMeta(_Part):
    source: str | None = None
    object: Rendered = None


class RunAssignmentSource(_Part):
    """Other keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    sort: float | None = None
    default_show: bool | None = None


class RunData(_Part):
    """A run's reported data; null (in a body) removes a field."""

    # Optional but not nullable in the document: only a body's MERGE or PUT may send null,
    # which the run service refuses for a name.
    name: RunName | SkipJsonSchema[None] = None
    assignments: Flat | None = None
    values: Annotated[dict[str, RunValue | None], Entries, AfterValidator(_value_names)] | None = (
        None
    )
    metadata: Flat | None = None
    dev_metadata: Flat | None = None
    sys_metadata: Annotated[dict[Key, Any], Entries] | None = None
    # The client sends {"name": {}}; a list of names is accepted too.
    datasets: Annotated[dict[Key, Any], Entries] | Annotated[list[Key], Entries] | None = None
    logs: Annotated[dict[Key, RunLog | None], Entries] | None = None
    model: RunModel | None = None
    source_code: RunSourceCode | None = None
    assignments_meta: Annotated[dict[Key, RunAssignmentMeta | None], Entries] | None = None
    assignments_sources: Annotated[dict[Key, RunAssignmentSource | None], Entries] | None = None
    favorite: bool | None = None


def check_run_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalize a run's reported data; messages name the field."""
    try:
        run = RunData.model_validate(data)
    except ValidationError as error:
        raise InvalidRequestError(describe(error.errors(include_url=False)[0])) from None
    clean = run.model_dump(include=run.model_fields_set)
    if isinstance(clean.get("datasets"), list | dict):
        clean["datasets"] = {name: {} for name in clean["datasets"]}
    return clean
