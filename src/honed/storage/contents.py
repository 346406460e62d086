"""The file store: the bytes of run files, by key (the database knows what each file is,
honed.storage.files). A contract of its own, so that files can live on a local disk or
elsewhere whatever the database."""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import Iterator


class ContentWriter(ABC):
    """One upload in progress. Nothing of it is visible under its key until ``commit``;
    ``abort`` (or a crash) leaves the key as it was."""

    @abstractmethod
    def write(self, chunk: bytes) -> None: ...

    @abstractmethod
    def commit(self) -> None:
        """Make the bytes written the content of the key, whole, replacing any there."""

    @abstractmethod
    def abort(self) -> None:
        """Drop what was written; harmless after ``commit`` or a previous ``abort``."""


class FileContents(ABC):
    """Keys are relative paths of ``[A-Za-z0-9._-]`` segments joined by ``/``, made by
    honed (never by users)."""

    #: Where the bytes are, for people (a directory, a bucket).
    location: str

    @abstractmethod
    def writer(self, key: str) -> ContentWriter: ...

    @abstractmethod
    def read(self, key: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """The key's content in chunks. Raises: NotFoundError when it has none."""
