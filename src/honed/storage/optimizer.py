"""The optimizer's two roles over one queue of experiments to fit.

``OptimizerQueue`` is what optimizer processes use: which experiments need a fit, a lease
so that one process fits an experiment at a time, the data a fit is conditioned on, the
candidates it stores, and heartbeats that tell live processes from dead ones.
``OptimizerSignals`` is what suggestion requests and users see of it: whether a new fit
landed, whether any optimizer is alive, how many candidates are ready, and the demand a
request that found none signals back.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Hashable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.optimizer import OptimizerStatus
from honed.domain.parameters import Assignments
from honed.domain.records import Observation
from honed.domain.records import Suggestion

#: An optimizer process silent this long (heartbeats every 2 s) is taken for dead: its
#: leases can be claimed by others, so a fit killed midway does not block the experiment
#: for the rest of its lease.
LEASE_OWNER_SILENT_SECONDS = 30.0

#: How many unused candidates a suggestion decision reads (SuggestionContext.load_candidates).
LOADED_CANDIDATES = 64

#: Identifies the newest stored fit and recorded fit error of an experiment (their times):
#: a request waiting for candidates tries again when it changes.
FitMarker = tuple[float | None, float | None]


@dataclass(frozen=True)
class CandidateBasis:
    """What the model behind the ready candidates was conditioned on, against the store
    at hand-out. All unused candidates come from the newest stored fit."""

    #: Observations the model was fitted on.
    observations: int
    #: Candidates of rank below this were optimised one by one; the others are the pool.
    batch: int
    #: Observations stored now (created, changed or deleted since the fit read its data)
    #: that the model neither saw nor treated as pending (an open suggestion then).
    unaccounted: int
    marker: FitMarker
    #: How long the newest fit took (None: none yet): what a waiting request's bound is
    #: made from.
    fit_seconds: float | None


@dataclass(frozen=True)
class FitInputs:
    """What one fit is conditioned on, read in this order: the marks first, so that what
    was read after them is never taken for more than it is."""

    #: The newest ``modified`` of the experiment's observation rows, deleted ones too: an
    #: observation modified later may be one the fit did not see.
    basis_modified: float | None
    #: The newest suggestion id: a suggestion opened after it was not pending in the fit.
    latest_suggestion_id: int | None
    observations: list[Observation]
    #: The open suggestions, oldest first: points being evaluated.
    pending: list[Suggestion]


@dataclass(frozen=True)
class CandidateSet:
    """A fit's result: replaces the unused candidates of its experiment."""

    #: Best first: ``batch`` optimised candidates, then the Thompson pool.
    points: Sequence[Assignments]
    batch: int
    inputs: FitInputs
    fit_seconds: float
    #: Multitask: the task of each point (parallel to ``points``; empty: none has one).
    tasks: Sequence[str | None] = ()


@dataclass(frozen=True)
class Candidate:
    """A point the optimizer computed ahead from the data as of ``basis_modified``."""

    id: int
    experiment_id: int
    assignments: Assignments
    basis_modified: float
    rank: int
    #: Multitask: the task the point is to be evaluated at.
    task: str | None = None


@dataclass(frozen=True)
class OptimizerWork:
    """An active experiment as the optimizer loop sees it when choosing what to fit."""

    experiment: Experiment
    latest_modified: float | None
    observation_count: int
    success_count: int
    open_count: int
    ready_candidates: int
    fitted_modified: float | None
    fitted_count: int
    stored_candidates: int
    fitted_at: float | None
    fit_seconds: float | None
    demand_at: float | None
    lease_until: float | None
    #: The optimizer process holding the lease (``OptimizerLoop.name``), if any.
    lease_owner: str | None
    error_at: float | None
    #: The lease owner's last heartbeat (None: it signed off or never sent one).
    lease_owner_seen_at: float | None = None
    #: FitInputs.latest_suggestion_id of the last stored fit.
    fitted_suggestion_id: int | None = None
    #: The newest open suggestion: one newer than ``fitted_suggestion_id`` was handed out
    #: after the last fit read its data, which did not treat it as pending.
    latest_open_id: int | None = None
    #: Requests that found no candidate they could take since the last fit was stored.
    waiting: int = 0

    def leased_by_other(self, name: str, now: float) -> bool:
        """Another optimizer process holds a lease that is still good: not expired, and
        its owner sent a heartbeat within LEASE_OWNER_SILENT_SECONDS."""
        return self.lease_owner != name and lease_is_live(
            self.lease_until, self.lease_owner_seen_at, now
        )


def lease_is_live(lease_until: float | None, owner_seen_at: float | None, now: float) -> bool:
    """A lease is good while unexpired and while its owner sent a heartbeat within
    LEASE_OWNER_SILENT_SECONDS (a killed owner's lease stays stored until it expires)."""
    return (
        lease_until is not None
        and lease_until > now
        and owner_seen_at is not None
        and owner_seen_at >= now - LEASE_OWNER_SILENT_SECONDS
    )


@dataclass(frozen=True)
class FitTurn:
    """Where an experiment's next fit stands among the live optimizer processes."""

    #: A live process fits the experiment now.
    fitting: bool
    #: Live processes, and how many of them fit some experiment now.
    live: int
    busy: int

    @property
    def coming(self) -> bool:
        """The optimizer works toward the experiment's next model: its fit runs, or every
        live process fits another experiment (its turn comes when one of them ends)."""
        return self.fitting or 0 < self.live <= self.busy


class OptimizerQueue(Protocol):
    """The optimizer processes' side. Any number of processes may share a store: a lease
    per experiment keeps two from fitting one experiment at once, and a process that stops
    sending heartbeats loses its leases after LEASE_OWNER_SILENT_SECONDS."""

    @abstractmethod
    def optimizer_work(self) -> list[OptimizerWork]:
        """Every active, non-development experiment of type offline, by id, with what its
        optimizer state and records say about whether it needs a fit.

        Locks: read.
        """

    @abstractmethod
    def optimizer_work_version(self, since: float) -> Hashable:
        """A token (compared with ``==``) that changes with every write that can change
        ``optimizer_work`` other than the passage of time: to the experiments it lists (and
        which those are), their optimizer state rows, and their observations and
        suggestions whose ``modified`` is after ``since``. Heartbeats do not change it (a
        lease lapses with time: ``OptimizerWork.leased_by_other``), nor do candidates used.
        Cheap, unlike ``optimizer_work``: one row per listed experiment and index reads,
        read by an idle optimizer loop between full reads.

        Locks: read.
        """

    @abstractmethod
    def claim_experiment(self, experiment_id: int, owner: str, lease_seconds: float) -> bool:
        """Take (or renew) the experiment's lease for ``owner`` until ``lease_seconds``
        from now, unless another live owner holds it (``OptimizerWork.leased_by_other``: a
        process killed mid-fit holds it no longer). Whether ``owner`` holds it now; False
        for an unknown experiment.

        Locks: write; the experiment's optimizer state row, checked and set in one
        statement, so of two processes claiming at once one wins.
        """

    @abstractmethod
    def fit_inputs(self, experiment_id: int) -> FitInputs:
        """The observations (not deleted) and open suggestions a fit is conditioned on, and
        the marks that date them (empty for an unknown experiment).

        Locks: read (the marks first: see FitInputs).
        """

    @abstractmethod
    def store_candidates(self, experiment_id: int, candidates: CandidateSet) -> None:
        """Replace the unused candidates by ``candidates`` (best first), remember what
        their model knew (``CandidateBasis``), clear the recorded error and the waiting
        requests, and release the lease. Used candidates stay. The caller's lease is not
        checked: a process that lost it to another still stores its fit. Each candidate
        keeps its task (``CandidateSet.tasks``; none when that is empty).

        Raises: ValueError for ``tasks`` that are not parallel to the points.

        Locks: write; the experiment's unused candidates and its optimizer state row.
        """

    @abstractmethod
    def record_optimizer_error(self, experiment_id: int, message: str) -> None:
        """Keep the failure (its first 2,000 characters) for users to see, and release the
        lease.

        Locks: write; the experiment's optimizer state row.
        """

    @abstractmethod
    def heartbeat(self, name: str) -> None:
        """The optimizer process ``name`` says it is alive.

        Locks: write; the process's row.
        """

    @abstractmethod
    def sign_off(self, name: str) -> None:
        """The optimizer process ``name`` stops: its leases are released, and it no longer
        counts as live.

        Locks: write; the state rows of the experiments it leased, and its own row.
        """


class OptimizerSignals(Protocol):
    """The suggestion requests' and users' side of the optimizer."""

    @abstractmethod
    def fit_marker(self, experiment_id: int) -> FitMarker:
        """When the newest fit was stored and the newest fit error recorded: one cheap
        read, polled by waiting requests.

        Raises: NotFoundError. Locks: read.
        """

    @abstractmethod
    def request_candidates(
        self, experiment_id: int, withdraw: bool = False, count: int = 1
    ) -> None:
        """Tell the optimizer that ``count`` suggestion requests found no candidate they
        could take (counted in ``OptimizerWork.waiting`` until the next fit is stored, and
        dated in ``demand_at``), or with ``withdraw`` that so many stopped waiting before
        one was (the count never goes below 0). No-op for an unknown experiment.

        Locks: write; the experiment's optimizer state row.
        """

    @abstractmethod
    def ready_candidates(self, experiment_id: int) -> int:
        """How many unused candidates the experiment has.

        Locks: read.
        """

    @abstractmethod
    def optimizer_status(self, experiment_id: int) -> OptimizerStatus:
        """What the optimizer did last for the experiment, and whether a fit is running.

        Raises: NotFoundError. Locks: read.
        """

    @abstractmethod
    def fit_turn(self, experiment_id: int, within_seconds: float) -> FitTurn:
        """Whether a live optimizer process (a heartbeat within the last seconds) holds a
        live lease on the experiment, how many processes are live and how many of them
        hold one on any experiment: one cheap read, by a request whose wait ran out.

        Locks: read.
        """

    @abstractmethod
    def live_optimizers(self, within_seconds: float) -> int:
        """How many optimizer processes sent a heartbeat within the last seconds.

        Locks: read.
        """
