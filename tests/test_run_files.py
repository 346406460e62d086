"""Run files in process: who may see and write them, signed URLs that expire, and the local
file store's all-or-nothing writes. (The official client's flow against a real server is
tests/e2e/test_run_files.py.)"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from honed.domain.tenancy import Token
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import PermissionDeniedError
from honed.service.app import Services
from honed.service.files import PendingUpload
from honed.service.files import RunFileService
from honed.service.files import UploadHeaders
from honed.storage.local_contents import LocalContents
from honed.storage.sql.storage import SqlStorage

CONTENT = b"some image bytes"
MD5 = base64.b64encode(hashlib.md5(CONTENT).digest()).decode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(storage: SqlStorage, tmp_path: Path, clock: Clock) -> Services:
    services = Services(storage, contents=LocalContents(tmp_path / "files"))
    services.files = RunFileService(
        storage, services.runs, LocalContents(tmp_path / "files"), clock=clock
    )
    return services


def caller(app: Services, client_id: int | None = None, permissions: str = "write") -> Token:
    client = client_id if client_id is not None else app.storage.create_client("c").id
    return app.tokens.issue(client, permissions=permissions).token


def run_of(app: Services, token: Token) -> int:
    app.projects.create(token, "proj", "Project", None)
    return app.runs.create_in_project(token, "proj", [{"name": "r"}])[0].id


def upload(pending: PendingUpload, data: bytes = CONTENT) -> None:
    pending.write(data)
    pending.finish()


def test_files_of_other_clients_and_read_only_tokens(app: Services) -> None:
    owner = caller(app)
    run_id = run_of(app, owner)
    file = app.files.create(owner, run_id, len(CONTENT), "image/png", MD5, "a", None)
    stranger = caller(app)
    with pytest.raises(NotFoundError):
        app.files.get(stranger, file.id)
    with pytest.raises(NotFoundError):
        app.files.create(stranger, run_id, len(CONTENT), "image/png", MD5, "a", None)
    reader = caller(app, owner.client_id, permissions="read")
    assert app.files.get(reader, file.id) == file
    with pytest.raises(PermissionDeniedError):
        app.files.create(reader, run_id, len(CONTENT), "image/png", MD5, "b", None)
    assert app.runs.get(owner, run_id).file_ids == (file.id,)


def test_signed_urls_expire_and_name_one_method(app: Services, clock: Clock) -> None:
    owner = caller(app)
    file = app.files.create(owner, run_of(app, owner), len(CONTENT), "image/png", MD5, "a", None)
    put, get = app.files.sign(file, "PUT"), app.files.sign(file, "GET")
    with pytest.raises(PermissionDeniedError, match="signature"):
        app.files.begin_upload(file.id, get, UploadHeaders())  # a download URL cannot upload
    clock.now += 3601
    with pytest.raises(PermissionDeniedError, match="expired"):
        app.files.begin_upload(file.id, put, UploadHeaders())
    clock.now -= 2
    upload(app.files.begin_upload(file.id, put, UploadHeaders()))
    _, chunks = app.files.download(file.id, get)
    assert b"".join(chunks) == CONTENT
    clock.now += 10
    with pytest.raises(PermissionDeniedError, match="expired"):
        app.files.download(file.id, get)


def test_a_refused_upload_leaves_no_bytes(app: Services, tmp_path: Path) -> None:
    owner = caller(app)
    file = app.files.create(owner, run_of(app, owner), len(CONTENT), "image/png", MD5, "a", None)
    pending = app.files.begin_upload(file.id, app.files.sign(file, "PUT"), UploadHeaders())
    pending.write(CONTENT[:-1] + b"?")
    with pytest.raises(InvalidRequestError, match="content_md5"):
        pending.finish()
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []
    with pytest.raises(NotFoundError, match="has no content yet"):
        app.files.content(owner, file.id)


def test_local_contents_keys_stay_inside_the_directory(tmp_path: Path) -> None:
    store = LocalContents(tmp_path / "files")
    for key in ("../x", "a/../../x", "/etc/passwd", "a//b", ".hidden", ""):
        with pytest.raises(ValueError, match="not a file store key"):
            store.writer(key)
    writer = store.writer("1/2/abc")
    writer.write(b"half")
    (partial,) = (tmp_path / "files" / "1" / "2").iterdir()
    assert partial.name.endswith(".part")
    with pytest.raises(NotFoundError):
        list(store.read("1/2/abc"))  # nothing under the key before commit
    writer.write(b" and half")
    writer.commit()
    assert b"".join(store.read("1/2/abc")) == b"half and half"
    assert [p.name for p in (tmp_path / "files" / "1" / "2").iterdir()] == ["abc"]
