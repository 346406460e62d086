"""The observations role: what workers report, and the idempotency keys of reports."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.experiment import Metadata
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.parameters import Assignments
from honed.domain.records import MetricValue
from honed.domain.records import Observation


@dataclass(frozen=True)
class ObservationOrder:
    """What an observation list is sorted by before its id.

    ``field`` is "id", "created", "value" or "value_stddev" (of the metric at
    ``metric_index`` in the observation's values, which are stored one per metric, sorted by
    metric name), "parameter" (the assignment of ``parameter``, compared as text when
    ``text`` else as a number), or "task" (the cost of the observation's task, from
    ``task_costs``: name and cost of each task). A missing value (failed, unassigned, no
    task) sorts above all.
    """

    field: str = "id"
    metric_index: int = 0
    parameter: str = ""
    text: bool = False
    task_costs: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class NewObservation:
    """``suggestion_id`` or full ``assignments``; the storage fills assignments from the
    suggestion when they are None, and the task too (multitask): an observation of a
    suggestion is of the suggestion's task, ``task`` is that of given assignments."""

    suggestion_id: int | None
    assignments: Assignments | None
    values: tuple[MetricValue, ...]
    failed: bool
    metadata: Metadata | None
    task: str | None = None


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's ``Idempotency-Key`` and a digest of the request it came with."""

    client_id: int
    key: str
    request_hash: str


@dataclass(frozen=True)
class ObservationPatch:
    """Fields to change; a field left as None (``set_metadata`` False) keeps its value."""

    values: tuple[MetricValue, ...] | None = None
    failed: bool | None = None
    metadata: Metadata | None = None
    set_metadata: bool = False
    suggestion_id: int | None = None
    assignments: Assignments | None = None
    #: Multitask: the new task (with ``set_task``); a new ``suggestion_id`` brings its own.
    task: str | None = None
    set_task: bool = False


@dataclass(frozen=True)
class ObservationTotals:
    """An experiment's non-deleted observations in figures, for lists of experiments.

    ``best``: with one optimized metric, the first of ``honed.domain.ranking.
    best_observations``; ``front``: with two, the size of their Pareto front (else 0).
    """

    count: int
    failed: int
    early_stopped: int
    #: How many each task has (None: no task), for the budget spent in task costs.
    per_task: tuple[tuple[str | None, int], ...]
    #: The oldest and the newest (by id).
    first: Observation | None
    last: Observation | None
    best: Observation | None
    front: int


class ObservationStore(Protocol):
    """Observations of an experiment.

    Invariants:
    - creating an observation that names a suggestion closes the suggestion;
    - an observation create that repeats an earlier one (same suggestion, values, failed
      flag and metadata as a stored observation of that suggestion, or the same idempotency
      key) stores nothing and returns the stored observation, also when both arrive at once
      through different processes;
    - observation writes take no lock on the experiment's row, so on PostgreSQL they never
      wait for a suggestion being created.
    """

    @abstractmethod
    def observe(
        self,
        experiment_id: int,
        prepare: Callable[[Experiment], Sequence[NewObservation]],
        idempotency: IdempotencyKey | None = None,
        named: Sequence[int | None] = (),
    ) -> tuple[Experiment, list[Observation]]:
        """Store what ``prepare`` makes of the experiment, in one transaction.

        ``prepare`` sees the experiment as stored at that moment and may raise to refuse
        (nothing is stored then). All or nothing; closes the suggestions the observations
        name.

        ``named``: the suggestion each observation ``prepare`` returns will name (None for
        one given by its assignments), when the caller knows them before: a store may
        read those suggestions together with the experiment. Only a hint: what
        ``prepare`` returns is stored, and what it names is checked, either way.

        With ``idempotency``: a key stored before returns the observations stored with it;
        a new key is stored with the observations.

        Returns: the experiment ``prepare`` saw, and the observations in the order given.
        Raises: NotFoundError for a missing experiment; whatever ``prepare`` raises;
        InvalidRequestError for a suggestion that is missing, deleted (other than by
        expiry) or of another experiment (the request is wrong, not the URL);
        UnprocessableError for a stored key that came with another request; ConflictError
        for a new key that another request is storing at this moment (asked again, the
        key is found).
        Locks: write; each suggestion named, FOR UPDATE, so two reports of one suggestion
        queue and the second is recognised as a repeat. Not the experiment's row.
        """

    def create_observations(
        self, experiment_id: int, observations: Sequence[NewObservation]
    ) -> list[Observation]:
        """``observe`` with observations already checked.

        Returns: the observations stored, in the order given.
        Raises: as ``observe`` (there is no ``prepare`` to raise).
        Locks: as ``observe``: write; each suggestion named, FOR UPDATE. Not the
        experiment's row.
        """
        named = [o.suggestion_id for o in observations]
        return self.observe(experiment_id, lambda _experiment: observations, named=named)[1]

    @abstractmethod
    def purge_idempotency_keys(self, older_than: float) -> int:
        """Forget keys stored before the unix time ``older_than``; how many.

        Locks: write; the rows it deletes.
        """

    @abstractmethod
    def get_observation(self, experiment_id: int, observation_id: int) -> Observation:
        """The observation, deleted ones too.

        Raises: NotFoundError (also for one of another experiment). Locks: read.
        """

    @abstractmethod
    def list_observations(
        self,
        experiment_id: int,
        page: PageRequest,
        deleted: bool = False,
        order: ObservationOrder | None = None,
    ) -> Page[Observation]:
        """One page of the experiment's observations (the deleted ones with ``deleted``,
        else the others) in ``order`` (None: by id).

        Locks: read.
        """

    @abstractmethod
    def all_observations(self, experiment_id: int) -> list[Observation]:
        """Every non-deleted observation, oldest first. Locks: read."""

    @abstractmethod
    def count_observations(self, experiment_id: int) -> int:
        """How many non-deleted observations the experiment has. Locks: read."""

    @abstractmethod
    def observation_totals(self, experiment: Experiment) -> ObservationTotals:
        """The figures of ``experiment``'s observations, computed where they are stored:
        no observation is read but the first, the last and the best, so an experiments
        list costs a few queries per experiment, not its observations.

        Locks: read.
        """

    @abstractmethod
    def pareto_front(self, experiment: Experiment) -> list[Observation]:
        """With two optimized metrics: ``honed.domain.ranking.best_observations`` of the
        experiment's observations (their Pareto front, in its order), computed where they
        are stored, so that only the front's observations are read.

        Locks: read.
        """

    @abstractmethod
    def update_observation(
        self, experiment_id: int, observation_id: int, patch: ObservationPatch
    ) -> Observation:
        """Apply ``patch`` and return the observation. A new ``suggestion_id`` takes that
        suggestion's assignments and task and closes it; new ``assignments`` unlink the
        suggestion.

        Raises: NotFoundError; InvalidRequestError for a suggestion the observation cannot
        name (as in ``observe``).
        Locks: write; the observation's row, and a suggestion it names FOR UPDATE.
        """

    @abstractmethod
    def delete_observations(self, experiment_id: int, observation_id: int | None = None) -> int:
        """Soft-delete one observation or all of them; how many were not deleted before.
        The experiment counts as updated.

        Raises: NotFoundError for a missing experiment, or an ``observation_id`` not of it.
        Locks: write; the rows it deletes and the experiment's row.
        """
