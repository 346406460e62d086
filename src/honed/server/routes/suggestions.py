"""/v1/experiments/{id}/suggestions and queued_suggestions."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from honed.api import headers
from honed.api import parse
from honed.api import render
from honed.api.schemas import QueuedSuggestionCreate
from honed.api.schemas import SuggestionCreate
from honed.api.schemas import SuggestionUpdate
from honed.domain.records import Suggestion
from honed.domain.validation import validate_metadata
from honed.errors import InvalidRequestError
from honed.server.http import id_list
from honed.server.http import json_body
from honed.server.http import page_request
from honed.server.http import query_bool
from honed.server.routes.deps import MAX_WAIT_HEADER_DOC
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonBody
from honed.server.routes.deps import LeanRoute
from honed.server.routes.deps import Svc
from honed.server.routes.deps import authorized
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply

router = APIRouter(prefix="/v1/experiments/{experiment_id}")
# The worker loop's endpoint: no FastAPI dependencies, see LeanRoute.
hot = APIRouter(prefix="/v1/experiments/{experiment_id}", route_class=LeanRoute)


def _open_only(request: Request) -> bool:
    state = request.query_params.get("state")
    if state is None:
        return False
    if state != "open":
        raise InvalidRequestError("Invalid state: the only state filter is 'open'")
    return True


@hot.post("/suggestions", openapi_extra=MAX_WAIT_HEADER_DOC)
async def create_suggestion(request: Request, experiment_id: str) -> JSONResponse:
    svc, token = await authorized(request)
    data = await json_body(request)
    body = parse.body(SuggestionCreate, data)
    eid = path_id(experiment_id)
    meta = validate_metadata(body.metadata)
    wait = headers.max_wait(request.headers.get(headers.MAX_WAIT))
    pending = svc.suggestions.request(token, eid, meta, body.assignments, max_wait=wait)
    while True:
        # An embedded store answers in about a millisecond: no thread hop. A request
        # waiting for the optimizer sleeps here, holding no thread and no connection.
        step = pending.step() if svc.storage.local else await run_in_threadpool(pending.step)
        if isinstance(step, Suggestion):
            return reply(render.suggestion_json(step))
        await anyio.sleep(step)


@router.get("/suggestions")
def list_suggestions(
    svc: Svc, token: Caller, experiment_id: str, request: Request
) -> JSONResponse:
    page = svc.suggestions.list(
        token,
        path_id(experiment_id),
        page_request(request),
        open_only=_open_only(request),
        deleted=query_bool(request, "deleted"),
        ids=id_list(request, "id"),
    )
    return reply(render.pagination_json(page, render.suggestion_json))


@router.delete("/suggestions")
def delete_suggestions(
    svc: Svc, token: Caller, experiment_id: str, request: Request
) -> JSONResponse:
    svc.suggestions.delete(token, path_id(experiment_id), open_only=_open_only(request))
    return reply({})


@router.get("/suggestions/{suggestion_id}")
def get_suggestion(
    svc: Svc, token: Caller, experiment_id: str, suggestion_id: str
) -> JSONResponse:
    suggestion = svc.suggestions.get(token, path_id(experiment_id), path_id(suggestion_id))
    return reply(render.suggestion_json(suggestion))


@router.put("/suggestions/{suggestion_id}")
@router.post("/suggestions/{suggestion_id}")  # POST too: a worker's lease heartbeat
def update_suggestion(
    svc: Svc, token: Caller, experiment_id: str, suggestion_id: str, data: JsonBody
) -> JSONResponse:
    body = parse.body(SuggestionUpdate, data)
    updated = svc.suggestions.update(
        token,
        path_id(experiment_id),
        path_id(suggestion_id),
        validate_metadata(body.metadata),
        set_metadata="metadata" in body.model_fields_set,
    )
    return reply(render.suggestion_json(updated))


@router.delete("/suggestions/{suggestion_id}")
def delete_suggestion(
    svc: Svc, token: Caller, experiment_id: str, suggestion_id: str
) -> JSONResponse:
    svc.suggestions.delete(token, path_id(experiment_id), path_id(suggestion_id))
    return reply({})


@router.post("/queued_suggestions")
def create_queued_suggestion(
    svc: Svc, token: Caller, experiment_id: str, data: JsonBody
) -> JSONResponse:
    body = parse.body(QueuedSuggestionCreate, data)
    queued = svc.suggestions.enqueue(token, path_id(experiment_id), body.assignments)
    return reply(render.queued_suggestion_json(queued))


@router.get("/queued_suggestions")
def list_queued_suggestions(
    svc: Svc, token: Caller, experiment_id: str, request: Request
) -> JSONResponse:
    page = svc.suggestions.list_queued(token, path_id(experiment_id), page_request(request))
    return reply(render.pagination_json(page, render.queued_suggestion_json))


@router.get("/queued_suggestions/{queued_id}")
def get_queued_suggestion(
    svc: Svc, token: Caller, experiment_id: str, queued_id: str
) -> JSONResponse:
    queued = svc.suggestions.get_queued(token, path_id(experiment_id), path_id(queued_id))
    return reply(render.queued_suggestion_json(queued))


@router.delete("/queued_suggestions/{queued_id}")
def delete_queued_suggestion(
    svc: Svc, token: Caller, experiment_id: str, queued_id: str
) -> JSONResponse:
    svc.suggestions.delete_queued(token, path_id(experiment_id), path_id(queued_id))
    return reply({})
