"""Tag use cases: a client's tags (``/v1/clients/{id}/tags``) and the tags of its runs
(``/v1/training_runs/{id}/tags``), as sigopt-server has them."""

from __future__ import annotations

from collections.abc import Sequence

from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.runs import TrainingRun
from honed.domain.tags import Tag
from honed.domain.tags import check_tag
from honed.domain.tenancy import Token
from honed.errors import NotFoundError
from honed.errors import UnprocessableError
from honed.service.access import require_write
from honed.service.runs import TrainingRunService
from honed.storage.tags import TagStore


class TagService:
    def __init__(self, storage: TagStore, runs: TrainingRunService) -> None:
        self._storage = storage
        self._runs = runs

    def create(self, caller: Token, name: str, color: str) -> Tag:
        require_write(caller)
        check_tag(name, color)
        return self._storage.create_tag(caller.client_id, name, color)

    def client_tags(self, caller: Token, page: PageRequest) -> Page[Tag]:
        return self._storage.list_tags(caller.client_id, page)

    def of_run(self, run: TrainingRun) -> list[Tag]:
        """The tags of a run the caller has read (TrainingRunService.get)."""
        return self.of_runs([run])

    def of_runs(self, runs: Sequence[TrainingRun]) -> list[Tag]:
        """The tags of runs of one client that the caller has read, each once."""
        if not runs:
            return []
        ids = sorted({t for run in runs for t in run.tag_ids})
        return self._storage.tags(runs[0].client_id, ids)

    def add_to_run(self, caller: Token, run_id: int, tag_id: int) -> Tag:
        run = self._runs.get(caller, run_id)
        require_write(caller)
        try:
            tag = self._storage.get_tag(run.client_id, tag_id)
        except NotFoundError:
            # sigopt-server's status: the run exists, the body names nothing.
            raise UnprocessableError(
                f"Invalid id: the tag with id {tag_id} cannot be added to this training run "
                "because it does not exist"
            ) from None
        self._storage.set_run_tag(run_id, tag_id, present=True)
        return tag

    def remove_from_run(self, caller: Token, run_id: int, tag_id: int) -> Tag:
        run = self._runs.get(caller, run_id)
        require_write(caller)
        tag = self._storage.get_tag(run.client_id, tag_id)
        self._storage.set_run_tag(run_id, tag_id, present=False)
        return tag
