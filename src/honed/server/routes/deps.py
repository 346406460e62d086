"""Shared route dependencies and helpers."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from collections.abc import Coroutine
from typing import Annotated
from typing import Any

from fastapi import Body
from fastapi import Depends
from fastapi import Header
from fastapi import Path
from fastapi import Request
from fastapi import Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.types import Scope

from honed.api.headers import MAX_WAIT
from honed.api.parse import object_id
from honed.api.responses import ErrorOut
from honed.domain.projects import MAX_PROJECT_ID_LENGTH
from honed.domain.projects import PROJECT_ID_PATTERN
from honed.domain.tenancy import Token
from honed.errors import NotFoundError
from honed.server.auth import caller
from honed.server.auth import services
from honed.server.http import parse_json
from honed.server.http import read_body
from honed.service.app import Services

Caller = Annotated[Token, Depends(caller)]
Svc = Annotated[Services, Depends(services)]
#: Retries with the same key return the first answer (honed.service.idempotency).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


# Path parameters, documented but not validated by FastAPI: ``path_id`` answers 404 for a
# path that names nothing, as for a missing object.
PathId = Annotated[str, Path(json_schema_extra={"pattern": "^[0-9]+$"})]
ProjectId = Annotated[
    str,
    Path(json_schema_extra={"pattern": PROJECT_ID_PATTERN, "maxLength": MAX_PROJECT_ID_LENGTH}),
]

#: Every operation's error answers, SigOpt's ``{"message", "status"}`` (routers add them).
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in {
        400: "Invalid request: the message names the field",
        401: "No API token",
        403: "Unknown or revoked token, or not allowed (read-only, development)",
        404: "Not found, or another tenant's",
        405: "Method not allowed",
        409: "Conflict",
        413: "Request body too large",
        422: "Idempotency-Key reused for another request",
        429: "Rate limited; see Retry-After",
        503: "The database is unavailable; retry",
    }.items()
}


class JsonRoute(APIRoute):
    """A route whose body FastAPI validates as the endpoint declares it, after honed has
    read it as SigOpt's servers do: any content type is JSON, a missing body is ``{}``, and
    what json.loads would let through (NaN, duplicate keys, NUL, huge numbers, a body past
    MAX_BODY_BYTES) is refused with a message that says so."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def read_first(request: Request) -> Response:
            raw = await read_body(request)
            return await handler(_ParsedRequest(request.scope, raw, parse_json(raw)))

        return read_first


class _ParsedRequest(Request):
    """A request whose JSON body is already read, for FastAPI to validate."""

    def __init__(self, scope: Scope, raw: bytes, data: Any) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
        super().__init__({**scope, "headers": [*headers, (b"content-type", JSON_TYPE)]})
        # FastAPI takes an empty body for none at all, honed for {}.
        self._raw = raw if raw.strip() else b"{}"
        self._data = data

    async def body(self) -> bytes:
        return self._raw

    async def json(self) -> Any:
        return self._data


JSON_TYPE = b"application/json"


def lean_body(model: type[BaseModel]) -> Any:
    """``dependencies=[lean_body(Model)]`` documents a LeanRoute's body, which its endpoint
    reads itself: a LeanRoute never runs its dependencies."""

    def documents_only(body: Any) -> None:
        raise AssertionError("a LeanRoute never runs its dependencies")

    # Optional, as every LeanRoute body: a missing one is {}.
    annotation = Annotated[model, Body(default_factory=model)]  # type: ignore[valid-type]
    parameter = inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
    documents_only.__signature__ = inspect.Signature([parameter])  # type: ignore[attr-defined]
    return Depends(documents_only)


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
    """Routes answer with ready JSON: FastAPI's own validation of a returned dict is a
    large share of a hot-path cycle (docs/decisions.md: Routes added flat, the worker loop's
    first)."""
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
