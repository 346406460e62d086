"""Project use cases: a client's named groups of AI experiments and training runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from honed.domain.experiment import Metadata
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.projects import Project
from honed.domain.projects import check_project_id
from honed.domain.tenancy import Token
from honed.domain.validation import check_name
from honed.domain.validation import validate_metadata
from honed.service.access import project_for
from honed.service.access import require_write
from honed.storage.experiments import ExperimentStore
from honed.storage.projects import ProjectPatch
from honed.storage.projects import ProjectStore


class ProjectRoles(ExperimentStore, ProjectStore, Protocol):
    """What project use cases touch: projects, and the experiment a bound token
    names."""


@dataclass(frozen=True)
class ProjectUpdate:
    name: str | None = None
    metadata: Metadata | None = None
    set_metadata: bool = False
    deleted: bool | None = None


class ProjectService:
    """Projects are looked up by the caller's client and a reference id, so another client's
    projects do not exist for the caller; for a token bound to an experiment, only that
    experiment's project exists."""

    def __init__(self, storage: ProjectRoles) -> None:
        self._storage = storage

    def create(
        self, caller: Token, reference: object, name: str, metadata: object = None
    ) -> Project:
        require_write(caller)
        checked = check_project_id(reference)
        check_name(name, "name")
        return self._storage.create_project(
            caller.client_id, checked, name, validate_metadata(metadata)
        )

    def get(self, caller: Token, reference: str) -> Project:
        return project_for(self._storage, caller, reference)

    def list(self, caller: Token, page: PageRequest, deleted: bool | None) -> Page[Project]:
        if caller.experiment_id is None:
            return self._storage.list_projects(caller.client_id, page, deleted)
        reference = self._storage.get_experiment(caller.experiment_id).spec.project
        items = [] if reference is None else [self.get(caller, reference)]
        items = [p for p in items if _on_page(p, page, deleted)]
        return Page(items, count=len(items))

    def update(self, caller: Token, reference: str, change: ProjectUpdate) -> Project:
        if caller.experiment_id is not None:
            self.get(caller, reference)  # 404 for a project it cannot see
        require_write(caller)
        if change.name is not None:
            check_name(change.name, "name")
        return self._storage.update_project(
            caller.client_id,
            reference,
            ProjectPatch(
                name=change.name,
                metadata=validate_metadata(change.metadata),
                set_metadata=change.set_metadata,
                deleted=change.deleted,
            ),
        )


def _on_page(project: Project, page: PageRequest, deleted: bool | None) -> bool:
    """Whether a one-project list shows ``project`` for this page and filter."""
    return (
        page.limit > 0
        and (deleted is None or project.deleted == deleted)
        and (page.before is None or project.id < page.before)
        and (page.after is None or project.id > page.after)
    )
