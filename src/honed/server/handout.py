"""The worker loop's calls (suggestion create and update, observation create): one function
each, which the app's route and the embedded transport both run.

Such an operation takes a ``HotCall`` and returns its steps: a generator that yields the
seconds to wait before its next step (a suggestion request waiting for the optimizer), or
a place in a hand-out queue to wait in (``honed.service.handout``), and returns the
answer's JSON. A route runs each step in the threadpool (inline for an embedded store,
which answers in about a millisecond) and waits between steps holding no thread.
The embedded transport finds the same route among the app's routes and runs the steps in
its caller's thread: four thread hops fewer per call (docs/decisions.md: The embedded
client serves its hottest calls in the caller's thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Generator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import cast

import anyio
from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.utils import get_path_param_names
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match

from honed.domain.tenancy import Token
from honed.errors import HonedError
from honed.server.auth import caller
from honed.server.auth import caller_in_thread
from honed.server.auth import services
from honed.server.fit_watch import fit_watch
from honed.server.http import UNEXPECTED
from honed.server.http import error_json
from honed.server.http import error_response
from honed.server.http import json_body
from honed.server.http import parse_json
from honed.server.routes.deps import PathId
from honed.service.app import Services
from honed.service.handout import Queued
from honed.service.suggestions import FitWait

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
#: Yields seconds to wait, a queue to wait in or a fit to wait for; returns the answer.
Steps = Generator[float | Queued[Any] | FitWait, None, JSON]


@dataclass(frozen=True)
class HotCall:
    services: Services
    token: Token
    #: Path parameters by name, as sent.
    path: Mapping[str, str]
    #: The parsed JSON body.
    body: Any
    #: Case-insensitive.
    headers: Mapping[str, str]


Operation = Callable[[HotCall], Steps]


def answer(value: JSON) -> Steps:
    """The steps of an operation that answers at once."""
    yield from ()
    return value


class _Stepper:
    """Runs an operation's steps one call at a time: the first call starts it."""

    def __init__(self, operation: Operation, call: HotCall) -> None:
        self._operation, self._call = operation, call
        self._steps: Steps | None = None

    def next(self) -> float | Queued[Any] | FitWait | JSON:
        """Seconds to wait, a queue to wait in, or the answer. (StopIteration must not
        cross a thread.)"""
        if self._steps is None:
            self._steps = self._operation(self._call)
        try:
            return next(self._steps)
        except StopIteration as done:
            result: JSON = done.value
            return result

    def next_in_thread(
        self, hand_on: Callable[[Callable[[], bool]], None]
    ) -> float | Queued[Any] | FitWait | JSON:
        """``next`` run in a worker thread: a hand-out queue's transaction that falls to
        this request runs here at once, so a request alone costs one thread hop as before
        the queue. What is left of the queue goes to ``hand_on`` from here, before this
        request reads its own answer: that read may raise (the database is down), and the
        request's handler may be gone (its client hung up); the requests queued behind
        it must be served either way."""
        step = self.next()
        if not isinstance(step, Queued) or step.drain is None:
            return step
        _drain_first(step.drain, hand_on)
        return self.next() if step.answer.done() else replace(step, drain=None)


#: Operations whose first step touches no database (``starts_on_loop``).
_STARTS_ON_LOOP: set[Operation] = set()


def starts_on_loop(operation: Operation) -> Operation:
    """Mark an operation whose first step, up to its first yield, touches no database: a
    server runs that step on its event loop on every store, as it runs every step for a
    local one. Later steps run there too when they read a settled hand-out answer
    (``Queued.settled``); any other runs in a worker thread. A request that only queues
    and reads its answer then costs no thread hop: two per request were most of a
    PostgreSQL burst's CPU beyond SQLite's (docs/decisions.md: A burst on PostgreSQL:
    requests step on the event loop, cached reads one at a time)."""
    _STARTS_ON_LOOP.add(operation)
    return operation


def _drain_first(drain: Callable[[], bool], hand_on: Callable[[Callable[[], bool]], None]) -> None:
    """Serve a hand-out queue's first batch here and hand the rest of the queue on."""
    if drain():
        hand_on(drain)


class LeanRoute(APIRoute):
    """A route served by an ``Operation``: no FastAPI dependency solving per request (it
    cost as much CPU as the endpoint). The OpenAPI document still lists its path parameters,
    the body its ``lean_body`` dependency names (never run) and its response model.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        self.operation = cast("Operation", endpoint)
        super().__init__(path, _documented(self.operation, path), **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        operation = self.operation
        first_on_loop = operation in _STARTS_ON_LOOP

        async def handler(request: Request) -> Response:
            svc = await services(request)
            call = HotCall(
                svc,
                await caller(request),
                request.path_params,
                await json_body(request),
                request.headers,
            )
            stepper = _Stepper(operation, call)
            loop = asyncio.get_running_loop()

            def hand_on(drain: Callable[[], bool]) -> None:
                loop.call_soon_threadsafe(_drain_elsewhere, drain)

            on_loop = first_on_loop
            while True:
                if svc.local or on_loop:
                    step = stepper.next()
                else:
                    step = await run_in_threadpool(stepper.next_in_thread, hand_on)
                if isinstance(step, dict):
                    return JSONResponse(step)
                on_loop = False
                if isinstance(step, Queued):
                    await _in_queue(step, svc.local, hand_on)
                    on_loop = not svc.local and step.settled()
                elif isinstance(step, FitWait):
                    await fit_watch(request.app.state).wait(step, svc.local)
                else:
                    await anyio.sleep(step)

        return handler


async def _in_queue(
    queued: Queued[Any], local: bool, hand_on: Callable[[Callable[[], bool]], None]
) -> None:
    """Wait for a hand-out queue's answer holding no thread. The request that opened the
    queue starts its drain: on the event loop for a local store (a transaction there takes
    about a millisecond, and the requests that arrive meanwhile join the next one), else
    its first batch in a worker thread and the rest of the queue in another (as
    ``next_in_thread`` does when the step ran in a thread)."""
    if queued.drain is not None:
        if local:
            _drain_on_loop(asyncio.get_running_loop(), queued.drain)
        else:
            await run_in_threadpool(_drain_first, queued.drain, hand_on)
    if queued.answer.done():  # its own batch answered it: no turn of the loop to wait
        return
    with contextlib.suppress(Exception):  # the operation's next step reads the answer
        await asyncio.wrap_future(queued.answer)


def _drain_on_loop(loop: asyncio.AbstractEventLoop, drain: Callable[[], bool]) -> None:
    """One batch per turn of the loop: requests read from the sockets in between join."""

    def turn() -> None:
        if drain():
            loop.call_soon(turn)

    loop.call_soon(turn)


def _drain_elsewhere(drain: Callable[[], bool]) -> None:
    """Go on with a hand-out queue in a worker thread of the loop's, until it is empty."""
    asyncio.get_running_loop().run_in_executor(None, _drain_all, drain)


def _drain_all(drain: Callable[[], bool]) -> None:
    while drain():
        pass


def _documented(operation: Operation, path: str) -> Callable[..., Any]:
    """What FastAPI reads of a LeanRoute's endpoint (name, doc, path parameters); never
    called."""

    async def endpoint(**path_params: str) -> Response:
        raise NotImplementedError("served by LeanRoute's handler")

    endpoint.__name__ = operation.__name__
    endpoint.__doc__ = operation.__doc__
    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=PathId)
        for name in sorted(get_path_param_names(path))
    ]
    setattr(endpoint, "__signature__", inspect.Signature(parameters))  # noqa: B010
    return endpoint


def hot_route(app: FastAPI, method: str, path: str) -> tuple[LeanRoute, dict[str, str]] | None:
    """The route the app would serve a request with, and its path parameters, when that
    route is a LeanRoute."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            if isinstance(route, LeanRoute):
                return route, dict(child["path_params"])
            return None
    return None


def serve_in_thread(
    app: FastAPI,
    route: LeanRoute,
    path_params: Mapping[str, str],
    content: bytes,
    headers: Mapping[str, str],
) -> JSONResponse:
    """The app's answer to a LeanRoute's request, computed in this thread (a wait sleeps
    it), with the app's authentication, rate limit and error answers."""
    try:
        token = caller_in_thread(app.state, headers.get("authorization"))
        call = HotCall(app.state.services, token, path_params, parse_json(content), headers)
        stepper = _Stepper(route.operation, call)
        while not isinstance(step := stepper.next(), dict):
            if isinstance(step, Queued | FitWait):
                step.wait_here()
            else:
                time.sleep(step)
        return JSONResponse(step)
    except HonedError as error:
        return error_json(error)
    except Exception:
        logger.exception("unexpected error")  # as the app's own handler does
        return error_response(500, UNEXPECTED)
