"""The experiments role: experiment specs, their state, and lists of them."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import Metadata
from honed.domain.paging import Page
from honed.domain.paging import PageRequest


@dataclass(frozen=True)
class ExperimentQuery:
    """Filters and order of an experiment list beyond client and state.

    ``search``: a case-insensitive substring of the name. ``recent``: sort by last update
    (then id) instead of id. ``created_from``/``created_before``: a window on creation time
    in seconds, start inclusive, end exclusive (SigOpt's period_start/period_end).
    """

    search: str | None = None
    recent: bool = False
    created_from: float | None = None
    created_before: float | None = None


@dataclass(frozen=True)
class ExperimentPatch:
    """Fields to change; None (or ``set_x`` False, where None is a value) keeps a field."""

    name: str | None = None
    state: ExperimentState | None = None
    observation_budget: int | None = None
    set_observation_budget: bool = False
    parallel_bandwidth: int | None = None
    set_parallel_bandwidth: bool = False
    metadata: Metadata | None = None
    set_metadata: bool = False
    spec: ExperimentSpec | None = None


class ExperimentStore(Protocol):
    """Experiments of a client. An experiment is never removed: deleting one sets its state
    to DELETED, and its records stay."""

    @abstractmethod
    def create_experiment(self, client_id: int, spec: ExperimentSpec) -> Experiment:
        """Store a new, active experiment of the client (with an empty optimizer state) and
        return it.

        Raises: NotFoundError for a missing client; InvalidRequestError when
        ``spec.project`` names no project of the client.
        Locks: write.
        """

    @abstractmethod
    def get_experiment(self, experiment_id: int) -> Experiment:
        """The experiment, deleted ones too.

        Raises: NotFoundError. Locks: read.
        """

    @abstractmethod
    def experiment_version(self, experiment_id: int) -> str:
        """An opaque text that changes whenever the experiment, or any of its suggestions
        or observations, is created, changed or deleted, a suggestion's lease extension
        aside (leases are not shown to people; a heartbeat would change it every few
        seconds). Read without reading the records, so a reader can tell "unchanged" from
        it for far less than the records cost: two equal texts mean no such write was
        committed between the calls.

        Raises: NotFoundError. Locks: read.
        """

    @abstractmethod
    def list_experiments(
        self,
        client_id: int,
        page: PageRequest,
        states: Sequence[ExperimentState] = (ExperimentState.ACTIVE,),
        development: bool | None = None,
        project: str | None = None,
        runs_only: bool | None = False,
        experiment_id: int | None = None,
        query: ExperimentQuery | None = None,
    ) -> Page[Experiment]:
        """One page of the client's experiments in ``states``, by id unless ``query`` says
        ``recent`` (then by last change, a newer observation counting as one).

        ``development`` and ``project`` keep only matching experiments (None: any).
        ``runs_only``: False lists classic experiments, True AI experiments, None both.
        ``experiment_id`` keeps only that experiment (a token bound to one).

        Locks: read.
        """

    @abstractmethod
    def update_experiment(self, experiment_id: int, patch: ExperimentPatch) -> Experiment:
        """Apply ``patch`` and return the experiment as stored now.

        Raises: NotFoundError; InvalidRequestError when a new ``spec.project`` names no
        project of the client.
        Locks: write; the experiment's row FOR NO KEY UPDATE before it is read, so updates
        of one experiment apply one after the other (and wait for a suggestion being
        created, which holds the same lock).
        """
