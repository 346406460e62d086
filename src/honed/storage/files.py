"""The run files role: what is known of each file of a training run (its bytes live in a
file store, honed.storage.contents)."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Protocol

from honed.domain.files import FileDeclaration
from honed.domain.files import RunFile


@dataclass(frozen=True)
class NewRunFile:
    declared: FileDeclaration
    #: Where its bytes will live in the file store; unique.
    key: str
    #: Hex of the random key its URLs are signed with.
    signing_key: str


class RunFileStore(Protocol):
    """Files of training runs. A file is attached to its run when it is created (the
    run's ``file_ids``), pending until ``mark_file_uploaded``; after that it never changes."""

    @abstractmethod
    def create_run_file(self, run_id: int, new: NewRunFile, max_per_run: int) -> RunFile:
        """Store the file, pending, and attach it to the run (which is updated).

        Raises: NotFoundError for a missing run; InvalidRequestError when the run has
        ``max_per_run`` files already.
        Locks: write; the run's row FOR UPDATE, so concurrent creates count each other.
        """

    @abstractmethod
    def get_run_file(self, file_id: int) -> RunFile:
        """The file. Raises: NotFoundError. Locks: read."""

    @abstractmethod
    def run_files(self, run_id: int) -> list[RunFile]:
        """The run's files by id. Locks: read."""

    @abstractmethod
    def mark_file_uploaded(self, file_id: int) -> RunFile:
        """Record that the file's bytes are stored; a file uploaded already keeps its time.

        Raises: NotFoundError. Locks: write; the file's row.
        """
