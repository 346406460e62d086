"""Run file use cases: the sigopt client's upload flow.

``log_image`` declares a file (``POST /v1/training_runs/{id}/files``: length, MD5, MIME
type, names), gets back an upload URL with the headers to send, and PUTs the bytes there.
honed's URL points at honed itself and is signed (honed.domain.files), so the PUT needs no
API token, as with the S3 URL sigopt-server hands out. The bytes are streamed into the file
store and become the file's content only when their length and MD5 are the ones declared;
anything else is refused with nothing stored, and an uploaded file never changes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

from honed.domain.files import DEFAULT_MAX_FILE_BYTES
from honed.domain.files import MAX_FILES_PER_RUN
from honed.domain.files import URL_LIFETIME_SECONDS
from honed.domain.files import RunFile
from honed.domain.files import declare_file
from honed.domain.files import md5_digest
from honed.domain.files import signature_holds
from honed.domain.files import url_signature
from honed.domain.tenancy import Token
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import PermissionDeniedError
from honed.service.access import require_write
from honed.service.runs import TrainingRunService
from honed.storage.contents import ContentWriter
from honed.storage.contents import FileContents
from honed.storage.files import NewRunFile
from honed.storage.files import RunFileStore


@dataclass(frozen=True)
class FileLimits:
    max_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_per_run: int = MAX_FILES_PER_RUN


@dataclass(frozen=True)
class SignedQuery:
    """The query string that makes a file's URL its own credential for one method."""

    expires: int
    signature: str


@dataclass(frozen=True)
class UploadHeaders:
    """The headers of an upload that must agree with the file's declaration (None: not
    sent)."""

    content_length: str | None = None
    content_type: str | None = None
    content_md5: str | None = None


class RunFileService:
    def __init__(
        self,
        storage: RunFileStore,
        runs: TrainingRunService,
        contents: FileContents | None,
        limits: FileLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._runs = runs
        self._contents = contents
        self.limits = limits or FileLimits()
        self._clock = clock

    @property
    def location(self) -> str | None:
        """Where file contents are stored, for people; None when uploads are off."""
        return self._contents.location if self._contents is not None else None

    # --- declare, read --------------------------------------------------------------------
    def create(
        self,
        caller: Token,
        run_id: int,
        content_length: int,
        content_type: str,
        content_md5: str,
        name: str | None,
        filename: str | None,
    ) -> RunFile:
        run = self._runs.get(caller, run_id)
        require_write(caller)
        self._file_store()
        declared = declare_file(
            content_length, content_type, content_md5, name, filename, self.limits.max_bytes
        )
        # Made by honed alone: a user's file name never reaches a path or an object key.
        key = f"{run.client_id}/{run.id}/{secrets.token_hex(16)}"
        new = NewRunFile(declared, key, signing_key=secrets.token_hex(32))
        return self._storage.create_run_file(run.id, new, self.limits.max_per_run)

    def get(self, caller: Token, file_id: int) -> RunFile:
        # A missing file answers as another client's does: ids tell a caller nothing.
        file = self._storage.get_run_file(file_id)
        self._runs.get(caller, file.training_run_id)  # 404 for a run the caller cannot see
        return file

    def of_run(self, caller: Token, run_id: int) -> list[RunFile]:
        self._runs.get(caller, run_id)
        return self._storage.run_files(run_id)

    def sign(self, file: RunFile, method: str) -> SignedQuery:
        expires = int(self._clock()) + URL_LIFETIME_SECONDS
        return SignedQuery(expires, url_signature(file, method, expires))

    # --- upload ---------------------------------------------------------------------------
    def begin_upload(
        self, file_id: int, query: SignedQuery, headers: UploadHeaders
    ) -> PendingUpload:
        """Check an upload's URL and headers before any byte is read."""
        file = self._file(file_id)
        self._check_signed(file, "PUT", query)
        if file.is_uploaded:
            raise ConflictError(
                f"File {file.id} was uploaded already; a file's content never changes "
                "(create another file)"
            )
        declared = file.declared
        if headers.content_length is not None and headers.content_length.strip() != str(
            declared.content_length
        ):
            raise InvalidRequestError(
                f"Invalid Content-Length header: {headers.content_length[:30]!r}; the file "
                f"was created with content_length {declared.content_length}"
            )
        if headers.content_type is not None:
            sent = headers.content_type.split(";")[0].strip().lower()
            if sent != declared.content_type:
                raise InvalidRequestError(
                    f"Invalid Content-Type header: {sent[:120]!r}; the file was created with "
                    f"content_type {declared.content_type!r}"
                )
        if headers.content_md5 is not None:
            md5_digest(headers.content_md5, "Content-MD5 header")
            if headers.content_md5 != declared.content_md5:
                raise InvalidRequestError(
                    f"Invalid Content-MD5 header: {headers.content_md5!r}; the file was "
                    f"created with content_md5 {declared.content_md5!r}"
                )
        return PendingUpload(file, self._file_store().writer(file.key), self._storage)

    # --- download -------------------------------------------------------------------------
    def download(self, file_id: int, query: SignedQuery) -> tuple[RunFile, Iterator[bytes]]:
        """The content of a file, for a signed download URL."""
        file = self._file(file_id)
        self._check_signed(file, "GET", query)
        return file, self._content(file)

    def content(self, caller: Token, file_id: int) -> tuple[RunFile, Iterator[bytes]]:
        """The content of a file, for a caller with a token (the dashboard)."""
        file = self.get(caller, file_id)
        return file, self._content(file)

    # --- helpers --------------------------------------------------------------------------
    def _file(self, file_id: int) -> RunFile:
        """For a signed URL, which no client's token reads."""
        try:
            return self._storage.get_run_file(file_id)
        except NotFoundError:
            raise NotFoundError(f"File with id {file_id} not found.") from None

    def _file_store(self) -> FileContents:
        if self._contents is None:
            raise NotFoundError(
                "This server stores no files (it was started without a file store)"
            )
        return self._contents

    def _content(self, file: RunFile) -> Iterator[bytes]:
        if not file.is_uploaded:
            raise NotFoundError(f"File {file.id} has no content yet: its upload has not arrived")
        return self._file_store().read(file.key)

    def _check_signed(self, file: RunFile, method: str, query: SignedQuery) -> None:
        what = "upload" if method == "PUT" else "download"
        if not signature_holds(file, method, query.expires, query.signature):
            raise PermissionDeniedError(
                f"Invalid {what} URL for file {file.id}: the signature does not match"
            )
        if query.expires < self._clock():
            raise PermissionDeniedError(
                f"This {what} URL of file {file.id} expired; "
                + ("create the file again" if method == "PUT" else "fetch the file again")
                + " for a new one"
            )


class PendingUpload:
    """The bytes of one upload as they arrive: counted, hashed and written to the file
    store, where they become the file's content at ``finish`` if they are what was declared."""

    def __init__(self, file: RunFile, writer: ContentWriter, storage: RunFileStore) -> None:
        self.file = file
        self._writer = writer
        self._storage = storage
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        declared = self.file.declared.content_length
        if self._size > declared:
            self.abort()
            raise InvalidRequestError(
                f"Invalid content_length: more bytes arrived than the {declared} the file "
                "was created with"
            )
        self._md5.update(chunk)
        self._writer.write(chunk)

    def finish(self) -> RunFile:
        declared = self.file.declared
        if self._size != declared.content_length:
            self.abort()
            raise InvalidRequestError(
                f"Invalid content_length: {self._size} bytes arrived; the file was created "
                f"with content_length {declared.content_length}"
            )
        if self._md5.digest() != md5_digest(declared.content_md5, "content_md5"):
            self.abort()
            raise InvalidRequestError(
                "Invalid content_md5: the bytes that arrived do not have the MD5 "
                f"{declared.content_md5} the file was created with"
            )
        self._writer.commit()
        return self._storage.mark_file_uploaded(self.file.id)

    def abort(self) -> None:
        self._writer.abort()
