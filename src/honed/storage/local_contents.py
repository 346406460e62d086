"""The file store on a local (or mounted) directory: each key a file under ``root``,
written to a temporary file beside it and renamed into place, so a reader never sees half
an upload and a crash leaves at most a stray ``.part`` file."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from honed.errors import NotFoundError
from honed.storage.contents import ContentWriter
from honed.storage.contents import FileContents

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\Z")


class LocalContents(FileContents):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.location = str(self.root)

    def path(self, key: str) -> Path:
        segments = key.split("/")
        if not all(_SEGMENT.match(s) for s in segments):
            raise ValueError(f"not a file store key: {key!r}")
        return self.root.joinpath(*segments)

    def writer(self, key: str) -> ContentWriter:
        target = self.path(key)
        # Owner only: the files are users' data, served through honed's checks.
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _LocalWriter(target)

    def read(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        try:
            handle = self.path(key).open("rb")
        except FileNotFoundError:
            raise NotFoundError("The file's content is missing from the file store") from None
        return _chunks(handle, chunk_size)


def _chunks(handle: io.BufferedReader, chunk_size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk


class _LocalWriter(ContentWriter):
    def __init__(self, target: Path) -> None:
        self._target = target
        descriptor, name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
        self._temporary = Path(name)
        self._handle = os.fdopen(descriptor, "wb")

    def write(self, chunk: bytes) -> None:
        self._handle.write(chunk)

    def commit(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._temporary, self._target)

    def abort(self) -> None:
        self._handle.close()
        self._temporary.unlink(missing_ok=True)
