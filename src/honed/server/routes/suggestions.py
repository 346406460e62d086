"""/v1/experiments/{id}/suggestions and queued_suggestions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Query
from fastapi.responses import JSONResponse

from honed.api import headers
from honed.api import parse
from honed.api import render
from honed.api.responses import EmptyOut
from honed.api.responses import QueuedSuggestionOut
from honed.api.responses import QueuedSuggestionPage
from honed.api.responses import SuggestionOut
from honed.api.responses import SuggestionPage
from honed.api.schemas import QueuedSuggestionCreate
from honed.api.schemas import SuggestionCreate
from honed.api.schemas import SuggestionUpdate
from honed.domain.records import Suggestion
from honed.domain.validation import validate_metadata
from honed.server.handout import HotCall
from honed.server.handout import LeanRoute
from honed.server.handout import Steps
from honed.server.handout import answer
from honed.server.handout import starts_on_loop
from honed.server.query import OpenQuery
from honed.server.query import PageQuery
from honed.server.query import SuggestionListQuery
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import MAX_WAIT_HEADER_DOC
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import lean_body
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply

router = APIRouter(
    prefix="/v1/experiments/{experiment_id}", responses=ERRORS, route_class=JsonRoute
)
# The worker loop's endpoints (honed.server.handout).
hot = APIRouter(prefix="/v1/experiments/{experiment_id}", route_class=LeanRoute, responses=ERRORS)


@hot.post(
    "/suggestions",
    response_model=SuggestionOut,
    dependencies=[lean_body(SuggestionCreate)],
    openapi_extra=MAX_WAIT_HEADER_DOC,
)
@starts_on_loop  # it parses and queues; the transaction runs in the queue's drain
def create_suggestion(call: HotCall) -> Steps:
    body = parse.body(SuggestionCreate, call.body)
    eid = path_id(call.path["experiment_id"])
    meta = validate_metadata(body.metadata)
    wait = headers.max_wait(call.headers.get(headers.MAX_WAIT))
    task = parse.task_name(body.task)
    pending = call.services.suggestions.request(
        call.token, eid, meta, body.assignments, max_wait=wait, task=task
    )
    # A request waiting for the optimizer sleeps between steps.
    while not isinstance(step := pending.step(), Suggestion):
        yield step
    experiment = pending.experiment
    return render.suggestion_json(step, experiment.spec.tasks if experiment else ())


@router.get("/suggestions", response_model=SuggestionPage)
def list_suggestions(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    query: Annotated[SuggestionListQuery, Query()],
) -> JSONResponse:
    experiment, page = svc.suggestions.list(
        token,
        path_id(experiment_id),
        query.page(),
        open_only=query.state == "open",
        deleted=query.deleted,
        ids=query.id,
    )
    tasks = experiment.spec.tasks
    return reply(render.pagination_json(page, lambda s: render.suggestion_json(s, tasks)))


@router.delete("/suggestions", response_model=EmptyOut)
def delete_suggestions(
    svc: Svc, token: Caller, experiment_id: PathId, query: Annotated[OpenQuery, Query()]
) -> JSONResponse:
    svc.suggestions.delete(token, path_id(experiment_id), open_only=query.state == "open")
    return reply({})


@router.get("/suggestions/{suggestion_id}", response_model=SuggestionOut)
def get_suggestion(
    svc: Svc, token: Caller, experiment_id: PathId, suggestion_id: PathId
) -> JSONResponse:
    experiment, suggestion = svc.suggestions.get(
        token, path_id(experiment_id), path_id(suggestion_id)
    )
    return reply(render.suggestion_json(suggestion, experiment.spec.tasks))


# POST too: a worker's lease heartbeat.
@hot.put(
    "/suggestions/{suggestion_id}",
    response_model=SuggestionOut,
    dependencies=[lean_body(SuggestionUpdate)],
)
@hot.post(
    "/suggestions/{suggestion_id}",
    response_model=SuggestionOut,
    dependencies=[lean_body(SuggestionUpdate)],
)
def update_suggestion(call: HotCall) -> Steps:
    body = parse.body(SuggestionUpdate, call.body)
    experiment, updated = call.services.suggestions.update(
        call.token,
        path_id(call.path["experiment_id"]),
        path_id(call.path["suggestion_id"]),
        validate_metadata(body.metadata),
        set_metadata="metadata" in body.model_fields_set,
    )
    return answer(render.suggestion_json(updated, experiment.spec.tasks))


@router.delete("/suggestions/{suggestion_id}", response_model=EmptyOut)
def delete_suggestion(
    svc: Svc, token: Caller, experiment_id: PathId, suggestion_id: PathId
) -> JSONResponse:
    svc.suggestions.delete(token, path_id(experiment_id), path_id(suggestion_id))
    return reply({})


@router.post("/queued_suggestions", response_model=QueuedSuggestionOut)
def create_queued_suggestion(
    svc: Svc, token: Caller, experiment_id: PathId, body: QueuedSuggestionCreate
) -> JSONResponse:
    experiment, queued = svc.suggestions.enqueue(
        token, path_id(experiment_id), body.assignments, parse.task_name(body.task)
    )
    return reply(render.queued_suggestion_json(queued, experiment.spec.tasks))


@router.get("/queued_suggestions", response_model=QueuedSuggestionPage)
def list_queued_suggestions(
    svc: Svc, token: Caller, experiment_id: PathId, query: Annotated[PageQuery, Query()]
) -> JSONResponse:
    experiment, page = svc.suggestions.list_queued(token, path_id(experiment_id), query.page())
    tasks = experiment.spec.tasks
    return reply(render.pagination_json(page, lambda q: render.queued_suggestion_json(q, tasks)))


@router.get("/queued_suggestions/{queued_id}", response_model=QueuedSuggestionOut)
def get_queued_suggestion(
    svc: Svc, token: Caller, experiment_id: PathId, queued_id: PathId
) -> JSONResponse:
    experiment, queued = svc.suggestions.get_queued(
        token, path_id(experiment_id), path_id(queued_id)
    )
    return reply(render.queued_suggestion_json(queued, experiment.spec.tasks))


@router.delete("/queued_suggestions/{queued_id}", response_model=EmptyOut)
def delete_queued_suggestion(
    svc: Svc, token: Caller, experiment_id: PathId, queued_id: PathId
) -> JSONResponse:
    svc.suggestions.delete_queued(token, path_id(experiment_id), path_id(queued_id))
    return reply({})
