"""/v1/experiments/{id}/suggestions and queued_suggestions."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import JSONResponse

from honed.api import headers
from honed.api import parse
from honed.api import render
from honed.api.schemas import QueuedSuggestionCreate
from honed.api.schemas import SuggestionCreate
from honed.api.schemas import SuggestionUpdate
from honed.domain.records import Suggestion
from honed.domain.validation import validate_metadata
from honed.errors import InvalidRequestError
from honed.server.handout import HotCall
from honed.server.handout import LeanRoute
from honed.server.handout import Steps
from honed.server.handout import answer
from honed.server.http import id_list
from honed.server.http import page_request
from honed.server.http import query_bool
from honed.server.routes.deps import MAX_WAIT_HEADER_DOC
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonBody
from honed.server.routes.deps import Svc
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply

router = APIRouter(prefix="/v1/experiments/{experiment_id}")
# The worker loop's endpoints (honed.server.handout).
hot = APIRouter(prefix="/v1/experiments/{experiment_id}", route_class=LeanRoute)


def _open_only(request: Request) -> bool:
    state = request.query_params.get("state")
    if state is None:
        return False
    if state != "open":
        raise InvalidRequestError("Invalid state: the only state filter is 'open'")
    return True


@hot.post("/suggestions", openapi_extra=MAX_WAIT_HEADER_DOC)
def create_suggestion(call: HotCall) -> Steps:
    body = parse.body(SuggestionCreate, call.body)
    eid = path_id(call.path["experiment_id"])
    meta = validate_metadata(body.metadata)
    wait = headers.max_wait(call.headers.get(headers.MAX_WAIT))
    pending = call.services.suggestions.request(
        call.token, eid, meta, body.assignments, max_wait=wait
    )
    # A request waiting for the optimizer sleeps between steps.
    while not isinstance(step := pending.step(), Suggestion):
        yield step
    return render.suggestion_json(step)


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


@hot.put("/suggestions/{suggestion_id}")
@hot.post("/suggestions/{suggestion_id}")  # POST too: a worker's lease heartbeat
def update_suggestion(call: HotCall) -> Steps:
    body = parse.body(SuggestionUpdate, call.body)
    updated = call.services.suggestions.update(
        call.token,
        path_id(call.path["experiment_id"]),
        path_id(call.path["suggestion_id"]),
        validate_metadata(body.metadata),
        set_metadata="metadata" in body.model_fields_set,
    )
    return answer(render.suggestion_json(updated))


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
