"""HTTP Basic auth with the API token as the user name (SigOpt's scheme), or a Bearer token."""

from __future__ import annotations

import asyncio
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
from honed.service.tokens import TokenService

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
        token = await _looked_up(request.app.state, tokens, secret)
    return _rate_checked(request.app.state, token)


async def _looked_up(state: State, tokens: TokenService, secret: str) -> Token:
    """One lookup of ``secret`` at a time in this app: the requests that miss the cache
    meanwhile share its answer. A burst of 1,000 first asks after the cache lapsed made
    1,000 lookups, each a thread and a read."""
    lookups: dict[str, asyncio.Future[Token]] | None = getattr(state, "token_lookups", None)
    if lookups is None:
        lookups = state.token_lookups = {}
    lookup = lookups.get(secret)
    if lookup is None:
        lookup = asyncio.ensure_future(run_in_threadpool(tokens.authenticate, secret))
        lookups[secret] = lookup

        def done(finished: asyncio.Future[Token]) -> None:
            lookups.pop(secret, None)
            if not finished.cancelled():
                finished.exception()  # retrieved, even when every asker went away

        lookup.add_done_callback(done)
    # Shielded: a request that goes away does not cancel the others' lookup.
    return await asyncio.shield(lookup)


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
