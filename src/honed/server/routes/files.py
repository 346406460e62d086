"""Run files: the sigopt client's ``log_image`` flow (declare, upload to the URL given,
fetch), and a file's content.

``POST /v1/training_runs/{id}/files`` and ``GET /v1/files/{id}`` are sigopt-server's.
``/v1/files/{id}/content`` is honed's: the PUT the upload URL points at (signed, no token)
and the GET behind a download URL (signed, or with an API token, as the dashboard asks).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Query
from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool
from starlette.concurrency import run_in_threadpool

from honed.api import render
from honed.api.responses import FileOut
from honed.api.schemas import RunFileIn
from honed.domain.files import RunFile
from honed.errors import InvalidRequestError
from honed.server.auth import caller
from honed.server.query import SignedUrlQuery
from honed.server.routes.deps import ERRORS
from honed.server.routes.deps import Caller
from honed.server.routes.deps import JsonRoute
from honed.server.routes.deps import PathId
from honed.server.routes.deps import Svc
from honed.server.routes.deps import path_id
from honed.server.routes.deps import reply
from honed.service.app import Services
from honed.service.files import SignedQuery
from honed.service.files import UploadHeaders

router = APIRouter(responses=ERRORS, route_class=JsonRoute)
SignedUrl = Annotated[SignedUrlQuery, Query()]
# A file's bytes are served as an attachment in a sandbox: a user's SVG or HTML opened
# from honed's origin runs no script there (the dashboard's token is in its storage).
DOWNLOAD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=3600",
}


def content_url(request: Request, file: RunFile, method: str, svc: Services) -> str:
    """The file's own URL on this server, signed for ``method``. The server's public URL
    (``--public-url``), else the one this request came to."""
    signed = svc.files.sign(file, method)
    base = request.app.state.public_url or str(request.base_url).rstrip("/")
    return (
        f"{base}/v1/files/{file.id}/content?expires={signed.expires}&signature={signed.signature}"
    )


@router.post("/v1/training_runs/{run_id}/files", response_model=FileOut)
def create_run_file(
    request: Request, svc: Svc, token: Caller, run_id: PathId, body: RunFileIn
) -> JSONResponse:
    """Declare a file of the run (attached to it at once); the answer's ``upload`` says
    where to PUT its bytes (within an hour) and with which headers."""
    file = svc.files.create(
        token,
        path_id(run_id),
        body.content_length,
        body.content_type,
        body.content_md5,
        body.name,
        body.filename,
    )
    declared = file.declared
    upload = {
        "url": content_url(request, file, "PUT", svc),
        "method": "PUT",
        "headers": {
            "Content-Length": str(declared.content_length),
            "Content-MD5": declared.content_md5,
            "Content-Type": declared.content_type,
        },
    }
    return reply(render.file_json(file, upload=upload))


@router.get("/v1/files/{file_id}", response_model=FileOut)
def get_file(request: Request, svc: Svc, token: Caller, file_id: PathId) -> JSONResponse:
    """The file; once its content arrived, ``download`` has a URL valid for an hour."""
    file = svc.files.get(token, path_id(file_id))
    download = content_url(request, file, "GET", svc) if file.is_uploaded else None
    return reply(render.file_json(file, download_url=download))


@router.put(
    "/v1/files/{file_id}/content",
    response_model=FileOut,
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}, "required": True}},
)
async def upload_file_content(
    request: Request, svc: Svc, file_id: PathId, query: SignedUrl
) -> JSONResponse:
    """The upload URL of a file (signed: no token). The bytes must match the file's
    content_length and content_md5; anything else stores nothing."""
    headers = UploadHeaders(
        content_length=request.headers.get("content-length"),
        content_type=request.headers.get("content-type"),
        content_md5=request.headers.get("content-md5"),
    )
    upload = await run_in_threadpool(
        svc.files.begin_upload, path_id(file_id), _signed(query), headers
    )
    try:
        async for chunk in request.stream():
            if chunk:
                await run_in_threadpool(upload.write, chunk)
        file = await run_in_threadpool(upload.finish)
    except BaseException:
        upload.abort()  # a refused or broken upload leaves the file as it was
        raise
    return reply(render.file_json(file))


@router.get(
    "/v1/files/{file_id}/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"*/*": {}}, "description": "The bytes, of the file's type"}},
)
async def get_file_content(
    request: Request, svc: Svc, file_id: PathId, query: SignedUrl
) -> StreamingResponse:
    """A file's content: by its signed download URL, or with an API token."""
    if query.expires is None and query.signature is None:
        token = await caller(request)
        file, chunks = await run_in_threadpool(svc.files.content, token, path_id(file_id))
    else:
        file, chunks = await run_in_threadpool(
            svc.files.download, path_id(file_id), _signed(query)
        )
    disposition = f'attachment; filename="{file.download_name()}"'
    return StreamingResponse(
        iterate_in_threadpool(chunks),
        media_type=file.declared.content_type,
        headers={
            **DOWNLOAD_HEADERS,
            "Content-Length": str(file.declared.content_length),
            "Content-Disposition": disposition,
        },
    )


def _signed(query: SignedUrlQuery) -> SignedQuery:
    if query.expires is None or query.signature is None:
        missing = "expires" if query.expires is None else "signature"
        raise InvalidRequestError(f"Missing required query parameter {missing}")
    return SignedQuery(query.expires, query.signature)
