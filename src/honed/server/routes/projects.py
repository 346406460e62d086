"""/v1/clients/{id}/projects and what lives in a project: experiments, AI experiments and
training runs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import JSONResponse

from honed.api import parse
from honed.api import render
from honed.api.schemas import AiExperimentCreate
from honed.api.schemas import ProjectCreate
from honed.api.schemas import ProjectUpdateIn
from honed.api.schemas import TrainingRunBatch
from honed.domain.tenancy import Token
from honed.errors import InvalidRequestError
from honed.server.http import page_request
from honed.server.http import query_bool
from honed.server.routes.aiexperiments import render_aiexperiment
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonBody
from honed.server.routes.deps import Svc
from honed.server.routes.deps import check_client
from honed.server.routes.deps import reply
from honed.server.routes.experiments import experiment_list_options
from honed.server.routes.experiments import experiment_states
from honed.service.app import Services
from honed.service.projects import ProjectUpdate

router = APIRouter(prefix="/v1/clients/{client_id}/projects")


def _deleted(request: Request) -> bool | None:
    """``deleted=true`` lists only deleted items, as for suggestions; absent, live ones."""
    return query_bool(request, "deleted") if "deleted" in request.query_params else False


@router.post("")
def create_project(svc: Svc, token: Caller, client_id: str, data: JsonBody) -> JSONResponse:
    check_client(token, client_id)
    body = parse.body(ProjectCreate, data)
    name = body.name if body.name is not None else body.id
    project = svc.projects.create(token, body.id, name, body.metadata)
    return reply(render.project_json(project))


@router.get("")
def list_projects(svc: Svc, token: Caller, client_id: str, request: Request) -> JSONResponse:
    check_client(token, client_id)
    page = svc.projects.list(token, page_request(request), _deleted(request))
    return reply(render.pagination_json(page, render.project_json))


@router.get("/{project_id}")
def get_project(svc: Svc, token: Caller, client_id: str, project_id: str) -> JSONResponse:
    check_client(token, client_id)
    return reply(render.project_json(svc.projects.get(token, project_id)))


@router.put("/{project_id}")
def update_project(
    svc: Svc, token: Caller, client_id: str, project_id: str, data: JsonBody
) -> JSONResponse:
    check_client(token, client_id)
    body = parse.body(ProjectUpdateIn, data)
    given = body.model_fields_set
    if "name" in given and body.name is None:
        raise InvalidRequestError("Invalid name: cannot be null")
    change = ProjectUpdate(
        name=body.name,
        metadata=body.metadata,
        set_metadata="metadata" in given,
        deleted=body.deleted,
    )
    return reply(render.project_json(svc.projects.update(token, project_id, change)))


@router.get("/{project_id}/experiments")
def list_project_experiments(
    svc: Svc, token: Caller, client_id: str, project_id: str, request: Request
) -> JSONResponse:
    check_client(token, client_id)
    svc.projects.get(token, project_id)
    runs_only = None if query_bool(request, "include_ai") else False
    sort, query, development = experiment_list_options(request)
    page = svc.experiments.list(
        token,
        page_request(request, sort),
        experiment_states(request),
        project=project_id,
        runs_only=runs_only,
        query=query,
        development=development,
    )

    def one(experiment: Any) -> dict[str, Any]:
        if experiment.spec.runs_only:
            return render_aiexperiment(svc, experiment)
        return render.experiment_json(experiment, svc.experiments.progress(experiment))

    return reply(render.pagination_json(page, one, sort))


@router.post("/{project_id}/aiexperiments")
def create_aiexperiment(
    svc: Svc, token: Caller, client_id: str, project_id: str, data: JsonBody
) -> JSONResponse:
    check_client(token, client_id)
    spec = parse.ai_experiment_spec(parse.body(AiExperimentCreate, data))
    experiment = svc.aiexperiments.create(token, project_id, spec)
    return reply(render_aiexperiment(svc, experiment))


@router.get("/{project_id}/aiexperiments")
def list_project_aiexperiments(
    svc: Svc, token: Caller, client_id: str, project_id: str, request: Request
) -> JSONResponse:
    check_client(token, client_id)
    page = svc.aiexperiments.list(
        token, page_request(request), experiment_states(request), project=project_id
    )
    return reply(render.pagination_json(page, lambda e: render_aiexperiment(svc, e)))


@router.post("/{project_id}/training_runs")
def create_training_run(
    svc: Svc, token: Caller, client_id: str, project_id: str, data: JsonBody
) -> JSONResponse:
    check_client(token, client_id)
    (run,) = svc.runs.create_in_project(token, project_id, [parse.training_run(data)])
    return reply(render.training_run_json(run))


@router.post("/{project_id}/training_runs/batch")
def create_training_runs(
    svc: Svc, token: Caller, client_id: str, project_id: str, data: JsonBody
) -> JSONResponse:
    check_client(token, client_id)
    batch = parse.body(TrainingRunBatch, data)
    raws = []
    for index, item in enumerate(batch.runs):
        try:
            raws.append(parse.training_run(item))
        except InvalidRequestError as error:
            raise InvalidRequestError(
                f"Error in run {index + 1}/{len(batch.runs)}: {error.message}"
            ) from None
    runs = svc.runs.create_in_project(token, project_id, raws)
    fields = _fields(batch.fields)
    return reply(render.list_json(runs, lambda run: _only(render.training_run_json(run), fields)))


@router.get("/{project_id}/training_runs")
def list_training_runs(
    svc: Svc, token: Caller, client_id: str, project_id: str, request: Request
) -> JSONResponse:
    check_client(token, client_id)
    page = svc.runs.list(
        token,
        project_id,
        page_request(request),
        experiment_id=_experiment_filter(svc, token, request),
        deleted=_deleted(request),
    )
    return reply(render.pagination_json(page, render.training_run_json))


def _fields(raw: str | None) -> set[str] | None:
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _only(data: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
    """SigOpt's ``fields``: only the named keys (and ``object``) are returned."""
    if fields is None:
        return data
    return {key: value for key, value in data.items() if key in fields or key == "object"}


def _experiment_filter(svc: Services, token: Token, request: Request) -> int | None:
    """The sigopt client lists an AI experiment's runs with
    ``filters=[{"field": "experiment", "operator": "==", "value": ID}]``; that is the filter
    honed supports."""
    raw = request.query_params.get("filters")
    if raw is None:
        return None
    try:
        filters = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidRequestError("Invalid filters: not a JSON list") from None
    if not isinstance(filters, list):
        raise InvalidRequestError("Invalid filters: not a JSON list")
    experiment_id = None
    for index, item in enumerate(filters):
        if not isinstance(item, dict) or item.get("field") != "experiment":
            raise InvalidRequestError(
                f"Invalid filters[{index}]: only {{'field': 'experiment', 'operator': '==', "
                "'value': ID}} is supported"
            )
        if item.get("operator") != "==":
            raise InvalidRequestError(f"Invalid filters[{index}].operator: only '==' is supported")
        experiment_id = parse.object_id(item.get("value"), f"filters[{index}].value")  # type: ignore[arg-type]
    return experiment_id
