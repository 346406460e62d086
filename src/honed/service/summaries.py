"""Read-only summaries for people watching experiments: the dashboard's use cases.

An experiment's page is computed from one read of its observations and open suggestions,
so a refresh costs a few queries whatever the page shows; the list of experiments reads
only each one's figures (``observation_totals``), never their observations.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import statistics
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentState
from honed.domain.hypervolume import hypervolume_trace
from honed.domain.hypervolume import reference_point
from honed.domain.metrics import Metric
from honed.domain.paging import PageRequest
from honed.domain.ranking import best_observations
from honed.domain.ranking import budget_consumed
from honed.domain.ranking import budget_of_counts
from honed.domain.ranking import counts_for_best
from honed.domain.ranking import pareto_front
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.domain.table import Row
from honed.domain.table import TableSchema
from honed.domain.table import observation_rows
from honed.domain.tenancy import Token
from honed.service.access import experiment_for
from honed.service.answered import answered_suggestions
from honed.storage.experiments import ExperimentStore
from honed.storage.observations import ObservationStore
from honed.storage.suggestions import SuggestionStore

NO_HOSTNAME = "(no hostname)"
# A worker is called silent when its last report is older than this many of its own usual
# gaps between reports (and at least SILENT_MIN_SECONDS old).
SILENT_GAPS = 3.0
SILENT_MIN_SECONDS = 300


class SummaryRoles(ExperimentStore, SuggestionStore, ObservationStore, Protocol):
    """What the dashboard's summaries read: experiments, their open suggestions and
    observations."""


@dataclass(frozen=True)
class ExperimentSummary:
    experiment: Experiment
    observation_count: int
    failure_count: int
    early_stopped_count: int
    best_value: float | None
    #: The Pareto front's size with two optimized metrics; else 1 when there is a best.
    best_count: int
    last_activity: int
    #: What the observations cost of the budget: their tasks' costs (the count if plain).
    budget_consumed: float


@dataclass(frozen=True)
class Worker:
    hostname: str
    last_report: int
    observations: int
    failures: int
    silent: bool
    #: The first second at which it counts as silent; None while no report is expected.
    silent_from: int | None = None


@dataclass(frozen=True)
class BestSoFar:
    """``values[i]`` is the best feasible value among the first i+1 observations, or None."""

    metric: Metric
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Hypervolume:
    """``values[i]``: the area the front of the first i+1 observations dominates, measured
    from ``reference`` (see honed.domain.hypervolume)."""

    reference: tuple[float, float]
    values: tuple[float, ...]


@dataclass(frozen=True)
class ExperimentDetail:
    experiment: Experiment
    observations: tuple[Observation, ...]
    #: The suggestions the observations answered (their source, times, intermediate values).
    suggestions: Mapping[int, Suggestion]
    open_suggestions: tuple[Suggestion, ...]
    best_so_far: tuple[BestSoFar, ...]
    best_ids: tuple[int, ...]
    pareto_ids: tuple[int, ...]
    hypervolume: Hypervolume | None
    workers: tuple[Worker, ...]
    now: int
    #: What the observations cost of the budget: their tasks' costs (the count if plain).
    budget_consumed: float
    #: ``SummaryService.version`` as read before the records (a write in between makes a
    #: detail newer than its version says, never older).
    version: str = ""
    #: The first second at which the clock alone changes what this detail shows (a worker
    #: falls silent); None: never. The clock's other effects (ages) are left to readers.
    fresh_until: int | None = None


@dataclass(frozen=True)
class ObservationTable:
    """Every observation as an export row (honed.domain.table), oldest first."""

    schema: TableSchema
    rows: tuple[Row, ...]


class SummaryService:
    def __init__(self, storage: SummaryRoles) -> None:
        self._storage = storage

    def experiments(
        self, caller: Token, states: Sequence[ExperimentState] = (ExperimentState.ACTIVE,)
    ) -> list[ExperimentSummary]:
        """Every experiment the caller sees (its client's, or the one it is bound to),
        newest first."""
        summaries: list[ExperimentSummary] = []
        before: int | None = None
        while True:
            page = self._storage.list_experiments(
                caller.client_id,
                PageRequest(limit=1000, before=before),
                states,
                development=caller.development,
                experiment_id=caller.experiment_id,
            )
            summaries.extend(self._summary(e) for e in page.items)
            if page.before is None or not page.items:
                return summaries
            before = page.before

    def _summary(self, experiment: Experiment) -> ExperimentSummary:
        """From the stored figures (a few queries), not by reading every observation."""
        totals = self._storage.observation_totals(experiment)
        optimized = experiment.spec.optimized_metrics
        best_value = None
        if len(optimized) == 1 and totals.best is not None:
            best_value = totals.best.value_of(optimized[0].name)
        last = max([experiment.updated, *(o.created for o in [totals.last] if o is not None)])
        return ExperimentSummary(
            experiment=experiment,
            observation_count=totals.count,
            failure_count=totals.failed,
            early_stopped_count=totals.early_stopped,
            best_value=best_value,
            best_count=totals.front if len(optimized) == 2 else int(totals.best is not None),
            last_activity=last,
            budget_consumed=budget_of_counts(experiment.spec, dict(totals.per_task)),
        )

    def version(self, caller: Token, experiment_id: int) -> str:
        """A digest of the writes behind what ``detail`` shows, read without reading the
        records (a few index reads, whatever the experiment's size): while it stays the
        same, so does the detail, until the clock makes a worker silent (``fresh_until``).
        """
        experiment_for(self._storage, caller, experiment_id)
        return self._version(experiment_id)

    def _version(self, experiment_id: int) -> str:
        written = self._storage.experiment_version(experiment_id).encode()
        return hashlib.sha1(written, usedforsecurity=False).hexdigest()[:20]

    def detail(self, caller: Token, experiment_id: int) -> ExperimentDetail:
        experiment = experiment_for(self._storage, caller, experiment_id)
        version = self._version(experiment_id)
        observations = self._storage.all_observations(experiment_id)
        spec = experiment.spec
        optimized = spec.optimized_metrics
        pareto: list[Observation] = []
        hypervolume = None
        if len(optimized) == 2:
            pareto = pareto_front(optimized, [o for o in observations if counts_for_best(spec, o)])
            reference = reference_point(spec, observations)
            if reference is not None:
                trace = hypervolume_trace(spec, observations, reference)
                hypervolume = Hypervolume(reference, tuple(trace))
        now = int(time.time())
        open_suggestions = tuple(self._storage.open_suggestions(experiment_id))
        budget = spec.observation_budget
        consumed = budget_consumed(spec, observations)
        # Done: the budget is spent (in task costs, multitask) and nothing is out, so no
        # worker is expected to report.
        done = budget is not None and consumed >= budget and not open_suggestions
        seen = tuple(workers(observations, now, expecting_reports=not done))
        falling_silent = [
            w.silent_from for w in seen if w.silent_from is not None and not w.silent
        ]
        return ExperimentDetail(
            experiment=experiment,
            observations=tuple(observations),
            suggestions=answered_suggestions(self._storage, experiment_id, observations),
            open_suggestions=open_suggestions,
            best_so_far=tuple(
                BestSoFar(m, best_so_far(experiment, m, observations)) for m in optimized
            ),
            best_ids=tuple(o.id for o in best_observations(spec, observations)),
            pareto_ids=tuple(o.id for o in pareto),
            hypervolume=hypervolume,
            workers=seen,
            now=now,
            budget_consumed=consumed,
            version=version,
            fresh_until=min(falling_silent, default=None),
        )

    def table(self, caller: Token, experiment_id: int) -> ObservationTable:
        """The observations in the one export format (the dashboard's CSV download; the
        CLI and notebooks make the same rows from the v1 API)."""
        experiment = experiment_for(self._storage, caller, experiment_id)
        observations = self._storage.all_observations(experiment_id)
        answered = answered_suggestions(self._storage, experiment_id, observations)
        sources = {i: s.source.value for i, s in answered.items()}
        schema = TableSchema.of(experiment.spec)
        return ObservationTable(schema, tuple(observation_rows(schema, observations, sources)))


def best_so_far(
    experiment: Experiment, metric: Metric, observations: Sequence[Observation]
) -> tuple[float | None, ...]:
    """The running best of one metric over feasible, complete observations, oldest first
    (an early-stopped trial's partial value is never a best)."""
    best: float | None = None
    trace: list[float | None] = []
    for observation in observations:
        value = observation.value_of(metric.name)
        better = value is not None and (best is None or metric.sign() * (value - best) > 0)
        if better and counts_for_best(experiment.spec, observation):
            best = value
        trace.append(best)
    return tuple(trace)


def hostname_of(observation: Observation) -> str:
    value = (observation.metadata or {}).get("hostname")
    return str(value) if value not in (None, "") else NO_HOSTNAME


def workers(
    observations: Sequence[Observation], now: int, expecting_reports: bool = True
) -> list[Worker]:
    """One row per ``metadata.hostname``, the most recently heard from first. Without
    ``expecting_reports`` (the experiment is done) no worker is silent: a quiet worker is
    what a finished experiment should have."""
    reports: dict[str, list[Observation]] = {}
    for observation in observations:
        reports.setdefault(hostname_of(observation), []).append(observation)
    result = []
    for hostname, items in reports.items():
        times = sorted(o.created for o in items)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        usual = statistics.median(gaps) if gaps else 0.0
        quiet_for = now - times[-1]
        allowed = max(SILENT_MIN_SECONDS, SILENT_GAPS * usual)
        result.append(
            Worker(
                hostname=hostname,
                last_report=times[-1],
                observations=len(items),
                failures=sum(o.failed for o in items),
                silent=expecting_reports and quiet_for > allowed,
                # The first whole second quiet for longer than allowed.
                silent_from=times[-1] + math.floor(allowed) + 1 if expecting_reports else None,
            )
        )
    return sorted(result, key=lambda w: (-w.last_report, w.hostname))
