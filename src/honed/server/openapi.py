"""What FastAPI cannot infer of the OpenAPI document: the security schemes, SigOpt's
MERGE method (OpenAPI 3.1 has none), and (for now) the shapes of training run bodies."""

from __future__ import annotations

from typing import Any
from typing import Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic.json_schema import models_json_schema

from honed.domain.projects import MAX_PROJECT_ID_LENGTH
from honed.domain.projects import PROJECT_ID_PATTERN
from honed.domain.validation import MAX_NAME_LENGTH
from honed.service.runs import MAX_BATCH

JSON = dict[str, Any]


# Run bodies are parsed as schemas.TrainingRunIn, whose fields take any JSON because
# honed.domain.runs checks them after a MERGE has combined them with the stored ones. These
# models state what that check accepts. Nulls inside objects are dropped and a top-level
# null removes the field (MERGE and PUT), except for name, state and project.
Flat = dict[str, str | float | None]  # SigOpt metadata: strings and numbers


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


R = "/v1/training_runs/{run_id}"
P = "/v1/clients/{client_id}/projects/{project_id}/training_runs"
RUN_BODIES: dict[tuple[str, str], type[BaseModel]] = {
    ("post", P): TrainingRunCreateBody,
    ("post", P + "/batch"): TrainingRunBatchBody,
    ("post", "/v1/aiexperiments/{experiment_id}/training_runs"): TrainingRunCreateBody,
    ("put", R): TrainingRunUpdateBody,
}


def build_openapi(app: FastAPI) -> JSON:
    document = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = document.setdefault("components", {})
    _, top = models_json_schema(
        [(m, "validation") for m in set(RUN_BODIES.values())],
        ref_template="#/components/schemas/{model}",
    )
    components["schemas"].update(top["$defs"])
    for (method, path), model in RUN_BODIES.items():
        content = document["paths"][path][method]["requestBody"]["content"]
        content["application/json"]["schema"] = {"$ref": f"#/components/schemas/{model.__name__}"}
    components["securitySchemes"] = {
        "basic": {"type": "http", "scheme": "basic", "description": "The token as user name"},
        "bearer": {"type": "http", "scheme": "bearer"},
    }
    document["security"] = [{"basic": []}, {"bearer": []}]
    for operations in document["paths"].values():
        # OpenAPI 3.1 has no MERGE; 3.2 puts such methods under additionalOperations, which
        # 3.1 tools ignore as an extension. FastAPI documents no body for it: it takes PUT's.
        if "merge" in operations:
            merge = operations.pop("merge")
            merge["requestBody"] = operations["put"]["requestBody"]
            operations["x-additionalOperations"] = {"MERGE": merge}
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""
    cache: list[JSON] = []

    def openapi() -> JSON:
        if not cache:
            cache.append(build_openapi(app))
        return cache[0]

    app.openapi = openapi  # type: ignore[method-assign]
