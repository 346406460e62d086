"""Dashboard pages and their read-only JSON, under /dashboard."""

from __future__ import annotations

import io
import time
from typing import Annotated

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Header
from fastapi import Query
from fastapi import Request
from fastapi.responses import FileResponse
from fastapi.responses import JSONResponse
from fastapi.responses import RedirectResponse
from fastapi.responses import Response

from honed.api.export import AnsweredSuggestion
from honed.api.export import export_json
from honed.api.export import export_observations
from honed.api.render import fetched_experiment_json
from honed.api.render import observation_renderer
from honed.api.responses import DashboardDetailOut
from honed.api.responses import DashboardModelOut
from honed.api.responses import DashboardSummariesOut
from honed.api.responses import ShareOut
from honed.domain.table import write_csv
from honed.errors import NotFoundError
from honed.server.dashboard import built
from honed.server.dashboard import render
from honed.server.dashboard.built import PageCache
from honed.server.dashboard.pages import page
from honed.server.query import ShareQuery
from honed.server.query import StateQuery
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply

router = APIRouter(responses=ERRORS)


async def page_cache(request: Request) -> PageCache:
    """The app's built experiment pages (installed with the dashboard). Async: no thread
    hop for a lookup."""
    cache: PageCache = request.app.state.dashboard_pages
    return cache


@router.get("/dashboard", include_in_schema=False)
def dashboard_root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("/dashboard/", include_in_schema=False)
def experimentspage() -> FileResponse:
    return page("experiments.html")


@router.get("/dashboard/login", include_in_schema=False)
def loginpage() -> FileResponse:
    return page("login.html")


@router.get("/dashboard/experiments/{experiment_id}", include_in_schema=False)
def experiment_page(experiment_id: str) -> FileResponse:
    """The page for any id; one that is no id is a 404 still, but a page that says there is
    no such experiment, not the API's JSON error in a browser tab."""
    try:
        path_id(experiment_id)
    except NotFoundError:
        return page("experiment.html", status_code=404)
    return page("experiment.html")


@router.get("/dashboard/api/experiments", tags=["dashboard"], response_model=DashboardSummariesOut)
def experiment_summaries(
    svc: Svc, token: Caller, query: Annotated[StateQuery, Query()]
) -> JSONResponse:
    """Every experiment of the caller's client with its progress and best value."""
    summaries = svc.summaries.experiments(token, query.states)
    return reply({"experiments": [render.summary_json(s) for s in summaries]})


@router.get(
    "/dashboard/api/experiments/{experiment_id}",
    tags=["dashboard"],
    response_model=DashboardDetailOut,
)
def experiment_detail(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    pages: Annotated[PageCache, Depends(page_cache)],
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """All an experiment page shows, in one read: observations (with their trial status,
    source and intermediate values), open suggestions, best-so-far traces, the Pareto
    front and its hypervolume, and the workers seen in observation metadata.

    ``version`` changes whenever any of it does (the clock aside); sent back as
    ``If-None-Match``, an unchanged experiment is a bodiless 304, told from the version of
    its records without reading them (a page that polls costs a few index reads). A
    changed page is built once for every tab that asks (built.PageCache)."""
    eid = path_id(experiment_id)
    records = svc.summaries.version(token, eid)
    now = time.time()
    if if_none_match is not None and render.is_current(if_none_match, records, now):
        return Response(status_code=304, headers={"ETag": if_none_match})
    page = pages.get(eid, records, now)
    if page is None:
        page = built.build(svc.summaries, token, eid)
        pages.put(page)
    return Response(
        page.content(int(now)),
        media_type="application/json",
        headers={"ETag": f'"{page.version}"'},
    )


@router.get(
    "/dashboard/api/experiments/{experiment_id}/observations.csv",
    tags=["dashboard"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per observation"}},
)
def experiment_csv(svc: Svc, token: Caller, experiment_id: PathId) -> Response:
    """Every observation, oldest first, in the CSV ``honed export`` writes (the columns
    are honed.domain.table's): the page's CSV download keeps the rows its table shows."""
    table = svc.summaries.table(token, path_id(experiment_id))
    out = io.StringIO()
    write_csv(table.schema, table.rows, out)
    return _download(out.getvalue(), "text/csv", experiment_id, "csv")


@router.get(
    "/dashboard/api/experiments/{experiment_id}/observations.json",
    tags=["dashboard"],
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "The experiment and its observations as the v1 API returns them, "
            "with each one's source and intermediate values",
        }
    },
)
def experiment_json(svc: Svc, token: Caller, experiment_id: PathId) -> Response:
    """The experiment and every observation, oldest first, each with its suggestion's
    source and its intermediate values, in the JSON ``honed export --format json``
    writes (honed.api.export): the page's JSON download keeps the observations its
    table shows."""
    export = svc.experiments.export(token, path_id(experiment_id))
    experiment = fetched_experiment_json(export.experiment, export.progress, export.optimizer)
    observations = map(observation_renderer(export.experiment), export.observations)
    answered = {
        i: AnsweredSuggestion(s.source.value, s.metadata) for i, s in export.suggestions.items()
    }
    text = export_json(experiment, export_observations(observations, answered))
    return _download(text, "application/json", experiment_id, "json")


def _download(text: str, media_type: str, experiment_id: str, extension: str) -> Response:
    name = f"experiment-{experiment_id}-observations.{extension}"
    return Response(
        text,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/dashboard/api/experiments/{experiment_id}/model",
    tags=["dashboard"],
    response_model=DashboardModelOut,
)
def experiment_model(
    svc: Svc,
    token: Caller,
    experiment_id: PathId,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """honed's extension: what the optimizer's model says (parameter importance: Sobol
    indices of the GP's posterior mean; slices with the mean and a ±2 sd band), as the
    newest optimizer fit computed it, or why there is none yet (``status``). Computed in
    optimizer processes; this only reads it. ``version`` works as on the detail."""
    view = svc.analysis.view(token, path_id(experiment_id))
    data = render.model_json(view)
    etag = f'"{data["version"]}"'
    if if_none_match == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return JSONResponse(data, headers={"ETag": etag})


@router.post("/dashboard/api/share", tags=["dashboard"], response_model=ShareOut)
def share(svc: Svc, token: Caller, query: Annotated[ShareQuery, Query()]) -> JSONResponse:
    """Mint a read-only token for a share link (revoke it with ``honed token revoke``).

    With ``?experiment=ID`` the token sees that experiment only; without, the list."""
    experiment = query.experiment
    experiment_id = None if experiment is None else path_id(experiment)
    target = "the experiments list" if experiment is None else f"experiment {experiment_id}"
    issued = svc.tokens.share(token, f"dashboard share link for {target}", experiment_id)
    return reply({"token": issued.secret, "token_id": str(issued.token.id), "permissions": "read"})
