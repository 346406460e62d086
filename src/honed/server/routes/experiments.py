"""/v1/experiments and /v1/clients/{id}/experiments."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Body
from fastapi import Query
from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.responses import RedirectResponse
from fastapi.responses import Response

from honed.api import parse
from honed.api import render
from honed.api.responses import BestAssignmentsPage
from honed.api.responses import EmptyOut
from honed.api.responses import ExperimentOut
from honed.api.responses import ExperimentPage
from honed.api.responses import StoppingCriteriaOut
from honed.api.schemas import ExperimentCreate
from honed.api.schemas import ExperimentUpdateIn
from honed.domain.experiment import Experiment
from honed.server.query import ExperimentListQuery
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import check_client
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply
from honed.service.app import Services

router = APIRouter(responses=ERRORS, route_class=JsonRoute)
ListQuery = Annotated[ExperimentListQuery, Query()]


def _render(svc: Services, experiment: Experiment) -> dict[str, Any]:
    return render.experiment_json(experiment, svc.experiments.progress(experiment))


def _render_one(svc: Services, experiment: Experiment) -> dict[str, Any]:
    return render.fetched_experiment_json(
        experiment,
        svc.experiments.progress(experiment),
        svc.experiments.optimizer_status(experiment),
    )


def _create(svc: Services, token: Caller, body: ExperimentCreate) -> dict[str, Any]:
    spec = parse.experiment_spec(body)
    return _render_one(svc, svc.experiments.create(token, spec))


def _list(svc: Services, token: Caller, query: ExperimentListQuery) -> dict[str, Any]:
    page = svc.experiments.list(
        token,
        query.page(query.sort),
        query.states,
        query=query.experiment_query(),
        development=query.development,
    )
    return render.pagination_json(page, lambda e: _render(svc, e), query.sort)


@router.post("/v1/experiments", response_model=ExperimentOut)
def create_experiment(svc: Svc, token: Caller, body: ExperimentCreate) -> JSONResponse:
    return reply(_create(svc, token, body))


@router.post("/v1/clients/{client_id}/experiments", response_model=ExperimentOut)
def create_client_experiment(
    svc: Svc, token: Caller, body: ExperimentCreate, client_id: PathId
) -> JSONResponse:
    check_client(token, client_id)
    return reply(_create(svc, token, body))


@router.get("/v1/experiments", response_model=ExperimentPage)
def list_experiments(svc: Svc, token: Caller, query: ListQuery) -> JSONResponse:
    return reply(_list(svc, token, query))


@router.get("/v1/clients/{client_id}/experiments", response_model=ExperimentPage)
def list_client_experiments(
    svc: Svc, token: Caller, query: ListQuery, client_id: PathId
) -> JSONResponse:
    check_client(token, client_id)
    return reply(_list(svc, token, query))


@router.get(
    "/v1/experiments/{experiment_id}",
    response_model=ExperimentOut,
    responses={
        301: {
            "description": "An AI experiment: read it at /v1/aiexperiments/{experiment_id}",
            "headers": {"Location": {"schema": {"type": "string"}}},
        }
    },
)
def get_experiment(svc: Svc, token: Caller, experiment_id: PathId, request: Request) -> Response:
    experiment = svc.experiments.get(token, path_id(experiment_id))
    if experiment.spec.runs_only:
        # As sigopt-server: an AI experiment is read at /v1/aiexperiments/{id}.
        head, _, tail = request.url.path.rpartition("/experiments/")
        return RedirectResponse(f"{head}/aiexperiments/{tail}", status_code=301)
    return reply(_render_one(svc, experiment))


@router.put("/v1/experiments/{experiment_id}", response_model=ExperimentOut)
def update_experiment(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    update: Annotated[ExperimentUpdateIn, Body(default_factory=ExperimentUpdateIn)],
) -> JSONResponse:
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


@router.delete("/v1/experiments/{experiment_id}", response_model=EmptyOut)
def delete_experiment(svc: Svc, token: Caller, experiment_id: PathId) -> JSONResponse:
    svc.experiments.delete(token, path_id(experiment_id))
    return reply({})


@router.get("/v1/experiments/{experiment_id}/best_assignments", response_model=BestAssignmentsPage)
def best_assignments(svc: Svc, token: Caller, experiment_id: PathId) -> JSONResponse:
    experiment = svc.experiments.get(token, path_id(experiment_id))
    best = svc.experiments.best_of(experiment)
    tasks = experiment.spec.tasks
    return reply(render.list_json(best, lambda o: render.best_assignments_json(o, tasks)))


@router.get(
    "/v1/experiments/{experiment_id}/stopping_criteria", response_model=StoppingCriteriaOut
)
def stopping_criteria(svc: Svc, token: Caller, experiment_id: PathId) -> JSONResponse:
    experiment = svc.experiments.get(token, path_id(experiment_id))
    budget = experiment.spec.observation_budget
    progress = svc.experiments.progress(experiment)
    reasons = []
    # The tasks' costs of a multitask experiment; the count of a plain one.
    if budget is not None and progress.budget_consumed >= budget:
        reasons.append("observation_budget_reached")
    return reply({"object": "stopping_criteria", "should_stop": bool(reasons), "reasons": reasons})
