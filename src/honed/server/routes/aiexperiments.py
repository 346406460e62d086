"""/v1/aiexperiments: SigOpt's AI experiments, evaluated through training runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import JSONResponse

from honed.api import parse
from honed.api import render
from honed.api.schemas import AiExperimentUpdateIn
from honed.domain.experiment import Experiment
from honed.server.http import page_request
from honed.server.http import query_bool
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonBody
from honed.server.routes.deps import Svc
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply
from honed.server.routes.experiments import experiment_states
from honed.service.app import Services

router = APIRouter(prefix="/v1/aiexperiments")


def render_aiexperiment(svc: Services, experiment: Experiment) -> dict[str, Any]:
    return render.aiexperiment_json(experiment, svc.aiexperiments.progress(experiment))


@router.get("")
def list_aiexperiments(svc: Svc, token: Caller, request: Request) -> JSONResponse:
    page = svc.aiexperiments.list(token, page_request(request), experiment_states(request))
    return reply(render.pagination_json(page, lambda e: render_aiexperiment(svc, e)))


@router.get("/{experiment_id}")
def get_aiexperiment(svc: Svc, token: Caller, experiment_id: str) -> JSONResponse:
    return reply(render_aiexperiment(svc, svc.aiexperiments.get(token, path_id(experiment_id))))


@router.put("/{experiment_id}")
def update_aiexperiment(
    svc: Svc, token: Caller, experiment_id: str, data: JsonBody
) -> JSONResponse:
    update = parse.body(AiExperimentUpdateIn, data)
    change = parse.experiment_update(update, update.budget, "budget" in update.model_fields_set)
    experiment = svc.aiexperiments.update(token, path_id(experiment_id), change)
    return reply(render_aiexperiment(svc, experiment))


@router.delete("/{experiment_id}")
def delete_aiexperiment(
    svc: Svc, token: Caller, experiment_id: str, request: Request
) -> JSONResponse:
    include_runs = query_bool(request, "include_runs")
    svc.aiexperiments.delete(token, path_id(experiment_id), include_runs)
    return reply({})


@router.post("/{experiment_id}/training_runs")
def create_training_run(
    svc: Svc, token: Caller, experiment_id: str, data: JsonBody
) -> JSONResponse:
    run = svc.runs.create_in_experiment(token, path_id(experiment_id), parse.training_run(data))
    return reply(render.training_run_json(run))


@router.get("/{experiment_id}/best_training_runs")
def best_training_runs(svc: Svc, token: Caller, experiment_id: str) -> JSONResponse:
    runs = svc.aiexperiments.best_runs(token, path_id(experiment_id))
    return reply(render.list_json(runs, render.training_run_json))
