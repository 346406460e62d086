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
from pydantic.json_schema import models_json_schema

from honed.api import schemas

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


class EmptyOut(BaseModel):
    """Deletes answer ``{}``."""

    model_config = ConfigDict(extra="forbid")


E = "/v1/experiments/{experiment_id}"
S = E + "/suggestions"
Q = E + "/queued_suggestions"
O = E + "/observations"  # noqa: E741
PAGE = ("limit", "before", "after")
# (method, path) -> (request body model or None, 200 response model, query parameters)
OPERATIONS: dict[tuple[str, str], tuple[type[BaseModel] | None, type[BaseModel], tuple[str, ...]]]
OPERATIONS = {
    ("get", "/v1/tokens/self"): (None, TokenOut, ()),
    ("get", "/v1/clients/{client_id}"): (None, ClientOut, ()),
    ("get", "/v1/experiments"): (None, ExperimentPage, (*PAGE, "state")),
    ("post", "/v1/experiments"): (schemas.ExperimentCreate, ExperimentOut, ()),
    ("get", "/v1/clients/{client_id}/experiments"): (None, ExperimentPage, (*PAGE, "state")),
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
    ("get", O): (None, ObservationPage, (*PAGE, "deleted")),
    ("delete", O): (None, EmptyOut, ()),
    ("post", O + "/batch"): (schemas.ObservationBatch, ObservationPage, ()),
    ("get", O + "/{observation_id}"): (None, ObservationOut, ()),
    ("put", O + "/{observation_id}"): (schemas.ObservationIn, ObservationOut, ()),
    ("delete", O + "/{observation_id}"): (None, EmptyOut, ()),
}

ID_PATTERN = "^[0-9]+$"
QUERY: dict[str, JSON] = {
    "limit": {"type": "integer", "minimum": 0, "maximum": 1000},
    "before": {"type": "string", "pattern": ID_PATTERN},
    "after": {"type": "string", "pattern": ID_PATTERN},
    "state": {"type": "string"},
    "deleted": {"type": "boolean"},
    "id": {"type": "string", "description": "Comma-separated ids, or a JSON list"},
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
    models: list[type[BaseModel]] = [ErrorOut]
    for body, answer, _query in OPERATIONS.values():
        models.extend(m for m in (body, answer) if m is not None)
    unique = list(dict.fromkeys(models))
    _, top = models_json_schema(
        [
            (m, "validation" if m.__module__ == schemas.__name__ else "serialization")
            for m in unique
        ],
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
                    parameter["schema"] = {"type": "string", "pattern": ID_PATTERN}
            operation.setdefault("parameters", []).extend(
                {"name": name, "in": "query", "required": False, "schema": QUERY[name]}
                for name in query
            )
            if body is not None:
                operation["requestBody"] = {"required": False, "content": _json_content(body)}
            responses: JSON = {"200": {"description": "OK", "content": _json_content(answer)}}
            for status, description in ERRORS.items():
                responses[status] = {
                    "description": description,
                    "content": _json_content(ErrorOut),
                }
            operation["responses"] = responses
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""
    cache: list[JSON] = []

    def openapi() -> JSON:
        if not cache:
            cache.append(build_openapi(app))
        return cache[0]

    app.openapi = openapi  # type: ignore[method-assign]
