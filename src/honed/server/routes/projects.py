"""/v1/clients/{id}/projects and what lives in a project: experiments, AI experiments and
training runs."""

from __future__ import annotations

import json
from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Body
from fastapi import Query
from fastapi.responses import JSONResponse

from honed.api import parse
from honed.api import render
from honed.api.responses import AiExperimentOut
from honed.api.responses import AiExperimentPage
from honed.api.responses import ProjectExperimentPage
from honed.api.responses import ProjectOut
from honed.api.responses import ProjectPage
from honed.api.responses import TrainingRunFieldsPage
from honed.api.responses import TrainingRunOut
from honed.api.responses import TrainingRunPage
from honed.api.schemas import AiExperimentCreate
from honed.api.schemas import ProjectCreate
from honed.api.schemas import ProjectUpdateIn
from honed.api.schemas import TrainingRunBatchBody
from honed.api.schemas import TrainingRunCreateBody
from honed.errors import InvalidRequestError
from honed.server.query import DeletedPageQuery
from honed.server.query import ProjectExperimentListQuery
from honed.server.query import RunListQuery
from honed.server.query import StatePageQuery
from honed.server.routes.aiexperiments import render_aiexperiment
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import ProjectId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import check_client
from honed.server.routes.deps import reply
from honed.service.projects import ProjectUpdate

router = APIRouter(
    prefix="/v1/clients/{client_id}/projects", responses=ERRORS, route_class=JsonRoute
)


@router.post("", response_model=ProjectOut)
def create_project(
    svc: Svc, token: Caller, client_id: PathId, body: ProjectCreate
) -> JSONResponse:
    check_client(token, client_id)
    name = body.name if body.name is not None else body.id
    project = svc.projects.create(token, body.id, name, body.metadata)
    return reply(render.project_json(project))


@router.get("", response_model=ProjectPage)
def list_projects(
    svc: Svc, token: Caller, client_id: PathId, query: Annotated[DeletedPageQuery, Query()]
) -> JSONResponse:
    check_client(token, client_id)
    page = svc.projects.list(token, query.page(), query.deleted)
    return reply(render.pagination_json(page, render.project_json))


@router.get("/{project_id}", response_model=ProjectOut)
def get_project(svc: Svc, token: Caller, client_id: PathId, project_id: ProjectId) -> JSONResponse:
    check_client(token, client_id)
    return reply(render.project_json(svc.projects.get(token, project_id)))


@router.put("/{project_id}", response_model=ProjectOut)
def update_project(
    svc: Svc,
    token: Caller,
    client_id: PathId,
    project_id: ProjectId,
    body: Annotated[ProjectUpdateIn, Body(default_factory=ProjectUpdateIn)],
) -> JSONResponse:
    check_client(token, client_id)
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


@router.get("/{project_id}/experiments", response_model=ProjectExperimentPage)
def list_project_experiments(
    svc: Svc,
    token: Caller,
    client_id: PathId,
    project_id: ProjectId,
    query: Annotated[ProjectExperimentListQuery, Query()],
) -> JSONResponse:
    check_client(token, client_id)
    svc.projects.get(token, project_id)
    page = svc.experiments.list(
        token,
        query.page(query.sort),
        query.states,
        project=project_id,
        runs_only=None if query.include_ai else False,
        query=query.experiment_query(),
        development=query.development,
    )

    def one(experiment: Any) -> dict[str, Any]:
        if experiment.spec.runs_only:
            return render_aiexperiment(svc, experiment)
        return render.experiment_json(experiment, svc.experiments.progress(experiment))

    return reply(render.pagination_json(page, one, query.sort))


@router.post("/{project_id}/aiexperiments", response_model=AiExperimentOut)
def create_aiexperiment(
    svc: Svc, token: Caller, client_id: PathId, project_id: ProjectId, body: AiExperimentCreate
) -> JSONResponse:
    check_client(token, client_id)
    spec = parse.ai_experiment_spec(body)
    experiment = svc.aiexperiments.create(token, project_id, spec)
    return reply(render_aiexperiment(svc, experiment))


@router.get("/{project_id}/aiexperiments", response_model=AiExperimentPage)
def list_project_aiexperiments(
    svc: Svc,
    token: Caller,
    client_id: PathId,
    project_id: ProjectId,
    query: Annotated[StatePageQuery, Query()],
) -> JSONResponse:
    check_client(token, client_id)
    page = svc.aiexperiments.list(token, query.page(), query.states, project=project_id)
    return reply(render.pagination_json(page, lambda e: render_aiexperiment(svc, e)))


@router.post("/{project_id}/training_runs", response_model=TrainingRunOut)
def create_training_run(
    svc: Svc,
    token: Caller,
    client_id: PathId,
    project_id: ProjectId,
    body: TrainingRunCreateBody,
) -> JSONResponse:
    check_client(token, client_id)
    (run,) = svc.runs.create_in_project(token, project_id, [parse.training_run(body)])
    return reply(render.training_run_json(run))


@router.post("/{project_id}/training_runs/batch", response_model=TrainingRunFieldsPage)
def create_training_runs(
    svc: Svc, token: Caller, client_id: PathId, project_id: ProjectId, batch: TrainingRunBatchBody
) -> JSONResponse:
    check_client(token, client_id)
    raws = [parse.training_run(run) for run in batch.runs]
    runs = svc.runs.create_in_project(token, project_id, raws)
    fields = _fields(batch.fields)
    return reply(render.list_json(runs, lambda run: _only(render.training_run_json(run), fields)))


@router.get("/{project_id}/training_runs", response_model=TrainingRunPage)
def list_training_runs(
    svc: Svc,
    token: Caller,
    client_id: PathId,
    project_id: ProjectId,
    query: Annotated[RunListQuery, Query()],
) -> JSONResponse:
    check_client(token, client_id)
    page = svc.runs.list(
        token,
        project_id,
        query.page(),
        experiment_id=_experiment_filter(query.filters),
        deleted=query.deleted,
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


def _experiment_filter(raw: str | None) -> int | None:
    """The sigopt client lists an AI experiment's runs with
    ``filters=[{"field": "experiment", "operator": "==", "value": ID}]``; that is the filter
    honed supports."""
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
