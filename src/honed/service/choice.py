"""Which point a suggestion gets, decided under the experiment's lock.

In order: the oldest queued suggestion; the optimizer's best ready candidate that is
neither open nor observed, if its model is fresh enough for the request (``Serving``);
the experiment's sequence engine (Sobol, random, grid) for the initial design, or past it
when the request may no longer wait for the optimizer; a free point found by enumeration
or random draws. Multitask: a queued point and a candidate bring their task; the engine's
points get theirs from honed.engine.tasks (the design cycles through the tasks, fallback
points are of the target task while it has a free one). A point is its assignments and its
task: one open at a task leaves the same assignments free at another (``point_hash``).

A candidate is fresh when its model accounts for every stored observation (saw it, or had
its suggestion pending) but for ``staleness_tolerance`` of them with concurrent workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import Enum

import numpy as np

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentType
from honed.domain.experiment import Metadata
from honed.domain.parameters import Assignments
from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import ModelBasis
from honed.domain.records import SuggestionSource
from honed.engine.base import Engine
from honed.engine.base import ProposalRequest
from honed.engine.design import model_ready
from honed.engine.selection import engine_for
from honed.engine.space import EXHAUSTIBLE_SIZE
from honed.engine.space import first_free_point
from honed.engine.space import point_from_unit
from honed.engine.space import satisfies_constraints
from honed.engine.space import unit_dimension
from honed.engine.tasks import cheapest_first
from honed.engine.tasks import design_task
from honed.engine.tasks import target_task
from honed.errors import ConflictError
from honed.storage.optimizer import Candidate
from honed.storage.optimizer import CandidateBasis
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision

logger = logging.getLogger(__name__)

# How often to ask the engine again when its point equals an open suggestion.
ENGINE_ATTEMPTS = 16
RANDOM_ATTEMPTS = 2_000
# Ready candidates checked against the observations per query.
CANDIDATE_CHUNK = 8


class Serving(Enum):
    """What a request past the initial design may be served, strictest first: a waiting
    request relaxes one step each time its wait runs out."""

    #: A candidate whose model is fresh (see ``staleness_tolerance``).
    FRESH = "fresh"
    #: Any ready candidate: they all come from the newest stored fit.
    MODEL = "model"
    #: A candidate if one is ready, else the sequence engine (Sobol) as a fallback.
    ANY = "any"
    #: No optimizer runs: the sequence engine serves, and candidates (none would come) are
    #: not read, which saves the hot path its queries.
    SEQUENCE = "sequence"


@dataclass(frozen=True)
class CandidatesNeeded:
    """The decision when the optimizer should serve a request but has no candidate it may
    take: nothing is stored. ``basis``: the newest fit then (a request waits for its
    marker to change)."""

    basis: CandidateBasis


def uses_optimizer(experiment: Experiment) -> bool:
    """Experiments the Bayesian optimizer serves once their initial design is observed."""
    spec = experiment.spec
    return (
        spec.type is ExperimentType.OFFLINE
        and not spec.development
        and bool(spec.optimized_metrics)
    )


def workers_in_flight(experiment: Experiment, open_count: int) -> int:
    """The experiment's ``parallel_bandwidth``, or its open suggestions plus this request."""
    return max(experiment.spec.parallel_bandwidth or 1, open_count + 1)


def staleness_tolerance(workers: int) -> int:
    """Observations a fresh candidate's model may have neither seen nor had pending: none
    for one worker; with concurrent workers, under half of the others' results, since
    those arrive while a fit runs and a rule that waited for all of them would make every
    worker wait for a fit in turn."""
    return max(workers - 1, 0) // 2


def decide(
    context: SuggestionContext, metadata: Metadata | None, serving: Serving
) -> SuggestionDecision | CandidatesNeeded:
    """The point to hand out, or CandidatesNeeded where ``serving`` forbids what is at
    hand."""
    if context.next_queued is not None:
        queued = context.next_queued
        return SuggestionDecision(
            NewSuggestion(
                queued.assignments,
                SuggestionSource.QUEUED,
                metadata,
                queued.id,
                task=queued.task,
            ),
            context.cursor,
        )
    experiment = context.experiment
    source = SuggestionSource.ENGINE
    if serving is not Serving.SEQUENCE and uses_optimizer(experiment):
        basis: CandidateBasis | None = None
        candidates = context.load_candidates()
        if candidates:
            basis = context.load_basis()
            tolerance = staleness_tolerance(workers_in_flight(experiment, context.open_count))
            fresh = basis.unaccounted <= tolerance
            if fresh or serving is not Serving.FRESH:
                chosen = _ready_candidate(context, candidates)
                if chosen is not None:
                    model = ModelBasis(
                        basis.observations, chosen.rank >= basis.batch, basis.unaccounted, fresh
                    )
                    return chosen_decision(context, chosen, metadata, model)
        if model_ready(experiment.spec, context.count_successes(), context.open_count):
            if serving is not Serving.ANY:
                basis = basis or context.load_basis()
                if not _proposed_nothing(basis):
                    return CandidatesNeeded(basis)
            source = SuggestionSource.FALLBACK
    return _sequence_decision(engine_for(experiment), context, metadata, source)


def found_nothing(
    declined: dict[Serving, CandidatesNeeded], serving: Serving, outcome: CandidatesNeeded
) -> None:
    """Note in ``declined`` that a request served ``serving`` found nothing: a later
    request of the same transaction that may take as much or less would only read the same
    candidates again, so it is answered ``outcome`` at once (the waiters a fit wakes are
    served in order and stop at the first that finds nothing)."""
    for level in (Serving.FRESH, Serving.MODEL):
        declined.setdefault(level, outcome)
        if level is serving:
            return


def _proposed_nothing(basis: CandidateBasis) -> bool:
    """The newest fit saw every stored observation and proposed no point (every point of a
    finite space was observed or pending): waiting for the next fit would bring none."""
    return basis.marker[0] is not None and basis.batch == 0 and basis.unaccounted == 0


def chosen_decision(
    context: SuggestionContext,
    chosen: Candidate,
    metadata: Metadata | None,
    model: ModelBasis | None = None,
) -> SuggestionDecision:
    return SuggestionDecision(
        NewSuggestion(
            chosen.assignments,
            SuggestionSource.OPTIMIZER,
            metadata,
            model=model,
            task=_candidate_task(context, chosen),
        ),
        context.cursor,
        candidate_id=chosen.id,
    )


def _candidate_task(context: SuggestionContext, candidate: Candidate) -> str | None:
    """The task a candidate is handed out at. A candidate stored before its experiment's
    tasks were known to the optimizer cannot exist (tasks never change), so a multitask
    candidate always has its task; the target stands in only as a guard."""
    return candidate.task or target_task(context.experiment.spec)


def _ready_candidate(context: SuggestionContext, candidates: list[Candidate]) -> Candidate | None:
    """The first candidate in the optimizer's order that is neither open nor observed
    (failed points too). Checked a few at a time: a pool may hold hundreds."""
    for start in range(0, len(candidates), CANDIDATE_CHUNK):
        chunk = [
            (candidate, point_hash(candidate.assignments, _candidate_task(context, candidate)))
            for candidate in candidates[start : start + CANDIDATE_CHUNK]
        ]
        keys = {key for _, key in chunk}
        if free := keys - context.open_among(keys):
            free -= context.observed_among(free)
        for candidate, key in chunk:
            if key in free:
                return candidate
    return None


def _sequence_decision(
    engine: Engine,
    context: SuggestionContext,
    metadata: Metadata | None,
    source: SuggestionSource,
) -> SuggestionDecision:
    spec = context.experiment.spec

    def task_at(cursor: int) -> str | None:
        # The design index is the cursor the point is proposed at; a fallback point is
        # past the design whatever the cursor says.
        task = design_task(spec, cursor) if source is SuggestionSource.ENGINE else None
        return task or target_task(spec)

    cursor = context.cursor
    try:
        found, cursor = _engine_point(engine, context, task_at)
    except Exception:  # an engine fault must not cost the worker its suggestion
        logger.exception(
            "engine failed for experiment %s; serving a fallback point", context.experiment.id
        )
        found = None
    if found is not None:
        point, task = found
        return SuggestionDecision(NewSuggestion(point, source, metadata, task=task), cursor)
    fallback, task = free_point(context.experiment, context.load_open_hashes())
    return SuggestionDecision(
        NewSuggestion(fallback, SuggestionSource.FALLBACK, metadata, task=task), cursor
    )


EnginePoint = tuple[dict[str, AssignmentValue], str | None]


def _engine_point(
    engine: Engine,
    context: SuggestionContext,
    task_at: Callable[[int], str | None],
) -> tuple[EnginePoint | None, int]:
    """The engine's point with its task (``task_at`` the cursor it was proposed at), and
    the cursor after it."""
    observations = context.load_observations() if engine.needs_observations else []
    open_suggestions = context.load_open_suggestions() if engine.needs_pending else []
    pending: list[Assignments] = [s.assignments for s in open_suggestions]
    pending_tasks = [s.task for s in open_suggestions]
    cursor = context.cursor
    # An observed point is taken too while the engine finds others: a design point that
    # repeats one (the centre a user already reported, a small discrete space) would be
    # an evaluation that tells nothing new. Once none is found, a repeat beats a conflict.
    # Elsewhere a continuous value does not repeat, and the query inside the experiment's
    # lock is costly (docs/decisions.md: Observed repeats checked only in discrete spaces
    # and at the design's first point).
    check_observed = context.experiment.spec.space.is_discrete or cursor == 0
    repeat: tuple[EnginePoint, int] | None = None
    for _ in range(ENGINE_ATTEMPTS):
        task = task_at(cursor)
        proposal = engine.propose(
            ProposalRequest(
                context.experiment,
                cursor,
                pending,
                observations,
                count=1,
                pending_tasks=pending_tasks,
            )
        )
        cursor = proposal.cursor
        for point in proposal.points:
            key = point_hash(point, task)
            if context.open_among({key}):
                continue
            if not check_observed or not context.observed_among({key}):
                return (point, task), cursor
            if repeat is None:
                repeat = (point, task), cursor
        if not proposal.points:
            break
    return repeat if repeat is not None else (None, cursor)


def free_point(
    experiment: Experiment, taken: AbstractSet[str]
) -> tuple[dict[str, AssignmentValue], str | None]:
    """Any valid point that is not in ``taken`` at its task, with that task, or
    ConflictError when none is left. Multitask: at the target task while it has a free
    point, else at the costliest task that has one (the closest to the target): with every
    target point open, a cheaper task's free points are still evaluations worth making."""
    space = experiment.spec.space
    # Costliest first: the target (cost 1, the highest) leads. A plain experiment: None.
    tasks: list[str | None] = [t.name for t in reversed(cheapest_first(experiment.spec))]
    tasks = tasks or [None]
    rng = np.random.default_rng()
    size = space.discrete_size()
    for task in tasks:
        if size is not None and size <= EXHAUSTIBLE_SIZE:
            point = first_free_point(space, taken, start=int(rng.integers(size)), task=task)
            if point is not None:
                return point, task
            continue
        for _ in range(RANDOM_ATTEMPTS):
            point = point_from_unit(space, rng.random(unit_dimension(space)))
            if satisfies_constraints(space, point) and point_hash(point, task) not in taken:
                return point, task
    raise _space_exhausted(space, size, len(tasks))


def _space_exhausted(space: SearchSpace, size: int | None, tasks: int) -> ConflictError:
    points = f"all {size} points" if size is not None else "every point tried"
    at = f" at each of its {tasks} tasks" if tasks > 1 else ""
    return ConflictError(
        f"No free point left: {points} of the search space{at} are open suggestions. "
        "Report observations for them or delete open suggestions, then ask again."
    )
