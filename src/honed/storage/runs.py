"""The training runs role: runs of AI experiments (and of no experiment), and their
checkpoints."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.experiment import Metadata
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.records import MetricValue
from honed.domain.runs import Checkpoint
from honed.domain.runs import RunCounts
from honed.domain.runs import RunState
from honed.domain.runs import TrainingRun
from honed.storage.observations import NewObservation


@dataclass(frozen=True)
class NewTrainingRun:
    project: str
    state: RunState
    data: Mapping[str, Any]
    experiment_id: int | None = None
    suggestion_id: int | None = None
    #: Stored in the same transaction as the run's observation (a run that is created
    #: finished); needs ``experiment_id``.
    observation: NewObservation | None = None


@dataclass(frozen=True)
class RunUpdate:
    """A run's new state. ``observation``, when set, is stored for the run's experiment in
    the same transaction and linked to the run (closing the suggestion it names)."""

    state: RunState
    data: Mapping[str, Any]
    deleted: bool
    project: str
    observation: NewObservation | None = None


class TrainingRunStore(Protocol):
    """Training runs of a client's projects. A run of an experiment gets at most one
    observation, stored with the run in one transaction, however many clients finish it at
    once."""

    @abstractmethod
    def create_training_runs(
        self, client_id: int, runs: Sequence[NewTrainingRun]
    ) -> list[TrainingRun]:
        """Store the runs (and the observations of those created finished), all or
        nothing; return them in the order given.

        Raises: NotFoundError for a missing client or project; InvalidRequestError for an
        observation whose suggestion cannot take it (as in ``ObservationStore.observe``).
        Locks: write; each suggestion an observation names, FOR UPDATE.
        """

    @abstractmethod
    def get_training_run(self, run_id: int) -> TrainingRun:
        """The run, deleted ones too.

        Raises: NotFoundError. Locks: read.
        """

    @abstractmethod
    def list_training_runs(
        self,
        client_id: int,
        project: str,
        page: PageRequest,
        experiment_id: int | None = None,
        deleted: bool | None = False,
    ) -> Page[TrainingRun]:
        """One page of the project's runs by id (of one experiment, when given): deleted
        ones with ``deleted``, the others without, all with None.

        Locks: read.
        """

    @abstractmethod
    def update_training_run(
        self, run_id: int, change: Callable[[TrainingRun, Experiment | None], RunUpdate]
    ) -> TrainingRun:
        """Lock the run, let ``change`` (quick; it may raise to refuse) compute its new state
        from the run and its experiment as stored now, and store that in one transaction.
        An observation whose suggestion was deleted meanwhile is not stored.

        Returns: the run as stored now (``completed`` set when it first finished).
        Raises: NotFoundError for a missing run or new project; whatever ``change``
        raises (nothing is stored); ValueError for an observation of a run without an
        experiment or with an observation already.
        Locks: write; the run's row FOR UPDATE, so updates of one run apply one after the
        other; a suggestion the observation names, FOR UPDATE.
        """

    @abstractmethod
    def delete_experiment_runs(self, experiment_id: int) -> int:
        """Soft-delete every run of an experiment; how many were not deleted before.

        Locks: write; the rows it deletes.
        """

    @abstractmethod
    def run_counts(self, experiment_id: int) -> RunCounts:
        """How many non-deleted runs of the experiment are active and finished.

        Locks: read.
        """

    @abstractmethod
    def runs_for_observations(
        self, experiment_id: int, observation_ids: Sequence[int]
    ) -> list[TrainingRun]:
        """The non-deleted runs linked to these observations, in the order of the ids (an
        observation without one is left out).

        Locks: read.
        """

    @abstractmethod
    def create_checkpoint(
        self, run_id: int, values: Sequence[MetricValue], metadata: Metadata | None
    ) -> Checkpoint:
        """Store a checkpoint of the run (which counts it and is updated) and return it.

        Raises: NotFoundError for a missing run. Locks: write; the run's row.
        """

    @abstractmethod
    def list_checkpoints(self, run_id: int, page: PageRequest) -> Page[Checkpoint]:
        """One page of the run's checkpoints by id.

        Raises: NotFoundError for a missing run. Locks: read.
        """
