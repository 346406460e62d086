"""Response bodies in SigOpt v1 shapes: what honed.api.render produces.

Routes name these as their ``response_model`` and answer with ready JSON, which FastAPI
does not validate again; the models document the shapes. Unknown keys are allowed: clients
must ignore keys they do not know, and honed adds its own (``source``, ``optimizer``, ...).
"""

from __future__ import annotations

from typing import Any
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import create_model

Id = str  # ids are strings of digits on the wire


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorOut(Out):
    message: str
    status: int


class MetricValueOut(Out):
    object: Literal["metric_evaluation"]
    name: str | None
    value: float
    value_stddev: float | None


class TaskOut(Out):
    """A task of a multitask experiment: ``cost`` relative to the full evaluation (1)."""

    object: Literal["task"]
    name: str
    cost: float


class SuggestionOut(Out):
    object: Literal["suggestion"]
    id: Id
    experiment: Id
    state: Literal["open", "closed"]
    created: int
    assignments: dict[str, Any]
    metadata: dict[str, Any] | None
    deleted: bool
    source: str
    lease_until: int | None
    #: Multitask experiments only (the key is absent otherwise): the task to evaluate.
    task: TaskOut | None = None


class QueuedSuggestionOut(Out):
    object: Literal["queued_suggestion"]
    id: Id
    experiment: Id
    created: int
    assignments: dict[str, Any]
    task: TaskOut | None = None


class ObservationOut(Out):
    object: Literal["observation"]
    id: Id
    experiment: Id
    suggestion: Id | None
    created: int
    assignments: dict[str, Any]
    failed: bool
    metadata: dict[str, Any] | None
    values: list[MetricValueOut]
    deleted: bool
    #: Multitask experiments only: the task evaluated.
    task: TaskOut | None = None


class BestAssignmentsOut(Out):
    object: Literal["best_assignments"]
    id: Id
    assignments: dict[str, Any]
    metadata: dict[str, Any] | None
    values: list[MetricValueOut]
    task: TaskOut | None = None


class ProgressOut(Out):
    object: Literal["progress"]
    observation_count: int
    #: The observations' task costs summed (the count for a plain experiment).
    observation_budget_consumed: float
    first_observation: ObservationOut | None
    last_observation: ObservationOut | None
    best_observation: ObservationOut | None


class ExperimentOut(Out):
    object: Literal["experiment"]
    id: Id
    name: str
    type: Literal["offline", "random", "grid"]
    state: Literal["active", "deleted"]
    created: int
    updated: int
    client: Id
    development: bool
    observation_budget: int | None
    parallel_bandwidth: int | None
    metadata: dict[str, Any] | None
    metrics: list[dict[str, Any]]
    parameters: list[dict[str, Any]]
    linear_constraints: list[dict[str, Any]]
    progress: ProgressOut | None
    suggestion_ttl_seconds: float | None
    #: Multitask experiments only (the key is absent otherwise), the target task first.
    tasks: list[TaskOut] | None = None


class Paging(Out):
    before: Id | None
    after: Id | None


class _Page(Out):
    object: Literal["pagination"]
    count: int
    paging: Paging


class ExperimentPage(_Page):
    data: list[ExperimentOut]


class SuggestionPage(_Page):
    data: list[SuggestionOut]


class QueuedSuggestionPage(_Page):
    data: list[QueuedSuggestionOut]


class ObservationPage(_Page):
    data: list[ObservationOut]


class BestAssignmentsPage(_Page):
    data: list[BestAssignmentsOut]


class StoppingCriteriaOut(Out):
    object: Literal["stopping_criteria"]
    should_stop: bool
    reasons: list[str]


class TokenOut(Out):
    object: Literal["token"]
    token_type: str
    client: Id
    development: bool
    permissions: Literal["read", "write"]


class ClientOut(Out):
    object: Literal["client"]
    id: Id
    name: str
    created: int


class ProjectOut(Out):
    object: Literal["project"]
    id: str  # the reference the user chose, e.g. "my-project"
    name: str
    client: Id
    created: int
    updated: int
    metadata: dict[str, Any] | None
    deleted: bool


class RunProgressOut(Out):
    object: Literal["progress"]
    active_run_count: int
    finished_run_count: int
    total_run_count: int
    remaining_budget: int | None


class AiExperimentOut(Out):
    object: Literal["aiexperiment"]
    id: Id
    name: str
    type: Literal["offline", "random", "grid"]
    state: Literal["active", "deleted"]
    created: int
    updated: int
    client: Id
    project: str | None
    runs_only: bool
    budget: int | None
    parallel_bandwidth: int | None
    metadata: dict[str, Any] | None
    metrics: list[dict[str, Any]]
    parameters: list[dict[str, Any]]
    linear_constraints: list[dict[str, Any]]
    progress: RunProgressOut


class TrainingRunOut(Out):
    object: Literal["training_run"]
    id: Id
    name: str | None
    state: Literal["active", "completed", "failed"]
    client: Id
    project: str
    experiment: Id | None
    suggestion: Id | None
    observation: Id | None
    assignments: dict[str, Any]
    assignments_meta: dict[str, dict[str, Any]]
    assignments_sources: dict[str, dict[str, Any]]
    values: dict[str, MetricValueOut]
    metadata: dict[str, Any] | None
    dev_metadata: dict[str, Any]
    sys_metadata: dict[str, Any]
    datasets: dict[str, dict[str, Any]]
    logs: dict[str, dict[str, Any]]
    model: dict[str, Any]
    source_code: dict[str, Any]
    favorite: bool
    tags: list[Id]
    files: list[Id]
    checkpoint_count: int
    created: int
    updated: int
    completed: int | None
    finished: bool
    deleted: bool


# A batch create with ``fields`` answers only the named keys (and ``object``) of each run.
_optional: dict[str, Any] = {
    name: (field.annotation, None) for name, field in TrainingRunOut.model_fields.items()
}
_optional["object"] = (Literal["training_run"], ...)
TrainingRunFieldsOut = create_model("TrainingRunFieldsOut", __base__=Out, **_optional)


class CheckpointOut(Out):
    object: Literal["checkpoint"]
    id: Id
    training_run: Id
    created: int
    values: list[MetricValueOut]
    metadata: dict[str, Any] | None
    should_stop: bool
    stopping_reasons: dict[str, Any]


class FileUploadOut(Out):
    object: Literal["s3_upload"]
    url: str
    method: Literal["PUT"]
    headers: dict[str, str]


class FileDownloadOut(Out):
    object: Literal["s3_download"]
    url: str


class FileOut(Out):
    object: Literal["file"]
    id: Id
    name: str | None
    filename: str | None
    client: Id
    created: int
    content_length: int
    content_type: str
    content_md5: str
    training_run: Id
    uploaded: bool
    upload: FileUploadOut | None = None
    download: FileDownloadOut | None = None


class TagOut(Out):
    object: Literal["tag"]
    id: Id
    name: str
    color: str
    client: Id
    created: int


class TagPage(_Page):
    data: list[TagOut]


class ProjectPage(_Page):
    data: list[ProjectOut]


class AiExperimentPage(_Page):
    data: list[AiExperimentOut]


class ProjectExperimentPage(_Page):
    """A project's experiments; with ``include_ai=true`` its AI experiments too."""

    data: list[ExperimentOut | AiExperimentOut]


class TrainingRunPage(_Page):
    data: list[TrainingRunOut]


class TrainingRunFieldsPage(_Page):
    data: list[TrainingRunFieldsOut]


class CheckpointPage(_Page):
    data: list[CheckpointOut]


class DashboardExperimentOut(Out):
    id: Id
    name: str
    state: Literal["active", "deleted"]
    type: Literal["offline", "random", "grid"]
    budget: int | None
    parallel_bandwidth: int | None
    created: int
    parameters: list[dict[str, Any]]
    metrics: list[dict[str, Any]]


class DashboardSummaryOut(DashboardExperimentOut):
    observation_count: int
    failure_count: int
    early_stopped_count: int
    best_value: float | None
    best_count: int
    best_metric: str | None
    last_activity: int


class DashboardSummariesOut(Out):
    experiments: list[DashboardSummaryOut]


class DashboardModelOut(Out):
    status: Literal["ready", "model_not_ready", "not_computed", "no_model"]
    message: str
    observation_count: int
    analysis: dict[str, Any] | None
    task: str | None
    version: str


class DashboardDetailOut(Out):
    experiment: DashboardExperimentOut
    now: int
    observations: list[dict[str, Any]]
    open_suggestions: list[dict[str, Any]]
    best_so_far: list[dict[str, Any]]
    best_ids: list[Id]
    pareto_ids: list[Id]
    hypervolume: dict[str, Any] | None
    workers: list[dict[str, Any]]
    version: str


class DashboardTagOut(Out):
    id: Id
    name: str
    color: str


class DashboardFileOut(Out):
    id: Id
    title: str
    name: str | None
    filename: str | None
    content_type: str
    content_length: int
    image: bool
    uploaded: bool
    url: str | None  # an uploaded file's content, signed for an hour


class DashboardRunOut(Out):
    run: TrainingRunOut
    tags: list[DashboardTagOut]
    files: list[DashboardFileOut]


class DashboardRunRowOut(Out):
    id: Id
    name: str | None
    state: Literal["active", "completed", "failed"]
    created: int
    values: dict[str, float]
    tags: list[DashboardTagOut]
    files: int  # how many


class DashboardRunsOut(Out):
    count: int
    runs: list[DashboardRunRowOut]


class ShareOut(Out):
    token: str
    token_id: Id
    permissions: Literal["read"]


class EmptyOut(BaseModel):
    """Deletes answer ``{}``."""

    model_config = ConfigDict(extra="forbid")
