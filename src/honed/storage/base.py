"""The storage contract: ids in, frozen domain objects out.

Every method runs in its own short transaction. Objects returned are snapshots: changing
the store later never changes an object already returned. Missing ids, and ids that belong
to another experiment than the one named, raise NotFoundError.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Generic
from typing import TypeVar

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import Metadata
from honed.domain.parameters import Assignments
from honed.domain.projects import Project
from honed.domain.records import MetricValue
from honed.domain.records import ModelBasis
from honed.domain.records import Observation
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.runs import Checkpoint
from honed.domain.runs import RunCounts
from honed.domain.runs import RunState
from honed.domain.runs import TrainingRun
from honed.domain.tenancy import Client
from honed.domain.tenancy import Token
from honed.domain.tenancy import TokenType
from honed.storage.analyses import ModelAnalyses

T = TypeVar("T")
#: What a suggestion decision returns instead of a suggestion to store (see create_suggestion).
Declined = TypeVar("Declined")


#: The value a list is sorted by at one item (before its id); None sorts above all values,
#: as in SigOpt (a failed observation has no value).
SortValue = float | str | None


#: An optimizer process silent this long (heartbeats every 2 s) is taken for dead: its
#: leases can be claimed by others, so a fit killed midway does not block the experiment
#: for the rest of its lease.
LEASE_OWNER_SILENT_SECONDS = 30.0


@dataclass(frozen=True)
class PageRequest:
    """A list is ordered by a sort key, then id: by id alone unless a list says otherwise.

    ``before``/``after`` are exclusive bounds on that order, each an item's id with (for a
    sort other than id) the sort key's value at that item in ``before_value``/``after_value``.
    Descending (the default) pages from the top: the first page holds the largest keys and
    ``Page.before`` leads to smaller ones. Ascending pages from the bottom: the first page
    holds the smallest keys and ``Page.after`` leads to larger ones. limit may be 0.
    """

    limit: int = 100
    before: int | None = None
    after: int | None = None
    ascending: bool = False
    before_value: SortValue = None
    after_value: SortValue = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """``count`` is the total number of matching items, not the page size.

    ``before`` is the marker for the next page of smaller keys (None when there is none);
    ``after`` the marker for the next page of larger keys when the request paged upwards
    (with ``after`` only, or ascending). ``before_value``/``after_value`` are the sort key's
    values at those items, for a sort other than id.
    """

    items: list[T]
    count: int
    before: int | None = None
    after: int | None = None
    before_value: SortValue = None
    after_value: SortValue = None


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
class ObservationOrder:
    """What an observation list is sorted by before its id.

    ``field`` is "id", "created", "value" or "value_stddev" (of the metric at
    ``metric_index`` in the observation's values, which are stored one per metric, sorted by
    metric name), or "parameter" (the assignment of ``parameter``, compared as text when
    ``text`` else as a number). A missing value (failed, unassigned) sorts above all.
    """

    field: str = "id"
    metric_index: int = 0
    parameter: str = ""
    text: bool = False


@dataclass(frozen=True)
class NewSuggestion:
    assignments: Assignments
    source: SuggestionSource
    metadata: Metadata | None = None
    queued_id: int | None = None
    #: For a candidate of the optimizer: what its model knew.
    model: ModelBasis | None = None


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


@dataclass(frozen=True)
class Candidate:
    """A point the optimizer computed ahead from the data as of ``basis_modified``."""

    id: int
    experiment_id: int
    assignments: Assignments
    basis_modified: float
    rank: int


@dataclass(frozen=True)
class SuggestionContext:
    """What a suggestion decision may read, taken under the experiment's lock.

    The callables read more in the same transaction; they are valid only inside ``decide``.
    """

    experiment: Experiment
    #: ``point_hash`` of every open suggestion: the points a new suggestion must not repeat.
    open_hashes: frozenset[str]
    next_queued: QueuedSuggestion | None
    cursor: int
    #: The open suggestions themselves, oldest first, for a decision that needs their
    #: points (most need only ``open_hashes``: with many workers, reading and decoding
    #: every open suggestion on each request was a tenth of the server's CPU).
    load_open_suggestions: Callable[[], list[Suggestion]] = field(repr=False)
    load_observations: Callable[[], list[Observation]] = field(repr=False)
    #: Unused candidates, newest basis first, then by rank; the first LOADED_CANDIDATES of
    #: them (a pool may hold hundreds, and a request takes one of the first few).
    load_candidates: Callable[[], list[Candidate]] = field(repr=False)
    #: Which of the given point hashes an observation of the experiment already has.
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
class OptimizerStatus:
    """What the optimizer did last for one experiment (shown to users)."""

    fitted_count: int
    fitted_at: float | None
    fit_seconds: float | None
    ready_candidates: int
    error: str | None
    error_at: float | None
    #: A live optimizer process holds the experiment's lease: a fit is running.
    fitting: bool = False


@dataclass(frozen=True)
class NewObservation:
    """``suggestion_id`` or full ``assignments``; the storage fills assignments from the
    suggestion when they are None."""

    suggestion_id: int | None
    assignments: Assignments | None
    values: tuple[MetricValue, ...]
    failed: bool
    metadata: Metadata | None


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's ``Idempotency-Key`` and a digest of the request it came with."""

    client_id: int
    key: str
    request_hash: str


@dataclass(frozen=True)
class ObservationPatch:
    """Fields to change; a field left as ``UNSET`` keeps its stored value."""

    values: tuple[MetricValue, ...] | None = None
    failed: bool | None = None
    metadata: Metadata | None = None
    set_metadata: bool = False
    suggestion_id: int | None = None
    assignments: Assignments | None = None


@dataclass(frozen=True)
class ExperimentPatch:
    name: str | None = None
    state: ExperimentState | None = None
    observation_budget: int | None = None
    set_observation_budget: bool = False
    parallel_bandwidth: int | None = None
    set_parallel_bandwidth: bool = False
    metadata: Metadata | None = None
    set_metadata: bool = False
    spec: ExperimentSpec | None = None


@dataclass(frozen=True)
class ProjectPatch:
    name: str | None = None
    metadata: Metadata | None = None
    set_metadata: bool = False
    deleted: bool | None = None


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


class Storage(ModelAnalyses, ABC):
    """Persistence for clients, tokens, experiments and their records.

    Invariants:
    - ``create_suggestion`` serializes calls for one experiment across every process that
      shares the store: ``decide`` sees all suggestions committed before it, and no other
      ``create_suggestion`` for that experiment commits in between.
    - no two open suggestions of an experiment whose source ``must_be_unique`` have equal
      assignments (enforced by the store, not only by callers);
    - creating an observation that names a suggestion closes the suggestion;
    - an observation create that repeats an earlier one (same suggestion, values, failed
      flag and metadata as a stored observation of that suggestion, or the same idempotency
      key) stores nothing and returns the stored observation, also when both arrive at once
      through different processes;
    - with a ``suggestion_ttl_seconds`` on the experiment, open suggestions whose
      ``lease_until`` has passed are expired (soft-deleted) under the experiment's lock
      before ``create_suggestion`` decides, so their points are free again;
    - deletes are soft: deleted records are kept and listed only when asked for;
    - a project reference is unique per client (ConflictError otherwise), and projects are
      never removed, so experiments and runs may hold the reference;
    - ``update_training_run`` serializes updates of one run, so a run gets at most one
      observation however many clients finish it at once.
    """

    #: True when a call needs no network round trip and returns in about a millisecond
    #: unless another writer holds the lock (an embedded database such as SQLite). The
    #: server then runs the worker loop's writes on its event loop instead of a thread.
    local: bool = False

    # --- tenants and tokens -------------------------------------------------------------
    @abstractmethod
    def create_client(self, name: str) -> Client: ...

    @abstractmethod
    def get_client(self, client_id: int) -> Client: ...

    @abstractmethod
    def first_client(self) -> Client | None:
        """The oldest client, which ``honed serve`` treats as the default tenant."""

    @abstractmethod
    def create_token(
        self,
        client_id: int,
        token_hash: str,
        token_type: TokenType,
        permissions: str,
        description: str | None = None,
        experiment_id: int | None = None,
    ) -> Token:
        """``experiment_id`` binds the token to that experiment of ``client_id`` (NotFoundError
        if the client has no such experiment); ``find_token`` returns it."""

    @abstractmethod
    def find_token(self, token_hash: str) -> Token | None: ...

    @abstractmethod
    def list_tokens(self, client_id: int) -> list[Token]: ...

    @abstractmethod
    def revoke_token(self, token_id: int) -> Token: ...

    # --- experiments --------------------------------------------------------------------
    @abstractmethod
    def create_experiment(self, client_id: int, spec: ExperimentSpec) -> Experiment: ...

    @abstractmethod
    def get_experiment(self, experiment_id: int) -> Experiment: ...

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
        """``runs_only``: False lists classic experiments, True AI experiments, None both.
        ``experiment_id`` keeps only that experiment (a token bound to one)."""

    @abstractmethod
    def update_experiment(self, experiment_id: int, patch: ExperimentPatch) -> Experiment: ...

    # --- suggestions --------------------------------------------------------------------
    @abstractmethod
    def create_suggestion(
        self,
        experiment_id: int,
        decide: Callable[[SuggestionContext], SuggestionDecision | Declined],
    ) -> Suggestion | Declined:
        """Lock the experiment, let ``decide`` choose from the context, insert, commit.

        ``decide`` must be quick: it runs inside the transaction that holds the lock.
        A decision that consumes a queued suggestion removes it from the queue. Any other
        value than a ``SuggestionDecision`` declines: nothing is inserted and that value is
        returned (leases that expired meanwhile stay expired).
        """

    @abstractmethod
    def get_suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion: ...

    @abstractmethod
    def list_suggestions(
        self,
        experiment_id: int,
        page: PageRequest,
        open_only: bool = False,
        deleted: bool = False,
        ids: Sequence[int] | None = None,
    ) -> Page[Suggestion]: ...

    @abstractmethod
    def update_suggestion_metadata(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion: ...

    @abstractmethod
    def extend_suggestion_lease(
        self,
        experiment_id: int,
        suggestion_id: int,
        lease_until: float,
        metadata: Metadata | None = None,
        set_metadata: bool = False,
    ) -> Suggestion:
        """Move an open suggestion's lease (and set its metadata if asked); a suggestion
        that is closed, deleted or already expired keeps its lease."""

    @abstractmethod
    def expire_suggestions(self, experiment_id: int, now: float) -> int:
        """Soft-delete the open suggestions whose lease ended before ``now``; how many."""

    @abstractmethod
    def delete_suggestions(
        self, experiment_id: int, suggestion_id: int | None = None, open_only: bool = False
    ) -> int:
        """Soft-delete one suggestion, or all (open ones with ``open_only``); return how many."""

    # --- queued suggestions ---------------------------------------------------------------
    @abstractmethod
    def create_queued_suggestion(
        self, experiment_id: int, assignments: Assignments
    ) -> QueuedSuggestion: ...

    @abstractmethod
    def get_queued_suggestion(self, experiment_id: int, queued_id: int) -> QueuedSuggestion: ...

    @abstractmethod
    def list_queued_suggestions(
        self, experiment_id: int, page: PageRequest
    ) -> Page[QueuedSuggestion]: ...

    @abstractmethod
    def delete_queued_suggestion(self, experiment_id: int, queued_id: int) -> None: ...

    # --- observations -------------------------------------------------------------------
    @abstractmethod
    def observe(
        self,
        experiment_id: int,
        prepare: Callable[[Experiment], Sequence[NewObservation]],
        idempotency: IdempotencyKey | None = None,
    ) -> tuple[Experiment, list[Observation]]:
        """Store what ``prepare`` makes of the experiment, in one transaction.

        ``prepare`` sees the experiment as stored at that moment and may raise to refuse
        (nothing is stored then). All or nothing; closes the suggestions the observations
        name; a suggestion that is missing, deleted (other than by expiry) or of another
        experiment is refused with InvalidRequestError (the request is wrong, not the URL).

        With ``idempotency``: a key stored before returns the observations stored with it
        (UnprocessableError if it came with another request); a new key is stored with the
        observations. Two requests with one new key at once: one stores, the other raises
        ConflictError and finds the key when asked again.
        """

    @abstractmethod
    def purge_idempotency_keys(self, older_than: float) -> int:
        """Forget keys stored before the unix time ``older_than``; return how many."""

    def create_observations(
        self, experiment_id: int, observations: Sequence[NewObservation]
    ) -> list[Observation]:
        """``observe`` with observations already checked."""
        return self.observe(experiment_id, lambda _experiment: observations)[1]

    @abstractmethod
    def get_observation(self, experiment_id: int, observation_id: int) -> Observation: ...

    @abstractmethod
    def list_observations(
        self,
        experiment_id: int,
        page: PageRequest,
        deleted: bool = False,
        order: ObservationOrder | None = None,
    ) -> Page[Observation]: ...

    @abstractmethod
    def all_observations(self, experiment_id: int) -> list[Observation]:
        """Every non-deleted observation, oldest first."""

    @abstractmethod
    def count_observations(self, experiment_id: int) -> int: ...

    @abstractmethod
    def update_observation(
        self, experiment_id: int, observation_id: int, patch: ObservationPatch
    ) -> Observation: ...

    @abstractmethod
    def delete_observations(self, experiment_id: int, observation_id: int | None = None) -> int:
        """Soft-delete one observation or all of them; return how many."""

    # --- the optimizer's candidates -----------------------------------------------------
    @abstractmethod
    def optimizer_work(self) -> list[OptimizerWork]:
        """Active, non-development experiments of type offline, for the optimizer loop."""

    @abstractmethod
    def claim_experiment(self, experiment_id: int, owner: str, lease_seconds: float) -> bool:
        """Take the experiment's optimizer lease unless another live owner holds it
        (`OptimizerWork.leased_by_other`: a process killed mid-fit holds it no longer)."""

    @abstractmethod
    def open_suggestions(self, experiment_id: int) -> list[Suggestion]: ...

    @abstractmethod
    def fit_inputs(self, experiment_id: int) -> FitInputs:
        """The observations (not deleted) and open suggestions a fit is conditioned on."""

    @abstractmethod
    def store_candidates(self, experiment_id: int, candidates: CandidateSet) -> None:
        """Replace the unused candidates by ``candidates`` (best first), remember what
        their model knew (``CandidateBasis``), and release the lease."""

    @abstractmethod
    def fit_marker(self, experiment_id: int) -> FitMarker:
        """When the newest fit was stored and the newest fit error recorded: one cheap
        read, polled by waiting requests."""

    @abstractmethod
    def record_optimizer_error(self, experiment_id: int, message: str) -> None:
        """Keep the failure for users to see, and release the lease."""

    @abstractmethod
    def request_candidates(self, experiment_id: int, withdraw: bool = False) -> None:
        """Tell the optimizer that a suggestion request found no candidate it could take
        (counted in ``OptimizerWork.waiting`` until the next fit is stored), or with
        ``withdraw`` that such a request stopped waiting before one was."""

    @abstractmethod
    def ready_candidates(self, experiment_id: int) -> int: ...

    @abstractmethod
    def optimizer_status(self, experiment_id: int) -> OptimizerStatus: ...

    @abstractmethod
    def heartbeat(self, name: str) -> None:
        """An optimizer process says it is alive."""

    @abstractmethod
    def sign_off(self, name: str) -> None:
        """An optimizer process stops: its leases are released, it no longer counts live."""

    @abstractmethod
    def live_optimizers(self, within_seconds: float) -> int:
        """How many optimizer processes sent a heartbeat within the last seconds."""

    # --- projects -----------------------------------------------------------------------
    @abstractmethod
    def create_project(
        self, client_id: int, reference: str, name: str, metadata: Metadata | None
    ) -> Project:
        """ConflictError when the client has a project with this reference already."""

    @abstractmethod
    def get_project(self, client_id: int, reference: str) -> Project: ...

    @abstractmethod
    def list_projects(
        self, client_id: int, page: PageRequest, deleted: bool | None = False
    ) -> Page[Project]: ...

    @abstractmethod
    def update_project(self, client_id: int, reference: str, patch: ProjectPatch) -> Project: ...

    # --- training runs --------------------------------------------------------------------
    @abstractmethod
    def create_training_runs(
        self, client_id: int, runs: Sequence[NewTrainingRun]
    ) -> list[TrainingRun]:
        """All or nothing. A project that does not exist is NotFoundError."""

    @abstractmethod
    def get_training_run(self, run_id: int) -> TrainingRun: ...

    @abstractmethod
    def list_training_runs(
        self,
        client_id: int,
        project: str,
        page: PageRequest,
        experiment_id: int | None = None,
        deleted: bool | None = False,
    ) -> Page[TrainingRun]: ...

    @abstractmethod
    def update_training_run(
        self, run_id: int, change: Callable[[TrainingRun, Experiment | None], RunUpdate]
    ) -> TrainingRun:
        """Lock the run, let ``change`` (quick; it may raise to refuse) compute its new state
        from the run and its experiment as stored now, and store that in one transaction.

        An observation whose suggestion was deleted meanwhile is not stored."""

    @abstractmethod
    def delete_experiment_runs(self, experiment_id: int) -> int:
        """Soft-delete every run of an experiment; return how many."""

    @abstractmethod
    def run_counts(self, experiment_id: int) -> RunCounts: ...

    @abstractmethod
    def runs_for_observations(
        self, experiment_id: int, observation_ids: Sequence[int]
    ) -> list[TrainingRun]:
        """The non-deleted runs linked to these observations, in the order of the ids."""

    @abstractmethod
    def create_checkpoint(
        self, run_id: int, values: Sequence[MetricValue], metadata: Metadata | None
    ) -> Checkpoint: ...

    @abstractmethod
    def list_checkpoints(self, run_id: int, page: PageRequest) -> Page[Checkpoint]: ...

    # --- lifecycle ----------------------------------------------------------------------
    @abstractmethod
    def ping(self) -> None:
        """Raise ServiceUnavailableError when the database cannot be reached."""

    @abstractmethod
    def close(self) -> None: ...
