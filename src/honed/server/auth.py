"""HTTP Basic auth with the API token as the user name (SigOpt's scheme), or a Bearer token."""

from __future__ import annotations

import base64
import binascii

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from honed.domain.tenancy import Token
from honed.errors import AuthenticationRequiredError
from honed.errors import InvalidRequestError
from honed.server.ratelimit import RateLimiter
from honed.service.app import Services

NO_TOKEN_MESSAGE = (
    "No API token provided. Send your token as the user name of HTTP Basic auth "
    "(the sigopt client does this with SIGOPT_API_TOKEN)."
)


def token_from_header(header: str | None) -> str:
    if not header:
        raise AuthenticationRequiredError(NO_TOKEN_MESSAGE)
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() != "basic":
        raise InvalidRequestError("Invalid Authorization header: use Basic or Bearer")
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError("Invalid Authorization header: not valid Basic auth") from None
    token = decoded.partition(":")[0]
    if not token:
        raise InvalidRequestError("Invalid Authorization header: the token (user name) is empty")
    return token


async def services(request: Request) -> Services:
    result: Services = request.app.state.services
    return result


async def caller(request: Request) -> Token:
    """FastAPI dependency: the token that authenticated this request.

    Async so that a cached token costs no thread hop; a lookup runs in the threadpool.
    """
    secret = token_from_header(request.headers.get("authorization"))
    tokens = (await services(request)).tokens
    token = tokens.cached(secret)
    if token is None:
        token = await run_in_threadpool(tokens.authenticate, secret)
    return _rate_checked(request.app.state, token)


def caller_in_thread(state: State, authorization: str | None) -> Token:
    """``caller`` for a request served outside the event loop (the embedded transport);
    ``state``: the app's."""
    secret = token_from_header(authorization)
    tokens = state.services.tokens
    return _rate_checked(state, tokens.cached(secret) or tokens.authenticate(secret))


def _rate_checked(state: State, token: Token) -> Token:
    limiter: RateLimiter | None = state.rate_limiter
    if limiter is not None:
        limiter.check(token.id)
    return token
