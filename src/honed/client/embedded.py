"""honed's app in this process: an httpx transport that calls the ASGI app directly.

Imported only for embedded connections, so ``import honed.client`` stays free of FastAPI,
SQLAlchemy and torch. Requests go through the same routes, parsing and error table as a
remote server, which keeps one code path for both kinds of connection; the worker loop's
calls run their route's operation in the caller's thread.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio.from_thread
import httpx

from honed.domain.tenancy import Token
from honed.domain.tenancy import TokenType
from honed.server import handout
from honed.server.app import create_app
from honed.server.optimizers import optimizer_processes
from honed.service.app import Services
from honed.service.suggestions import ServingPolicy
from honed.service.tokens import TokenService
from honed.service.tokens import generate_token
from honed.storage.sql.storage import SqlStorage


class _TrustedTokens(TokenService):
    """Tokens as usual, plus one secret that lives only in this process's memory and acts
    as the default client: the embedded caller holds the database anyway, and no token
    has to be minted and stored for it."""

    def __init__(self, services: Services, secret: str, trusted: Token) -> None:
        super().__init__(services.storage)
        self._secret, self._trusted = secret, trusted

    def cached(self, secret: str) -> Token | None:
        return self._trusted if secret == self._secret else super().cached(secret)

    def authenticate(self, secret: str) -> Token:
        return self._trusted if secret == self._secret else super().authenticate(secret)


class EmbeddedTransport(httpx.BaseTransport):
    """Serves requests with ``create_app`` over ``database_url`` in this process.

    The caller is trusted as the default client (it holds the database itself), so no token
    is minted or stored. ``optimizers`` starts that many ``honed optimizer`` processes on the
    same database so Bayesian experiments get model-based suggestions (0: Sobol only); they
    end with this process.
    """

    def __init__(self, database_url: str, optimizers: int = 0) -> None:
        self.storage = SqlStorage.from_url(database_url)
        # Requests wait (bounded) for the optimizer processes started here, from their start.
        services = Services(self.storage, ServingPolicy(optimizers_expected=optimizers > 0))
        client, _ = services.tokens.bootstrap(None)
        trusted = Token(
            id=0,
            client_id=client.id,
            token_type=TokenType.CLIENT_API,
            permissions="write",
            created=0,
            description="embedded",
        )
        self.secret = generate_token()
        services.tokens = _TrustedTokens(services, self.secret, trusted)
        self._app = create_app(services=services)
        self._asgi = httpx.ASGITransport(app=self._app)
        self._exit = contextlib.ExitStack()
        self._portal = self._exit.enter_context(anyio.from_thread.start_blocking_portal())
        self._optimizers = optimizer_processes(database_url, optimizers, quiet=True)
        self._optimizers.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # The worker loop's calls run in this thread (honed.server.handout); the skip
        # header is the app middleware's job.
        hot = handout.hot_route(self._app, request.method, request.url.path)
        if hot is not None and "x-response-content" not in request.headers:
            route, path_params = hot
            answer = handout.serve_in_thread(
                self._app, route, path_params, request.read(), request.headers
            )
            return httpx.Response(
                answer.status_code,
                headers=answer.headers.raw,
                content=bytes(answer.body),
                request=request,
            )

        async def call() -> tuple[int, Any, bytes]:
            response = await self._asgi.handle_async_request(request)
            body = await response.aread()
            return response.status_code, response.headers, body

        status, headers, body = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=body, request=request)

    def optimizer_pids(self) -> list[int]:
        return self._optimizers.pids()

    def close(self) -> None:
        self._optimizers.stop()
        self._exit.close()
        self.storage.close()
