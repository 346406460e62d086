"""Request bodies in SigOpt v1 shapes.

Top-level unknown keys are refused, as sigopt-server does. Inside parameters and metrics
the fields honed itself renders (``object``, ``enum_index``, ...) are accepted and ignored,
so a client can send back an experiment's own ``parameters``.
"""

from __future__ import annotations

from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import SkipValidation
from pydantic import StrictBool
from pydantic import StrictFloat
from pydantic import StrictInt
from pydantic import StrictStr
from pydantic import field_validator
from pydantic.json_schema import SkipJsonSchema

from honed.domain.projects import MAX_PROJECT_ID_LENGTH
from honed.domain.projects import PROJECT_ID_PATTERN
from honed.domain.runs import MAX_BATCH
from honed.domain.runs import RunData
from honed.domain.runs import RunName

Number = StrictInt | StrictFloat
Value = StrictInt | StrictFloat | StrictStr
Id = StrictInt | StrictStr


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Bounds(Body):
    object: Literal["bounds"] | None = None
    min: Number
    max: Number


class CategoricalValue(Body):
    object: Literal["categorical_value"] | None = None
    name: StrictStr
    enum_index: StrictInt | None = None
    deleted: StrictBool | None = None


class ParameterIn(Body):
    object: Literal["parameter"] | None = None
    name: StrictStr
    type: Literal["double", "int", "categorical"]
    bounds: Bounds | None = None
    categorical_values: list[CategoricalValue] | None = None
    grid: list[Number] | None = None
    transformation: Literal["log", "none"] | None = None
    default_value: Value | None = None
    prior: dict[str, Any] | None = None
    #: Per conditional, the value (or values) under which the parameter applies.
    conditions: dict[StrictStr, StrictStr | list[StrictStr]] | None = None
    precision: StrictInt | None = None
    tunable: StrictBool | None = None

    @field_validator("categorical_values", mode="before")
    @classmethod
    def _names_to_objects(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


class ConditionalIn(Body):
    object: Literal["conditional"] | None = None
    name: StrictStr
    values: list[StrictStr]


class MetricIn(Body):
    object: Literal["metric"] | None = None
    name: StrictStr | None = None
    objective: Literal["maximize", "minimize"] | None = None
    strategy: Literal["optimize", "constraint", "store"] | None = None
    threshold: Number | None = None


class ConstraintTerm(Body):
    object: Literal["constraint_term"] | None = None
    name: StrictStr
    weight: Number


class LinearConstraintIn(Body):
    object: Literal["linear_constraint"] | None = None
    type: Literal["greater_than", "less_than"]
    terms: list[ConstraintTerm]
    threshold: Number


class TaskIn(Body):
    """A task of a multitask experiment: a cheaper variant of the evaluation and its cost
    relative to the full one (0 < cost <= 1, exactly one task of cost 1)."""

    object: Literal["task"] | None = None
    name: StrictStr
    cost: Number


#: A task named in a suggestion or observation: its name, or the task object as the
#: client renders it (``{"name": ...}``, its ``cost`` and ``object`` ignored).
TaskRef = StrictStr | dict[str, Any]


def _metrics_to_objects(value: Any) -> Any:
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value


class ExperimentCreate(Body):
    name: StrictStr
    type: Literal["offline", "random", "grid"] | None = None
    parameters: list[ParameterIn]
    metrics: list[MetricIn] | None = None
    observation_budget: StrictInt | None = None
    parallel_bandwidth: StrictInt | None = None
    linear_constraints: list[LinearConstraintIn] | None = None
    metadata: dict[str, Any] | None = None
    num_solutions: StrictInt | None = None
    conditionals: list[ConditionalIn] | None = None
    tasks: list[TaskIn] | None = None
    project: StrictStr | None = None
    runs_only: StrictBool | None = None
    development: StrictBool | None = None
    #: honed's extension: open suggestions expire after this many seconds without news.
    suggestion_ttl_seconds: Number | None = None

    _metrics = field_validator("metrics", mode="before")(_metrics_to_objects)


class ExperimentUpdateIn(Body):
    name: StrictStr | None = None
    state: Literal["active", "deleted"] | None = None
    observation_budget: StrictInt | None = None
    parallel_bandwidth: StrictInt | None = None
    metadata: dict[str, Any] | None = None
    parameters: list[ParameterIn] | None = None
    metrics: list[MetricIn] | None = None
    project: StrictStr | None = None
    no_optimize: StrictBool | None = None
    suggestion_ttl_seconds: Number | None = None

    _metrics = field_validator("metrics", mode="before")(_metrics_to_objects)


class SuggestionCreate(Body):
    assignments: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    #: Multitask: the task of a manual suggestion (with ``assignments``).
    task: TaskRef | None = None


class SuggestionUpdate(Body):
    metadata: dict[str, Any] | None = None


class QueuedSuggestionCreate(Body):
    assignments: dict[str, Any]
    #: Multitask: the task to evaluate the point at.
    task: TaskRef | None = None


class MetricValueIn(Body):
    object: Literal["metric_evaluation"] | None = None
    name: StrictStr | None = None
    value: Number
    value_stddev: Number | None = None


class ObservationIn(Body):
    """Accepts the older hosted API's top-level ``value``/``value_stddev`` too."""

    suggestion: Id | None = None
    assignments: dict[str, Any] | None = None
    values: list[MetricValueIn] | None = None
    value: Number | None = None
    value_stddev: Number | None = None
    failed: StrictBool | None = None
    metadata: dict[str, Any] | None = None
    no_optimize: StrictBool | None = None
    #: Multitask: the task evaluated, for an observation of ``assignments`` (one of a
    #: suggestion has the suggestion's task).
    task: TaskRef | None = None


class ObservationBatch(Body):
    # Documented as ObservationIn; each item arrives as sent and the route validates it, so
    # an error names the item ("Error in observation 3/5: Invalid value: ...").
    observations: list[SkipValidation[ObservationIn]] = Field(min_length=1)
    no_optimize: StrictBool | None = None


class ProjectCreate(Body):
    id: StrictStr
    name: StrictStr | None = None
    metadata: dict[str, Any] | None = None


class ProjectUpdateIn(Body):
    name: StrictStr | None = None
    metadata: dict[str, Any] | None = None
    deleted: StrictBool | None = None


class AiExperimentCreate(Body):
    name: StrictStr
    type: Literal["offline", "random", "grid"] | None = None
    parameters: list[ParameterIn]
    metrics: list[MetricIn]
    budget: StrictInt | None = None
    parallel_bandwidth: StrictInt | None = None
    linear_constraints: list[LinearConstraintIn] | None = None
    metadata: dict[str, Any] | None = None
    num_solutions: StrictInt | None = None
    conditionals: list[ConditionalIn] | None = None

    _metrics = field_validator("metrics", mode="before")(_metrics_to_objects)


class AiExperimentUpdateIn(Body):
    name: StrictStr | None = None
    state: Literal["active", "deleted"] | None = None
    budget: StrictInt | None = None
    parallel_bandwidth: StrictInt | None = None
    metadata: dict[str, Any] | None = None
    parameters: list[ParameterIn] | None = None
    metrics: list[MetricIn] | None = None

    _metrics = field_validator("metrics", mode="before")(_metrics_to_objects)


class TrainingRunIn(RunData):
    """A run body: what users report (honed.domain.runs.RunData, checked again once a MERGE
    or PUT has combined it with the stored data) and the run's lifecycle. Null removes a
    field, or a key inside one, except name, state and project."""

    state: Literal["active", "completed", "failed"] | SkipJsonSchema[None] = None
    deleted: StrictBool | None = None


class TrainingRunCreateBody(TrainingRunIn):
    name: RunName


class TrainingRunUpdateBody(TrainingRunIn):
    # Checked by honed.domain.projects.check_project_id, which pydantic's regex (no
    # lookahead) cannot state.
    project: StrictStr | SkipJsonSchema[None] = Field(
        default=None,
        json_schema_extra={"pattern": PROJECT_ID_PATTERN, "maxLength": MAX_PROJECT_ID_LENGTH},
        description="Moves the run to another project",
    )


class TrainingRunBatchBody(Body):
    runs: list[TrainingRunCreateBody] = Field(min_length=1, max_length=MAX_BATCH)
    fields: StrictStr | None = Field(
        default=None, description="Comma-separated keys: answer only these of each run"
    )


class RunFileIn(Body):
    """A file the sigopt client's ``log_image`` is about to upload (checked further by
    honed.domain.files.declare_file)."""

    content_length: StrictInt = Field(description="Bytes the upload will send")
    content_type: StrictStr = Field(description="Its MIME type, e.g. image/png")
    content_md5: StrictStr = Field(description="Base64 of the MD5 of its bytes")
    name: StrictStr | None = None
    filename: StrictStr | None = None


class TagIn(Body):
    name: StrictStr
    color: StrictStr = Field(description="#RRGGBB")


class RunTagIn(Body):
    id: Id = Field(description="A tag of the run's client")


class CheckpointIn(Body):
    values: list[MetricValueIn]
    metadata: dict[str, Any] | None = None
