"""The web dashboard: static pages served by ``honed serve`` over read-only JSON.

The pages hold no data and need no login to load; every number they show comes from
``/dashboard/api/*`` and ``/v1/*`` with the token the browser keeps (HTTP Basic, like the
sigopt client), so the dashboard is exactly as protected as the API.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from honed.server.dashboard import runs
from honed.server.dashboard.built import PageCache
from honed.server.dashboard.pages import STATIC_DIR
from honed.server.dashboard.routes import router

__all__ = ["install"]


class RevalidatedStaticFiles(StaticFiles):
    """Browsers revalidate (a cheap 304 by ETag) instead of guessing a cache lifetime, so
    an upgraded honed never runs with the previous version's scripts."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


def install(app: FastAPI) -> None:
    app.state.dashboard_pages = PageCache()
    app.router.routes.extend(router.routes)
    app.router.routes.extend(runs.router.routes)
    app.mount(
        "/dashboard/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="dashboard-static"
    )
