"""The tags role: a client's tags, and the training runs that carry them."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.tags import Tag


class TagStore(Protocol):
    """Tags of a client (names unique per client) and the tags of each run (a run's
    ``tag_ids``, each at most once)."""

    @abstractmethod
    def create_tag(self, client_id: int, name: str, color: str) -> Tag:
        """Raises: NotFoundError for a missing client; ConflictError for a name the client
        has already. Locks: write."""

    @abstractmethod
    def get_tag(self, client_id: int, tag_id: int) -> Tag:
        """Raises: NotFoundError for a missing tag or another client's. Locks: read."""

    @abstractmethod
    def list_tags(self, client_id: int, page: PageRequest) -> Page[Tag]:
        """One page of the client's tags by id. Locks: read."""

    @abstractmethod
    def tags(self, client_id: int, tag_ids: list[int]) -> list[Tag]:
        """The client's tags among these ids, by id. Locks: read."""

    @abstractmethod
    def set_run_tag(self, run_id: int, tag_id: int, present: bool) -> None:
        """Put the tag on the run, or take it off (either is a no-op when already so);
        the run is updated.

        Raises: NotFoundError for a missing run. Locks: write; the run's row FOR UPDATE.
        """
