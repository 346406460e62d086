"""Tags as sigopt-server has them: a client's (``/v1/clients/{id}/tags``) and a run's
(``/v1/training_runs/{id}/tags``; the run lists their ids in ``tags``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Query
from fastapi.responses import JSONResponse

from honed.api import render
from honed.api.parse import object_id
from honed.api.responses import TagOut
from honed.api.responses import TagPage
from honed.api.schemas import RunTagIn
from honed.api.schemas import TagIn
from honed.server.query import PageQuery
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import check_client
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply

router = APIRouter(responses=ERRORS, route_class=JsonRoute)


@router.post("/v1/clients/{client_id}/tags", response_model=TagOut)
def create_tag(svc: Svc, token: Caller, client_id: PathId, body: TagIn) -> JSONResponse:
    """409 when the client has a tag of that name."""
    check_client(token, client_id)
    return reply(render.tag_json(svc.tags.create(token, body.name, body.color)))


@router.get("/v1/clients/{client_id}/tags", response_model=TagPage)
def list_tags(
    svc: Svc, token: Caller, client_id: PathId, query: Annotated[PageQuery, Query()]
) -> JSONResponse:
    check_client(token, client_id)
    page = svc.tags.client_tags(token, query.page())
    return reply(render.pagination_json(page, render.tag_json))


@router.post("/v1/training_runs/{run_id}/tags", response_model=TagOut)
def add_run_tag(svc: Svc, token: Caller, run_id: PathId, body: RunTagIn) -> JSONResponse:
    """Put the client's tag ``id`` on the run (422 when there is no such tag)."""
    tag = svc.tags.add_to_run(token, path_id(run_id), object_id(body.id, "id"))
    return reply(render.tag_json(tag))


@router.delete("/v1/training_runs/{run_id}/tags/{tag_id}", response_model=TagOut)
def remove_run_tag(svc: Svc, token: Caller, run_id: PathId, tag_id: PathId) -> JSONResponse:
    tag = svc.tags.remove_from_run(token, path_id(run_id), path_id(tag_id))
    return reply(render.tag_json(tag))
