"""/v1/training_runs/{id}: read, update (PUT, and SigOpt's MERGE), delete, checkpoints."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import JSONResponse

from honed.api import parse
from honed.api import render
from honed.api.schemas import CheckpointIn
from honed.server.http import page_request
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonBody
from honed.server.routes.deps import Svc
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply

router = APIRouter(prefix="/v1/training_runs/{run_id}")


@router.get("")
def get_training_run(svc: Svc, token: Caller, run_id: str) -> JSONResponse:
    return reply(render.training_run_json(svc.runs.get(token, path_id(run_id))))


@router.put("")
def replace_training_run(svc: Svc, token: Caller, run_id: str, data: JsonBody) -> JSONResponse:
    run = svc.runs.update(token, path_id(run_id), parse.training_run(data), merge=False)
    return reply(render.training_run_json(run))


@router.api_route("", methods=["MERGE"])
def merge_training_run(svc: Svc, token: Caller, run_id: str, data: JsonBody) -> JSONResponse:
    """The sigopt client's RunContext reports everything this way, with
    ``X-Response-Content: skip`` (answered with 204 by the app's middleware)."""
    run = svc.runs.update(token, path_id(run_id), parse.training_run(data), merge=True)
    return reply(render.training_run_json(run))


@router.delete("")
def delete_training_run(svc: Svc, token: Caller, run_id: str) -> JSONResponse:
    svc.runs.delete(token, path_id(run_id))
    return reply({})


@router.post("/checkpoints")
def create_checkpoint(svc: Svc, token: Caller, run_id: str, data: JsonBody) -> JSONResponse:
    body = parse.body(CheckpointIn, data)
    checkpoint = svc.runs.create_checkpoint(
        token, path_id(run_id), parse.metric_values(body.values), body.metadata
    )
    return reply(render.checkpoint_json(checkpoint))


@router.get("/checkpoints")
def list_checkpoints(svc: Svc, token: Caller, run_id: str, request: Request) -> JSONResponse:
    page = svc.runs.list_checkpoints(token, path_id(run_id), page_request(request))
    return reply(render.pagination_json(page, render.checkpoint_json))
