"""/v1/experiments and /v1/clients/{id}/experiments."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.responses import RedirectResponse
from fastapi.responses import Response

from honed.api import parse
from honed.api import render
from honed.api.schemas import ExperimentCreate
from honed.api.schemas import ExperimentUpdateIn
from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentState
from honed.errors import InvalidRequestError
from honed.server.http import page_request
from honed.server.http import query_bool
from honed.server.http import query_seconds
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonBody
from honed.server.routes.deps import Svc
from honed.server.routes.deps import check_client
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply
from honed.service.app import Services
from honed.storage.base import ExperimentQuery

router = APIRouter()

STATES = {
    "active": (ExperimentState.ACTIVE,),
    "deleted": (ExperimentState.DELETED,),
    "all": (ExperimentState.ACTIVE, ExperimentState.DELETED),
}


def _render(svc: Services, experiment: Experiment) -> dict[str, Any]:
    return render.experiment_json(experiment, svc.experiments.progress(experiment))


def _render_one(svc: Services, experiment: Experiment) -> dict[str, Any]:
    """A single experiment also shows the optimizer's state (not in lists: a query each)."""
    data = _render(svc, experiment)
    data["optimizer"] = render.optimizer_json(svc.storage.optimizer_status(experiment.id))
    return data


def _create(svc: Services, token: Caller, data: Any) -> dict[str, Any]:
    spec = parse.experiment_spec(parse.body(ExperimentCreate, data))
    return _render_one(svc, svc.experiments.create(token, spec))


def experiment_states(request: Request) -> tuple[ExperimentState, ...]:
    state = request.query_params.get("state", "active")
    if state not in STATES:
        raise InvalidRequestError("Invalid state: expected active, deleted or all")
    return STATES[state]


EXPERIMENT_SORTS = ("id", "recent")


def experiment_list_options(request: Request) -> tuple[str, ExperimentQuery, bool | None]:
    """SigOpt's experiment list options: the sort, the filters, and ``development``."""
    sort = request.query_params.get("sort") or "id"
    if sort not in EXPERIMENT_SORTS:
        raise InvalidRequestError(
            f"Invalid sort: {sort!r}; expected one of {', '.join(EXPERIMENT_SORTS)}"
        )
    start = query_seconds(request, "period_start")
    end = query_seconds(request, "period_end")
    if start is not None and end is not None and start >= end:
        raise InvalidRequestError("Invalid period_start: it must be before period_end")
    query = ExperimentQuery(
        search=request.query_params.get("search") or None,
        recent=sort == "recent",
        created_from=start,
        created_before=end,
    )
    development = (
        query_bool(request, "development") if "development" in request.query_params else None
    )
    return sort, query, development


def _list(svc: Services, token: Caller, request: Request) -> dict[str, Any]:
    sort, query, development = experiment_list_options(request)
    page = svc.experiments.list(
        token,
        page_request(request, sort),
        experiment_states(request),
        query=query,
        development=development,
    )
    return render.pagination_json(page, lambda e: _render(svc, e), sort)


@router.post("/v1/experiments")
def create_experiment(svc: Svc, token: Caller, data: JsonBody) -> JSONResponse:
    return reply(_create(svc, token, data))


@router.post("/v1/clients/{client_id}/experiments")
def create_client_experiment(
    svc: Svc, token: Caller, data: JsonBody, client_id: str
) -> JSONResponse:
    check_client(token, client_id)
    return reply(_create(svc, token, data))


@router.get("/v1/experiments")
def list_experiments(svc: Svc, token: Caller, request: Request) -> JSONResponse:
    return reply(_list(svc, token, request))


@router.get("/v1/clients/{client_id}/experiments")
def list_client_experiments(
    svc: Svc, token: Caller, request: Request, client_id: str
) -> JSONResponse:
    check_client(token, client_id)
    return reply(_list(svc, token, request))


@router.get("/v1/experiments/{experiment_id}")
def get_experiment(svc: Svc, token: Caller, experiment_id: str, request: Request) -> Response:
    experiment = svc.experiments.get(token, path_id(experiment_id))
    if experiment.spec.runs_only:
        # As sigopt-server: an AI experiment is read at /v1/aiexperiments/{id}.
        head, _, tail = request.url.path.rpartition("/experiments/")
        return RedirectResponse(f"{head}/aiexperiments/{tail}", status_code=301)
    return reply(_render_one(svc, experiment))


@router.put("/v1/experiments/{experiment_id}")
def update_experiment(svc: Svc, token: Caller, experiment_id: str, data: JsonBody) -> JSONResponse:
    update = parse.body(ExperimentUpdateIn, data)
    given = update.model_fields_set
    change = replace(
        parse.experiment_update(update, update.observation_budget, "observation_budget" in given),
        suggestion_ttl_seconds=float(update.suggestion_ttl_seconds)
        if update.suggestion_ttl_seconds is not None
        else None,
        set_suggestion_ttl="suggestion_ttl_seconds" in given,
    )
    if "project" in given:
        change = replace(
            change,
            project=parse.project_reference(update.project) if update.project else None,
            set_project=True,
        )
    return reply(_render_one(svc, svc.experiments.update(token, path_id(experiment_id), change)))


@router.delete("/v1/experiments/{experiment_id}")
def delete_experiment(svc: Svc, token: Caller, experiment_id: str) -> JSONResponse:
    svc.experiments.delete(token, path_id(experiment_id))
    return reply({})


@router.get("/v1/experiments/{experiment_id}/best_assignments")
def best_assignments(svc: Svc, token: Caller, experiment_id: str) -> JSONResponse:
    best = svc.experiments.best_assignments(token, path_id(experiment_id))
    return reply(render.list_json(best, render.best_assignments_json))


@router.get("/v1/experiments/{experiment_id}/stopping_criteria")
def stopping_criteria(svc: Svc, token: Caller, experiment_id: str) -> JSONResponse:
    experiment = svc.experiments.get(token, path_id(experiment_id))
    budget = experiment.spec.observation_budget
    progress = svc.experiments.progress(experiment)
    reasons = []
    if budget is not None and progress.observation_count >= budget:
        reasons.append("observation_budget_reached")
    return reply({"object": "stopping_criteria", "should_stop": bool(reasons), "reasons": reasons})
