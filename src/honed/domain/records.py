"""Suggestions, queued suggestions and observations: the records an experiment accumulates."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from honed.domain.experiment import Metadata
from honed.domain.parameters import Assignments


class SuggestionState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class SuggestionSource(StrEnum):
    """Who chose the point. Only points honed chose must differ from open ones.

    ENGINE: the experiment's sequence engine (Sobol initial design, random, grid);
    OPTIMIZER: a candidate the Bayesian optimizer computed; FALLBACK: a Sobol or free point
    served where the optimizer had nothing ready.
    """

    ENGINE = "engine"
    OPTIMIZER = "optimizer"
    FALLBACK = "fallback"
    MANUAL = "manual"
    QUEUED = "queued"

    @property
    def must_be_unique(self) -> bool:
        return self in (
            SuggestionSource.ENGINE,
            SuggestionSource.OPTIMIZER,
            SuggestionSource.FALLBACK,
        )


#: What chose a suggestion's point, in the words users read: the dashboard's ``source``, the
#: exports' ``source`` column and ``Scheduler.to_dataframe()``'s ``generation_method`` (Ax's
#: exp_to_df term). The experiment's own sequence is its initial ``design`` (Sobol, or its
#: random or grid points); a queued point is a user's choice like a manual one. The v1 API
#: keeps the stored ``source`` (``engine``, ``queued``) as it is.
GENERATION_METHODS: dict[str, str] = {
    SuggestionSource.ENGINE: "design",
    SuggestionSource.OPTIMIZER: "optimizer",
    SuggestionSource.FALLBACK: "fallback",
    SuggestionSource.MANUAL: "manual",
    SuggestionSource.QUEUED: "manual",
}


def generation_method(source: str | None) -> str | None:
    """The user-facing word for a suggestion's ``source`` (None: no suggestion on record;
    a source honed does not know is shown as it is)."""
    if source is None:
        return None
    return GENERATION_METHODS.get(source, source)


@dataclass(frozen=True)
class ModelBasis:
    """What the model behind an optimizer suggestion knew when it chose the point.

    ``observations``: the observations it was fitted on. ``pool``: a Thompson sample of the
    pool, not a point of the acquisition-optimised batch. ``unaccounted``: observations
    stored at hand-out that the model had neither seen nor treated as pending. ``fresh``:
    that number was within the tolerance for the workers in flight (zero for one worker).
    """

    observations: int
    pool: bool
    unaccounted: int
    fresh: bool


@dataclass(frozen=True)
class Suggestion:
    id: int
    experiment_id: int
    assignments: Assignments
    state: SuggestionState
    source: SuggestionSource
    metadata: Metadata | None
    created: int
    deleted: bool = False
    #: With a suggestion TTL: when the suggestion expires unless its worker updates it.
    lease_until: int | None = None
    #: For optimizer suggestions: what the model knew (see ModelBasis).
    model: ModelBasis | None = None
    #: Multitask: the name of the task to evaluate (None for a plain experiment).
    task: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state is SuggestionState.OPEN and not self.deleted


@dataclass(frozen=True)
class QueuedSuggestion:
    id: int
    experiment_id: int
    assignments: Assignments
    created: int
    task: str | None = None


@dataclass(frozen=True)
class MetricValue:
    name: str | None
    value: float
    value_stddev: float | None = None


@dataclass(frozen=True)
class Observation:
    """One evaluation. A failed observation has no values; it is data all the same."""

    id: int
    experiment_id: int
    suggestion_id: int | None
    assignments: Assignments
    values: tuple[MetricValue, ...]
    failed: bool
    metadata: Metadata | None
    created: int
    deleted: bool = False
    #: Multitask: the task that was evaluated (None for a plain experiment).
    task: str | None = None

    def value_of(self, metric_name: str | None) -> float | None:
        for metric_value in self.values:
            if metric_value.name == metric_name:
                return metric_value.value
        return None


@dataclass(frozen=True)
class Progress:
    observation_count: int
    first_observation: Observation | None
    last_observation: Observation | None
    best_observation: Observation | None
    #: The observations' task costs summed (failed ones too): the count for a plain
    #: experiment, what its ``observation_budget`` is compared with.
    budget_consumed: float


@dataclass(frozen=True)
class ObservationInput:
    """An observation as a client sends it, before it is checked against the experiment."""

    suggestion_id: int | None = None
    assignments: object | None = None
    values: tuple[MetricValue, ...] | None = None
    failed: bool = False
    metadata: Metadata | None = None
    #: Parallel to ``values``: True where the client sent ``value_stddev`` (even as null).
    #: An update keeps the stored stddev only where it was left out.
    stddev_sent: tuple[bool, ...] = ()
    #: Multitask: the task evaluated, by name (an observation of ``assignments`` needs one).
    task: str | None = None
    #: The client sent ``task`` (even as null): an update changes it only then.
    task_sent: bool = False
