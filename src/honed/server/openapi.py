"""An OpenAPI document that says what the API really takes and answers.

The routes read their JSON bodies through one dependency (strict parsing, SigOpt's error
messages) and answer with ready JSON, so FastAPI alone would document no request bodies, no
query parameters, no response shapes and a 422 that never happens. This module adds them
from the request models of honed.api.schemas and the response models below, which describe
what honed.api.render produces (unknown keys allowed: clients must ignore them).
"""

from __future__ import annotations

from typing import Any
from typing import Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import create_model
from pydantic.json_schema import models_json_schema

from honed.api import schemas
from honed.domain.projects import MAX_PROJECT_ID_LENGTH
from honed.domain.validation import MAX_NAME_LENGTH
from honed.service.runs import MAX_BATCH

JSON = dict[str, Any]
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


class QueuedSuggestionOut(Out):
    object: Literal["queued_suggestion"]
    id: Id
    experiment: Id
    created: int
    assignments: dict[str, Any]


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


class BestAssignmentsOut(Out):
    object: Literal["best_assignments"]
    id: Id
    assignments: dict[str, Any]
    metadata: dict[str, Any] | None
    values: list[MetricValueOut]


class ProgressOut(Out):
    object: Literal["progress"]
    observation_count: int
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
    best_value: float | None
    best_count: int
    best_metric: str | None
    last_activity: int


class DashboardSummariesOut(Out):
    experiments: list[DashboardSummaryOut]


class DashboardDetailOut(Out):
    experiment: DashboardExperimentOut
    now: int
    observations: list[dict[str, Any]]
    open_suggestions: list[dict[str, Any]]
    best_so_far: list[dict[str, Any]]
    best_ids: list[Id]
    pareto_ids: list[Id]
    workers: list[dict[str, Any]]


class ShareOut(Out):
    token: str
    token_id: Id
    permissions: Literal["read"]


class EmptyOut(BaseModel):
    """Deletes answer ``{}``."""

    model_config = ConfigDict(extra="forbid")


# Run bodies are parsed as schemas.TrainingRunIn, whose fields take any JSON because
# honed.domain.runs checks them after a MERGE has combined them with the stored ones. These
# models state what that check accepts. Nulls inside objects are dropped and a top-level
# null removes the field (MERGE and PUT), except for name, state and project.
Flat = dict[str, str | float | None]  # SigOpt metadata: strings and numbers
# As honed.domain.projects.check_project_id: not "." or "..", which no URL can name.
PROJECT_ID_PATTERN = r"^(?!\.\.?$)[a-z0-9\-_\.]+$"


class _RunPart(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunValueIn(_RunPart):
    value: float
    value_stddev: float | None = Field(default=None, ge=0)
    name: Any = None
    object: Any = None


class RunLogIn(_RunPart):
    content: str | None = None
    object: Any = None


class RunModelIn(_RunPart):
    type: str | None = None
    object: Any = None


class RunSourceCodeIn(_RunPart):
    content: str | None = None
    hash: str | None = None
    object: Any = None


class RunAssignmentMetaIn(_RunPart):
    source: str | None = None
    object: Any = None


class RunAssignmentSourceIn(BaseModel):
    """Other keys are ignored."""

    sort: float | None = None
    default_show: bool | None = None


class TrainingRunBody(_RunPart):
    # Optional but not nullable: the defaults are never used, this model only documents.
    name: str = Field(default=None, min_length=1, max_length=MAX_NAME_LENGTH)  # type: ignore[assignment]
    state: Literal["active", "completed", "failed"] = Field(default=None)  # type: ignore[arg-type]
    assignments: Flat | None = None
    assignments_meta: dict[str, RunAssignmentMetaIn | None] | None = None
    assignments_sources: dict[str, RunAssignmentSourceIn | None] | None = None
    values: dict[str, RunValueIn | None] | None = None
    metadata: Flat | None = None
    dev_metadata: Flat | None = None
    sys_metadata: dict[str, Any] | None = None
    datasets: dict[str, Any] | list[str] | None = None
    logs: dict[str, RunLogIn | None] | None = None
    model: RunModelIn | None = None
    source_code: RunSourceCodeIn | None = None
    favorite: bool | None = None
    deleted: bool | None = None


class TrainingRunCreateBody(TrainingRunBody):
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)


class TrainingRunUpdateBody(TrainingRunBody):
    project: str = Field(  # type: ignore[assignment]
        default=None,
        max_length=MAX_PROJECT_ID_LENGTH,
        json_schema_extra={"pattern": PROJECT_ID_PATTERN},  # pydantic's regex has no lookahead
        description="Moves the run to another project",
    )


class TrainingRunBatchBody(_RunPart):
    runs: list[TrainingRunCreateBody] = Field(min_length=1, max_length=MAX_BATCH)
    fields: str | None = Field(
        default=None, description="Comma-separated keys: answer only these of each run"
    )


E = "/v1/experiments/{experiment_id}"
S = E + "/suggestions"
Q = E + "/queued_suggestions"
O = E + "/observations"  # noqa: E741
P = "/v1/clients/{client_id}/projects"
A = "/v1/aiexperiments/{experiment_id}"
R = "/v1/training_runs/{run_id}"
# Every list pages through honed.storage.sql.queries.paginate, which honours ascending.
PAGE = ("limit", "before", "after", "ascending")
EXPERIMENT_LIST = (
    *PAGE,
    "state",
    "search",
    "sort_experiments",
    "period_start",
    "period_end",
    "development",
)
# (method, path) -> (request body model or None, 200 response model, query parameters)
OPERATIONS: dict[tuple[str, str], tuple[type[BaseModel] | None, type[BaseModel], tuple[str, ...]]]
OPERATIONS = {
    ("get", "/v1/tokens/self"): (None, TokenOut, ()),
    ("get", "/v1/clients/{client_id}"): (None, ClientOut, ()),
    ("get", "/v1/experiments"): (None, ExperimentPage, EXPERIMENT_LIST),
    ("post", "/v1/experiments"): (schemas.ExperimentCreate, ExperimentOut, ()),
    ("get", "/v1/clients/{client_id}/experiments"): (None, ExperimentPage, EXPERIMENT_LIST),
    ("post", "/v1/clients/{client_id}/experiments"): (schemas.ExperimentCreate, ExperimentOut, ()),
    ("get", E): (None, ExperimentOut, ()),
    ("put", E): (schemas.ExperimentUpdateIn, ExperimentOut, ()),
    ("delete", E): (None, EmptyOut, ()),
    ("get", E + "/best_assignments"): (None, BestAssignmentsPage, ()),
    ("get", E + "/stopping_criteria"): (None, StoppingCriteriaOut, ()),
    ("post", S): (schemas.SuggestionCreate, SuggestionOut, ()),
    ("get", S): (None, SuggestionPage, (*PAGE, "state", "deleted", "id")),
    ("delete", S): (None, EmptyOut, ("state",)),
    ("get", S + "/{suggestion_id}"): (None, SuggestionOut, ()),
    ("put", S + "/{suggestion_id}"): (schemas.SuggestionUpdate, SuggestionOut, ()),
    ("post", S + "/{suggestion_id}"): (schemas.SuggestionUpdate, SuggestionOut, ()),
    ("delete", S + "/{suggestion_id}"): (None, EmptyOut, ()),
    ("post", Q): (schemas.QueuedSuggestionCreate, QueuedSuggestionOut, ()),
    ("get", Q): (None, QueuedSuggestionPage, PAGE),
    ("get", Q + "/{queued_id}"): (None, QueuedSuggestionOut, ()),
    ("delete", Q + "/{queued_id}"): (None, EmptyOut, ()),
    ("post", O): (schemas.ObservationIn, ObservationOut, ()),
    ("get", O): (None, ObservationPage, (*PAGE, "deleted", "sort_observations")),
    ("delete", O): (None, EmptyOut, ()),
    ("post", O + "/batch"): (schemas.ObservationBatch, ObservationPage, ()),
    ("get", O + "/{observation_id}"): (None, ObservationOut, ()),
    ("put", O + "/{observation_id}"): (schemas.ObservationIn, ObservationOut, ()),
    ("delete", O + "/{observation_id}"): (None, EmptyOut, ()),
    ("post", P): (schemas.ProjectCreate, ProjectOut, ()),
    ("get", P): (None, ProjectPage, (*PAGE, "deleted")),
    ("get", P + "/{project_id}"): (None, ProjectOut, ()),
    ("put", P + "/{project_id}"): (schemas.ProjectUpdateIn, ProjectOut, ()),
    ("get", P + "/{project_id}/experiments"): (
        None,
        ProjectExperimentPage,
        (*EXPERIMENT_LIST, "include_ai"),
    ),
    ("post", P + "/{project_id}/aiexperiments"): (schemas.AiExperimentCreate, AiExperimentOut, ()),
    ("get", P + "/{project_id}/aiexperiments"): (None, AiExperimentPage, (*PAGE, "state")),
    ("post", P + "/{project_id}/training_runs"): (TrainingRunCreateBody, TrainingRunOut, ()),
    ("post", P + "/{project_id}/training_runs/batch"): (
        TrainingRunBatchBody,
        TrainingRunFieldsPage,
        (),
    ),
    ("get", P + "/{project_id}/training_runs"): (
        None,
        TrainingRunPage,
        (*PAGE, "filters", "deleted"),
    ),
    ("get", "/v1/aiexperiments"): (None, AiExperimentPage, (*PAGE, "state")),
    ("get", A): (None, AiExperimentOut, ()),
    ("put", A): (schemas.AiExperimentUpdateIn, AiExperimentOut, ()),
    ("delete", A): (None, EmptyOut, ("include_runs",)),
    ("post", A + "/training_runs"): (TrainingRunCreateBody, TrainingRunOut, ()),
    ("get", A + "/best_training_runs"): (None, TrainingRunPage, ()),
    ("get", R): (None, TrainingRunOut, ()),
    ("put", R): (TrainingRunUpdateBody, TrainingRunOut, ()),
    ("merge", R): (TrainingRunUpdateBody, TrainingRunOut, ()),
    ("delete", R): (None, EmptyOut, ()),
    ("post", R + "/checkpoints"): (schemas.CheckpointIn, CheckpointOut, ()),
    ("get", R + "/checkpoints"): (None, CheckpointPage, PAGE),
    ("get", "/dashboard/api/experiments"): (None, DashboardSummariesOut, ("state",)),
    ("get", "/dashboard/api/experiments/{experiment_id}"): (None, DashboardDetailOut, ()),
    ("post", "/dashboard/api/share"): (None, ShareOut, ("experiment",)),
}

ID_PATTERN = "^[0-9]+$"
PATH: dict[str, JSON] = {
    "project_id": {
        "type": "string",
        "pattern": PROJECT_ID_PATTERN,
        "maxLength": MAX_PROJECT_ID_LENGTH,
    },
}
QUERY: dict[str, JSON] = {
    "limit": {"type": "integer", "minimum": 0, "maximum": 1000},
    # Paging markers; empty means none (honed.server.http.page_request). Ids under the
    # default sort, base64url under others (honed.api.markers).
    "before": {"type": "string", "pattern": "^[0-9A-Za-z_-]*$"},
    "after": {"type": "string", "pattern": "^[0-9A-Za-z_-]*$"},
    "ascending": {"type": "boolean", "description": "Smallest first (default: largest)"},
    "search": {"type": "string", "description": "Case-insensitive substring of the name"},
    "sort_experiments": {
        "type": "string",
        "enum": ["id", "recent"],
        "description": "id, or recent: last updated first",
    },
    "sort_observations": {
        "type": "string",
        "pattern": "^(id|timestamp|value|value_stddev|(value|value_stddev|parameter)-.+)$",
        "description": "id, timestamp, value, value-<metric>, value_stddev, "
        "value_stddev-<metric> or parameter-<name>",
    },
    "period_start": {
        "type": "integer",
        "minimum": 0,
        "description": "Created at or after (seconds)",
    },
    "period_end": {"type": "integer", "minimum": 0, "description": "Created before (seconds)"},
    "development": {
        "type": "boolean",
        "description": "Development experiments or not; a token lists only its own kind",
    },
    "state": {"type": "string"},
    "deleted": {"type": "boolean"},
    "experiment": {"type": "string", "pattern": ID_PATTERN},
    "include_ai": {"type": "boolean", "description": "Also list the project's AI experiments"},
    "include_runs": {"type": "boolean", "description": "Also delete the experiment's runs"},
    "filters": {
        "type": "string",
        "description": 'A JSON list; only [{"field": "experiment", "operator": "==", '
        '"value": ID}] is supported',
    },
    "id": {"type": "string", "description": "Comma-separated ids, or a JSON list"},
}
# Answers particular to one operation, besides 200 and ERRORS.
EXTRA: dict[tuple[str, str], JSON] = {
    ("get", E): {
        "301": {
            "description": "An AI experiment: read it at /v1/aiexperiments/{experiment_id}",
            "headers": {"Location": {"schema": {"type": "string"}}},
        }
    },
}
ERRORS = {
    "400": "Invalid request: the message names the field",
    "401": "No API token",
    "403": "Unknown or revoked token, or not allowed (read-only, development)",
    "404": "Not found, or another tenant's",
    "405": "Method not allowed",
    "409": "Conflict",
    "413": "Request body too large",
    "422": "Idempotency-Key reused for another request",
    "429": "Rate limited; see Retry-After",
    "503": "The database is unavailable; retry",
}


def _components() -> JSON:
    bodies = {body for body, _answer, _query in OPERATIONS.values() if body is not None}
    models: list[type[BaseModel]] = [ErrorOut]
    models.extend(m for ops in OPERATIONS.values() for m in ops[:2] if m is not None)
    _, top = models_json_schema(
        [(m, "validation" if m in bodies else "serialization") for m in dict.fromkeys(models)],
        ref_template="#/components/schemas/{model}",
    )
    defs: JSON = top.get("$defs", {})
    return defs


def _ref(model: type[BaseModel]) -> JSON:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json_content(model: type[BaseModel]) -> JSON:
    return {"application/json": {"schema": _ref(model)}}


def build_openapi(app: FastAPI) -> JSON:
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = document.setdefault("components", {})
    components["schemas"] = _components()
    components["securitySchemes"] = {
        "basic": {"type": "http", "scheme": "basic", "description": "The token as user name"},
        "bearer": {"type": "http", "scheme": "bearer"},
    }
    document["security"] = [{"basic": []}, {"bearer": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body, answer, query = OPERATIONS[(method, path)]
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    default = {"type": "string", "pattern": ID_PATTERN}
                    parameter["schema"] = PATH.get(parameter["name"], default)
            operation.setdefault("parameters", []).extend(
                {
                    "name": name.partition("_")[0] if name.startswith("sort_") else name,
                    "in": "query",
                    "required": False,
                    "schema": QUERY[name],
                }
                for name in query
            )
            if body is not None:
                operation["requestBody"] = {"required": False, "content": _json_content(body)}
            responses: JSON = {"200": {"description": "OK", "content": _json_content(answer)}}
            responses.update(EXTRA.get((method, path), {}))
            for status, description in ERRORS.items():
                responses[status] = {
                    "description": description,
                    "content": _json_content(ErrorOut),
                }
            operation["responses"] = responses
        # OpenAPI 3.1 has no MERGE; 3.2 puts such methods under additionalOperations, which
        # 3.1 tools ignore as an extension.
        if "merge" in operations:
            operations["x-additionalOperations"] = {"MERGE": operations.pop("merge")}
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""
    cache: list[JSON] = []

    def openapi() -> JSON:
        if not cache:
            cache.append(build_openapi(app))
        return cache[0]

    app.openapi = openapi  # type: ignore[method-assign]
