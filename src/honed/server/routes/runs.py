"""/v1/training_runs/{id}: read, update (PUT, and SigOpt's MERGE), delete, checkpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Body
from fastapi import Query
from fastapi.responses import JSONResponse

from honed.api import parse
from honed.api import render
from honed.api.responses import CheckpointOut
from honed.api.responses import CheckpointPage
from honed.api.responses import EmptyOut
from honed.api.responses import TrainingRunOut
from honed.api.schemas import CheckpointIn
from honed.api.schemas import TrainingRunUpdateBody
from honed.server.query import PageQuery
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply

router = APIRouter(prefix="/v1/training_runs/{run_id}", responses=ERRORS, route_class=JsonRoute)
# Optional: an empty body changes nothing.
RunBody = Annotated[TrainingRunUpdateBody, Body(default_factory=TrainingRunUpdateBody)]


@router.get("", response_model=TrainingRunOut)
def get_training_run(svc: Svc, token: Caller, run_id: PathId) -> JSONResponse:
    return reply(render.training_run_json(svc.runs.get(token, path_id(run_id))))


@router.put("", response_model=TrainingRunOut)
def replace_training_run(svc: Svc, token: Caller, run_id: PathId, body: RunBody) -> JSONResponse:
    run = svc.runs.update(token, path_id(run_id), parse.training_run(body), merge=False)
    return reply(render.training_run_json(run))


@router.api_route("", methods=["MERGE"], response_model=TrainingRunOut)
def merge_training_run(svc: Svc, token: Caller, run_id: PathId, body: RunBody) -> JSONResponse:
    """The sigopt client's RunContext reports everything this way, with
    ``X-Response-Content: skip`` (answered with 204 by the app's middleware)."""
    run = svc.runs.update(token, path_id(run_id), parse.training_run(body), merge=True)
    return reply(render.training_run_json(run))


@router.delete("", response_model=EmptyOut)
def delete_training_run(svc: Svc, token: Caller, run_id: PathId) -> JSONResponse:
    svc.runs.delete(token, path_id(run_id))
    return reply({})


@router.post("/checkpoints", response_model=CheckpointOut)
def create_checkpoint(svc: Svc, token: Caller, run_id: PathId, body: CheckpointIn) -> JSONResponse:
    checkpoint = svc.runs.create_checkpoint(
        token, path_id(run_id), parse.metric_values(body.values), body.metadata
    )
    return reply(render.checkpoint_json(checkpoint))


@router.get("/checkpoints", response_model=CheckpointPage)
def list_checkpoints(
    svc: Svc, token: Caller, run_id: PathId, query: Annotated[PageQuery, Query()]
) -> JSONResponse:
    page = svc.runs.list_checkpoints(token, path_id(run_id), query.page())
    return reply(render.pagination_json(page, render.checkpoint_json))
