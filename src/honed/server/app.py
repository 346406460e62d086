"""create_app: the ASGI application, with SigOpt's error shape on every failure."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from honed import __version__
from honed.domain.validation import describe
from honed.errors import HonedError
from honed.server import dashboard
from honed.server import openapi
from honed.server.http import UNEXPECTED
from honed.server.http import error_json
from honed.server.http import error_response
from honed.server.ratelimit import RateLimiter
from honed.server.routes import aiexperiments
from honed.server.routes import experiments
from honed.server.routes import files
from honed.server.routes import observations
from honed.server.routes import projects
from honed.server.routes import runs
from honed.server.routes import suggestions
from honed.server.routes import tags
from honed.server.routes import tokens
from honed.server.settings import Settings
from honed.service.app import Services
from honed.service.files import FileLimits
from honed.storage.contents import FileContents
from honed.storage.local_contents import LocalContents
from honed.storage.sql.storage import SqlStorage

logger = logging.getLogger(__name__)


class SkipResponseContent:
    """``X-Response-Content: skip`` turns a successful response into an empty 204."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (b"x-response-content", b"skip") not in [
            (k.lower(), v.lower()) for k, v in scope["headers"]
        ]:
            await self.app(scope, receive, send)
            return
        skipping = False

        async def send_skipping(message: Message) -> None:
            nonlocal skipping
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                skipping = True
                await send({"type": "http.response.start", "status": 204, "headers": []})
            elif message["type"] == "http.response.body" and skipping:
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
            else:
                await send(message)

        await self.app(scope, receive, send_skipping)


def file_store(settings: Settings) -> FileContents:
    """Where run files are kept: the S3 bucket if one is set, else a local directory."""
    if settings.files_s3_bucket:
        try:
            from honed.storage.s3_contents import S3Contents
        except ImportError:  # pragma: no cover - depends on the installation
            raise ValueError("files_s3_bucket needs boto3: pip install 'honed[s3]'") from None
        return S3Contents(
            settings.files_s3_bucket,
            settings.files_s3_prefix,
            settings.files_s3_endpoint_url,
            settings.files_s3_region,
        )
    return LocalContents(settings.files_directory)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The honed server. Pass ``services`` to serve an existing store (tests, embedded use).

    Without ``settings``, the defaults: HONED_* variables are read by ``Settings()`` and
    ``honed serve``, not by a server embedded in someone's process.
    """
    settings = settings or Settings.model_construct()
    if services is None:
        services = Services(
            SqlStorage.from_url(settings.database_url, pool_size=settings.db_pool_size),
            settings.serving,
            contents=file_store(settings),
            file_limits=FileLimits(max_bytes=settings.max_file_bytes),
        )
        services.tokens.bootstrap(settings.api_token)
    app = FastAPI(title="honed", version=__version__, docs_url="/docs", redoc_url=None)
    app.state.services = services
    app.state.public_url = settings.public_url.rstrip("/") if settings.public_url else None
    app.state.rate_limiter = (
        RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit > 0 else None
    )
    # The routes themselves, not include_router's wrapper, which costs CPU on every
    # request; routes are matched in order, so the worker loop's endpoints come first
    # (docs/decisions.md: Routes added flat, the worker loop's first).
    for router in (suggestions.hot, observations.hot):
        app.router.routes.extend(router.routes)
    for module in (
        suggestions,
        observations,
        experiments,
        tokens,
        projects,
        aiexperiments,
        runs,
        files,
        tags,
    ):
        app.router.routes.extend(module.router.routes)
    dashboard.install(app)

    @app.api_route("/health", methods=["GET", "HEAD", "POST"], include_in_schema=False)
    def health() -> dict[str, Any]:
        services.operations.ping()
        return {}

    @app.exception_handler(HonedError)
    async def honed_error(_request: Request, error: HonedError) -> JSONResponse:
        return error_json(error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            return error_response(404, f"Endpoint not found: {request.url.path}")
        if error.status_code == 405:
            # Starlette's Allow header names only the first route that matched the path;
            # list the methods of every route for it (GET, POST and DELETE share paths).
            allowed = ", ".join(_allowed_methods(app, request.scope))
            return error_response(
                405, f"This endpoint accepts only the following methods: [{allowed}]"
            )
        return error_response(error.status_code, str(error.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where, *loc = first["loc"] or ("request",)
        if where == "body":  # as honed.api.parse.body words it
            return error_response(400, describe({**first, "loc": tuple(loc)}))
        field = ".".join(str(part) for part in loc) or "request"
        return error_response(400, f"Invalid {field}: {first['msg']}")

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, error: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=error)
        return error_response(500, UNEXPECTED)

    openapi.install(app)
    app.add_middleware(SkipResponseContent)
    if settings.cors_origins:
        # Off unless origins are named: browsers then refuse cross-origin calls.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
            max_age=600,
        )
    if settings.metrics_port is not None:
        _instrument(app, services)
    return app


def _instrument(app: FastAPI, services: Services) -> None:
    """Operators' metrics (honed.server.metrics), imported only when they are on."""
    from honed.server import metrics

    services.suggestions.observer = metrics.HandOutMetrics()
    metrics.sample_pool(services.storage.pool_use)
    # Added last, so outermost: it times the other middleware too.
    app.add_middleware(metrics.RequestMetrics)


# MERGE: SigOpt's recursive update of training runs.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "MERGE")


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Methods some route serves at this path (probed through the public ``matches``)."""
    allowed = []
    for method in HTTP_METHODS:
        probe = {
            "type": "http",
            "path": scope["path"],
            "root_path": scope.get("root_path", ""),
            "method": method,
            "headers": [],
        }
        if any(route.matches(probe)[0] is Match.FULL for route in app.router.routes):
            allowed.append(method)
    return allowed
