"""Shared route dependencies and helpers."""

from __future__ import annotations

from typing import Annotated
from typing import Any

from fastapi import Depends
from fastapi import Header
from fastapi.responses import JSONResponse

from honed.api.headers import MAX_WAIT
from honed.api.parse import object_id
from honed.domain.tenancy import Token
from honed.errors import NotFoundError
from honed.server.auth import caller
from honed.server.auth import services
from honed.server.http import json_body
from honed.service.app import Services

Caller = Annotated[Token, Depends(caller)]
Svc = Annotated[Services, Depends(services)]
JsonBody = Annotated[Any, Depends(json_body)]
#: Retries with the same key return the first answer (honed.service.idempotency).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


def _header_doc(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` of a LeanRoute that reads an optional header itself (a signature
    parameter would document it, but a LeanRoute's operation has none)."""
    return {"parameters": [{"name": name, "in": "header", "required": False, "schema": schema}]}


IDEMPOTENCY_HEADER_DOC = _header_doc(
    "Idempotency-Key", {"anyOf": [{"type": "string"}, {"type": "null"}]}
)
#: Suggestion create's ``X-Honed-Max-Wait`` (honed.api.headers).
MAX_WAIT_HEADER_DOC = _header_doc(MAX_WAIT, {"type": "number", "minimum": 0})


def reply(data: dict[str, Any]) -> JSONResponse:
    """Routes answer with ready JSON: FastAPI's own response validation of a plain dict
    cost about a tenth of the CPU of a suggestion/observation cycle."""
    return JSONResponse(data)


def path_id(text: str) -> int:
    """Path ids that are not ids name nothing: 404, as for a missing object."""
    try:
        return object_id(text, "id")
    except Exception:
        raise NotFoundError() from None


def check_client(token: Token, client_id: str) -> None:
    if path_id(client_id) != token.client_id:
        raise NotFoundError()
