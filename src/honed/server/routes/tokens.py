"""/v1/tokens/self and /v1/clients/{id}."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from honed.api import render
from honed.api.responses import ClientOut
from honed.api.responses import TokenOut
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import check_client
from honed.server.routes.deps import reply

router = APIRouter(responses=ERRORS, route_class=JsonRoute)


@router.get("/v1/tokens/self", response_model=TokenOut)
def token_self(token: Caller) -> JSONResponse:
    # The secret is never stored, so it cannot be echoed back.
    return reply(render.token_json(token, secret=None))


@router.get("/v1/clients/{client_id}", response_model=ClientOut)
def get_client(svc: Svc, token: Caller, client_id: PathId) -> JSONResponse:
    check_client(token, client_id)
    return reply(render.client_json(svc.tokens.client(token)))
