"""/v1/aiexperiments: SigOpt's AI experiments, evaluated through training runs."""

from __future__ import annotations

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
from honed.api.responses import EmptyOut
from honed.api.responses import TrainingRunOut
from honed.api.responses import TrainingRunPage
from honed.api.schemas import AiExperimentUpdateIn
from honed.api.schemas import TrainingRunCreateBody
from honed.domain.experiment import Experiment
from honed.server.query import IncludeRunsQuery
from honed.server.query import StatePageQuery
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply
from honed.service.app import Services

router = APIRouter(prefix="/v1/aiexperiments", responses=ERRORS, route_class=JsonRoute)


def render_aiexperiment(svc: Services, experiment: Experiment) -> dict[str, Any]:
    return render.aiexperiment_json(experiment, svc.aiexperiments.progress(experiment))


@router.get("", response_model=AiExperimentPage)
def list_aiexperiments(
    svc: Svc, token: Caller, query: Annotated[StatePageQuery, Query()]
) -> JSONResponse:
    page = svc.aiexperiments.list(token, query.page(), query.states)
    return reply(render.pagination_json(page, lambda e: render_aiexperiment(svc, e)))


@router.get("/{experiment_id}", response_model=AiExperimentOut)
def get_aiexperiment(svc: Svc, token: Caller, experiment_id: PathId) -> JSONResponse:
    return reply(render_aiexperiment(svc, svc.aiexperiments.get(token, path_id(experiment_id))))


@router.put("/{experiment_id}", response_model=AiExperimentOut)
def update_aiexperiment(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    update: Annotated[AiExperimentUpdateIn, Body(default_factory=AiExperimentUpdateIn)],
) -> JSONResponse:
    change = parse.experiment_update(update, update.budget, "budget" in update.model_fields_set)
    experiment = svc.aiexperiments.update(token, path_id(experiment_id), change)
    return reply(render_aiexperiment(svc, experiment))


@router.delete("/{experiment_id}", response_model=EmptyOut)
def delete_aiexperiment(
    svc: Svc, token: Caller, experiment_id: PathId, query: Annotated[IncludeRunsQuery, Query()]
) -> JSONResponse:
    svc.aiexperiments.delete(token, path_id(experiment_id), query.include_runs)
    return reply({})


@router.post("/{experiment_id}/training_runs", response_model=TrainingRunOut)
def create_training_run(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    body: TrainingRunCreateBody,
) -> JSONResponse:
    fields = parse.training_run(body)
    run = svc.runs.create_in_experiment(token, path_id(experiment_id), fields)
    return reply(render.training_run_json(run))


@router.get("/{experiment_id}/best_training_runs", response_model=TrainingRunPage)
def best_training_runs(svc: Svc, token: Caller, experiment_id: PathId) -> JSONResponse:
    runs = svc.aiexperiments.best_runs(token, path_id(experiment_id))
    return reply(render.list_json(runs, render.training_run_json))
