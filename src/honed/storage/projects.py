"""The projects role: the named groups of a client's experiments and training runs."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Protocol

from honed.domain.experiment import Metadata
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.projects import Project


@dataclass(frozen=True)
class ProjectPatch:
    """Fields to change; None (``set_metadata`` False) keeps a field."""

    name: str | None = None
    metadata: Metadata | None = None
    set_metadata: bool = False
    deleted: bool | None = None


class ProjectStore(Protocol):
    """Projects of a client, each known by a reference unique per client. Projects are
    never removed (``deleted`` is a flag), so experiments and runs may hold the reference."""

    @abstractmethod
    def create_project(
        self, client_id: int, reference: str, name: str, metadata: Metadata | None
    ) -> Project:
        """Store a new project and return it.

        Raises: NotFoundError for a missing client; ConflictError when the client has a
        project with this reference already (also one created at the same moment).
        Locks: write.
        """

    @abstractmethod
    def get_project(self, client_id: int, reference: str) -> Project:
        """The client's project, deleted ones too.

        Raises: NotFoundError. Locks: read.
        """

    @abstractmethod
    def list_projects(
        self, client_id: int, page: PageRequest, deleted: bool | None = False
    ) -> Page[Project]:
        """One page of the client's projects by id: deleted ones with ``deleted``, the
        others without, all with None.

        Locks: read.
        """

    @abstractmethod
    def update_project(self, client_id: int, reference: str, patch: ProjectPatch) -> Project:
        """Apply ``patch`` and return the project.

        Raises: NotFoundError. Locks: write; the project's row.
        """
