"""The dashboard's training runs: a run's page (its fields, tags and a gallery of its
images) and the runs of an AI experiment, with their read-only JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi import Request
from fastapi.responses import FileResponse
from fastapi.responses import JSONResponse

from honed.api import render
from honed.api.responses import DashboardRunOut
from honed.api.responses import DashboardRunsOut
from honed.domain.files import RunFile
from honed.domain.paging import PageRequest
from honed.domain.runs import TrainingRun
from honed.domain.tags import Tag
from honed.server.dashboard.pages import page
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply
from honed.server.routes.files import content_url

#: The newest runs an experiment page lists.
RUNS_SHOWN = 500

router = APIRouter(responses=ERRORS)


@router.get("/dashboard/runs/{run_id}", include_in_schema=False)
def run_page(run_id: str) -> FileResponse:
    path_id(run_id)
    return page("run.html")


@router.get(
    "/dashboard/api/training_runs/{run_id}", tags=["dashboard"], response_model=DashboardRunOut
)
def run_detail(request: Request, svc: Svc, token: Caller, run_id: PathId) -> JSONResponse:
    """The run as ``GET /v1/training_runs/{id}`` renders it, with its tags and its files
    (``url``: the content of an uploaded one, signed for an hour, as an ``<img>`` needs)."""
    run = svc.runs.get(token, path_id(run_id))
    files = svc.files.of_run(token, run.id)

    def file_json(file: RunFile) -> dict[str, Any]:
        return {
            "id": str(file.id),
            "title": file.title,
            "name": file.declared.name,
            "filename": file.declared.filename,
            "content_type": file.declared.content_type,
            "content_length": file.declared.content_length,
            "image": file.is_image,
            "uploaded": file.is_uploaded,
            "url": content_url(request, file, "GET", svc) if file.is_uploaded else None,
        }

    return reply(
        {
            "run": render.training_run_json(run),
            "tags": [_tag(t) for t in svc.tags.of_run(run)],
            "files": [file_json(f) for f in files],
        }
    )


@router.get(
    "/dashboard/api/experiments/{experiment_id}/runs",
    tags=["dashboard"],
    response_model=DashboardRunsOut,
)
def experiment_runs(svc: Svc, token: Caller, experiment_id: PathId) -> JSONResponse:
    """The newest runs of an AI experiment, newest first, and how many it has."""
    experiment = svc.aiexperiments.get(token, path_id(experiment_id))
    listed = svc.runs.list(
        token,
        experiment.spec.project or "",
        PageRequest(limit=RUNS_SHOWN),
        experiment_id=experiment.id,
    )
    tags = {t.id: t for t in svc.tags.of_runs(listed.items)}
    return reply(
        {
            "count": listed.count,
            "runs": [_run_row(run, tags) for run in listed.items],
        }
    )


def _run_row(run: TrainingRun, tags: dict[int, Tag]) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "name": run.name,
        "state": run.state.value,
        "created": run.created,
        "values": {name: v.value for name, v in run.metric_values().items()},
        "tags": [_tag(tags[i]) for i in run.tag_ids if i in tags],
        "files": len(run.file_ids),
    }


def _tag(tag: Tag) -> dict[str, Any]:
    return {"id": str(tag.id), "name": tag.name, "color": tag.color}
