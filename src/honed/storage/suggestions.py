"""The suggestions role: suggestions handed out, their leases, and queued suggestions."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Protocol
from typing import TypeVar

from honed.domain.experiment import Experiment
from honed.domain.experiment import Metadata
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.parameters import Assignments
from honed.domain.records import ModelBasis
from honed.domain.records import Observation
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.errors import HonedError
from honed.storage.optimizer import Candidate
from honed.storage.optimizer import CandidateBasis

#: What a suggestion decision returns instead of a suggestion to store (see create_suggestion).
Declined = TypeVar("Declined")


@dataclass(frozen=True)
class NewSuggestion:
    assignments: Assignments
    source: SuggestionSource
    metadata: Metadata | None = None
    queued_id: int | None = None
    #: For a candidate of the optimizer: what its model knew.
    model: ModelBasis | None = None
    #: Multitask: the task to evaluate the point at (None for a plain experiment).
    task: str | None = None


@dataclass(frozen=True)
class SuggestionContext:
    """What a suggestion decision may read, taken under the experiment's lock.

    The callables read more in the same transaction; they are valid only inside ``decide``.
    """

    experiment: Experiment
    #: How many suggestions are open.
    open_count: int
    next_queued: QueuedSuggestion | None
    cursor: int
    #: Which of the given point hashes (``point_hash(assignments, task)``) an open
    #: suggestion has: the points a new suggestion must not repeat (in a multitask
    #: experiment, at the same task). Asked about the few points a decision considers:
    #: with 1,000 workers, reading every open suggestion's hash on each request was half
    #: the time of a server's event loop.
    open_among: Callable[[set[str]], set[str]] = field(repr=False)
    #: The hashes of every open suggestion, for a decision that must find a free point
    #: anywhere in the space.
    load_open_hashes: Callable[[], frozenset[str]] = field(repr=False)
    #: The open suggestions themselves, oldest first, for a decision that needs their
    #: points (reading and decoding every open suggestion on each request was a tenth of
    #: the server's CPU).
    load_open_suggestions: Callable[[], list[Suggestion]] = field(repr=False)
    load_observations: Callable[[], list[Observation]] = field(repr=False)
    #: Unused candidates, newest basis first, then by rank; the first LOADED_CANDIDATES of
    #: them (a pool may hold hundreds, and a request takes one of the first few).
    load_candidates: Callable[[], list[Candidate]] = field(repr=False)
    #: Which of the given point hashes (``point_hash(assignments, task)``) an observation
    #: of the experiment already has.
    observed_among: Callable[[set[str]], set[str]] = field(repr=False)
    #: How many non-deleted observations did not fail.
    count_successes: Callable[[], int] = field(repr=False)
    #: What the model behind the unused candidates knew, against the observations now.
    load_basis: Callable[[], CandidateBasis] = field(repr=False)


@dataclass(frozen=True)
class SuggestionDecision:
    suggestion: NewSuggestion
    cursor: int
    #: The candidate handed out, which the store marks used.
    candidate_id: int | None = None


class SuggestionStore(Protocol):
    """Suggestions of an experiment, and the queue of points users asked to be suggested.

    Invariants:
    - ``create_suggestion`` serializes calls for one experiment across every process that
      shares the store: ``decide`` sees all suggestions committed before it, and no other
      ``create_suggestion`` for that experiment commits in between;
    - no two open suggestions of an experiment whose source ``must_be_unique`` have equal
      assignments and the same task (enforced by the store, not only by callers): in a
      multitask experiment the same assignments at two tasks are two points;
    - with a ``suggestion_ttl_seconds`` on the experiment, open suggestions whose
      ``lease_until`` has passed are expired (soft-deleted, keeping their lease) under the
      experiment's lock before ``create_suggestion`` decides, so their points are free
      again. An expired suggestion still takes its late observation; one deleted
      otherwise has no lease and takes none.
    """

    @abstractmethod
    def create_suggestion(
        self,
        experiment_id: int,
        decide: Callable[[SuggestionContext], SuggestionDecision | Declined],
    ) -> Suggestion | Declined:
        """Lock the experiment, let ``decide`` choose from the context, insert, commit.

        ``decide`` must be quick: it runs inside the transaction that holds the lock.
        A decision that consumes a queued suggestion removes it from the queue; one that
        names a candidate marks it used; its ``cursor`` is stored on the experiment. Any
        other value than a ``SuggestionDecision`` declines: nothing is inserted and that
        value is returned (leases that expired meanwhile stay expired).

        Returns: the new open suggestion (with a lease when the experiment has a TTL).
        Raises: NotFoundError for a missing experiment; whatever ``decide`` raises (nothing
        is stored); ConflictError for a point an open suggestion whose source
        ``must_be_unique`` holds already; ValueError for a decision that consumes another
        queued suggestion than ``context.next_queued``.
        Locks: write; the experiment's row FOR NO KEY UPDATE (not FOR UPDATE: observation
        inserts, which check their foreign key with KEY SHARE, do not wait for it).
        """

    @abstractmethod
    def create_suggestions(
        self,
        experiment_id: int,
        decisions: Sequence[Callable[[SuggestionContext], SuggestionDecision | Declined]],
    ) -> list[Suggestion | Declined | HonedError]:
        """``create_suggestion`` for several requests in one transaction and one lock
        acquisition (a hand-out queue's group commit), an outcome per decision in order.

        Each ``decide`` sees the context as the ones before it left it: their suggestions
        open (``open_count``, ``open_among``, the loaders), their queued point gone from
        the queue, their candidate used, their ``cursor``. A ``decide`` that raises a
        HonedError has it as its outcome: nothing is stored for it, the others go on. Any
        other failure (the database's, a decide's bug, a conflict on insert) stores
        nothing of the batch and is raised.

        Returns: per decision, in order, the new open suggestion, the value it declined
        with, or the HonedError it raised.
        Raises: as ``create_suggestion``, but a ``decide``'s HonedError is its outcome
        instead; whatever is raised stores nothing of the batch.
        Locks: as ``create_suggestion``: write; the experiment's row FOR NO KEY UPDATE,
        taken once for the whole batch.
        """

    @abstractmethod
    def get_suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        """The suggestion, deleted ones too.

        Raises: NotFoundError (also for a suggestion of another experiment). Locks: read.
        """

    @abstractmethod
    def list_suggestions(
        self,
        experiment_id: int,
        page: PageRequest,
        open_only: bool = False,
        deleted: bool | None = False,
        ids: Sequence[int] | None = None,
    ) -> Page[Suggestion]:
        """One page of the experiment's suggestions by id: the deleted ones with
        ``deleted``, the others without, both with None; only open ones with
        ``open_only``; only ``ids`` when given.

        Locks: read.
        """

    @abstractmethod
    def open_suggestions(self, experiment_id: int) -> list[Suggestion]:
        """Every open, non-deleted suggestion of the experiment, oldest first.

        Locks: read.
        """

    @abstractmethod
    def count_open_suggestions(self) -> int:
        """How many open, non-deleted suggestions the active experiments have, all clients
        together (what operators watch). Suggestions past their lease count until expiry
        is applied to them.

        Locks: read.
        """

    @abstractmethod
    def update_suggestion_metadata(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        """Replace the suggestion's metadata and return it.

        Raises: NotFoundError. Locks: write; the suggestion's row.
        """

    @abstractmethod
    def extend_suggestion_lease(
        self,
        experiment_id: int,
        suggestion_id: int,
        lease_until: float,
        metadata: Metadata | None = None,
        set_metadata: bool = False,
    ) -> Suggestion:
        """Move an open suggestion's lease to ``lease_until`` if that is later (and set its
        metadata if asked) and return it; a suggestion that is closed, deleted, has no
        lease or has expired keeps its lease.

        Raises: NotFoundError. Locks: write; the suggestion's row.
        """

    @abstractmethod
    def expire_suggestions(self, experiment_id: int, now: float) -> int:
        """Soft-delete the open suggestions whose lease ended before ``now`` (keeping the
        lease, which tells expiry apart from a delete); how many.

        Locks: write; the rows it expires.
        """

    @abstractmethod
    def delete_suggestions(
        self, experiment_id: int, suggestion_id: int | None = None, open_only: bool = False
    ) -> int:
        """Soft-delete one suggestion, or all (open ones with ``open_only``), dropping their
        leases; how many were not deleted before.

        Raises: NotFoundError for a ``suggestion_id`` not of the experiment.
        Locks: write; the rows it deletes.
        """

    @abstractmethod
    def create_queued_suggestion(
        self, experiment_id: int, assignments: Assignments, task: str | None = None
    ) -> QueuedSuggestion:
        """Queue a point (and, multitask, its task) to be handed out before any the engine
        chooses; return it.

        Raises: NotFoundError for a missing experiment. Locks: write.
        """

    @abstractmethod
    def get_queued_suggestion(self, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        """Raises: NotFoundError (also for one of another experiment). Locks: read."""

    @abstractmethod
    def list_queued_suggestions(
        self, experiment_id: int, page: PageRequest
    ) -> Page[QueuedSuggestion]:
        """One page of the experiment's queue by id. Locks: read."""

    @abstractmethod
    def delete_queued_suggestion(self, experiment_id: int, queued_id: int) -> None:
        """Remove the point from the queue (for good: queued points are not records).

        Raises: NotFoundError. Locks: write; its row.
        """
