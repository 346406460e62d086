"""/v1/tokens/self and /v1/clients/{id}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from honed.api import render
from honed.server.routes.deps import Caller
from honed.server.routes.deps import Svc
from honed.server.routes.deps import check_client

router = APIRouter()


@router.get("/v1/tokens/self")
def token_self(token: Caller) -> dict[str, Any]:
    # The secret is never stored, so it cannot be echoed back.
    return render.token_json(token, secret=None)


@router.get("/v1/clients/{client_id}")
def get_client(svc: Svc, token: Caller, client_id: str) -> dict[str, Any]:
    check_client(token, client_id)
    return render.client_json(svc.storage.get_client(token.client_id))
