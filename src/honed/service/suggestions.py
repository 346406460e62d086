"""Suggestion use cases. Creation is serialized per experiment by the store; inside that
lock a queued suggestion is served first, else the engine's next point that is not already
an open suggestion, else a free point found by enumeration or random draws."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from honed.domain.experiment import Experiment
from honed.domain.experiment import Metadata
from honed.domain.parameters import Assignments
from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.engine.base import ProposalRequest
from honed.engine.selection import engine_for
from honed.engine.space import point_at_index
from honed.engine.space import point_from_unit
from honed.engine.space import satisfies_constraints
from honed.errors import ConflictError
from honed.service.access import check_live_experiment
from honed.service.access import experiment_for
from honed.service.access import live_experiment_for
from honed.storage.base import NewSuggestion
from honed.storage.base import Page
from honed.storage.base import PageRequest
from honed.storage.base import Storage
from honed.storage.base import SuggestionContext
from honed.storage.base import SuggestionDecision

logger = logging.getLogger(__name__)

# How often to ask the engine again when its point equals an open suggestion.
ENGINE_ATTEMPTS = 16
# Discrete spaces up to this size are searched exhaustively for a free point.
ENUMERABLE_SIZE = 200_000
RANDOM_ATTEMPTS = 2_000


class SuggestionService:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def create(
        self,
        caller: Token,
        experiment_id: int,
        metadata: Metadata | None = None,
        assignments: object | None = None,
    ) -> Suggestion:
        """One transaction: the checks run on the experiment as locked for the decision."""

        def decide(context: SuggestionContext) -> SuggestionDecision:
            experiment = check_live_experiment(caller, context.experiment, "suggestions")
            if assignments is not None:
                manual = experiment.spec.space.check_assignments(assignments)
                return SuggestionDecision(
                    NewSuggestion(manual, SuggestionSource.MANUAL, metadata), context.cursor
                )
            return _decide(engine_for(experiment), context, metadata)

        return self._storage.create_suggestion(experiment_id, decide)

    def get(self, caller: Token, experiment_id: int, suggestion_id: int) -> Suggestion:
        experiment_for(self._storage, caller, experiment_id)
        return self._storage.get_suggestion(experiment_id, suggestion_id)

    def list(
        self,
        caller: Token,
        experiment_id: int,
        page: PageRequest,
        open_only: bool = False,
        deleted: bool = False,
        ids: Sequence[int] | None = None,
    ) -> Page[Suggestion]:
        experiment_for(self._storage, caller, experiment_id)
        return self._storage.list_suggestions(experiment_id, page, open_only, deleted, ids)

    def update_metadata(
        self, caller: Token, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        experiment_for(self._storage, caller, experiment_id, write=True)
        return self._storage.update_suggestion_metadata(experiment_id, suggestion_id, metadata)

    def delete(
        self,
        caller: Token,
        experiment_id: int,
        suggestion_id: int | None = None,
        open_only: bool = False,
    ) -> int:
        experiment_for(self._storage, caller, experiment_id, write=True)
        return self._storage.delete_suggestions(experiment_id, suggestion_id, open_only)

    # --- queued suggestions ---------------------------------------------------------------
    def enqueue(self, caller: Token, experiment_id: int, assignments: object) -> QueuedSuggestion:
        experiment = live_experiment_for(
            self._storage, caller, experiment_id, "queued suggestions"
        )
        checked = experiment.spec.space.check_assignments(assignments)
        return self._storage.create_queued_suggestion(experiment_id, checked)

    def get_queued(self, caller: Token, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        experiment_for(self._storage, caller, experiment_id)
        return self._storage.get_queued_suggestion(experiment_id, queued_id)

    def list_queued(
        self, caller: Token, experiment_id: int, page: PageRequest
    ) -> Page[QueuedSuggestion]:
        experiment_for(self._storage, caller, experiment_id)
        return self._storage.list_queued_suggestions(experiment_id, page)

    def delete_queued(self, caller: Token, experiment_id: int, queued_id: int) -> None:
        experiment_for(self._storage, caller, experiment_id, write=True)
        self._storage.delete_queued_suggestion(experiment_id, queued_id)


def _decide(
    engine: Engine, context: SuggestionContext, metadata: Metadata | None
) -> SuggestionDecision:
    if context.next_queued is not None:
        queued = context.next_queued
        return SuggestionDecision(
            NewSuggestion(queued.assignments, SuggestionSource.QUEUED, metadata, queued.id),
            context.cursor,
        )
    taken = {point_hash(s.assignments) for s in context.open_suggestions}
    cursor = context.cursor
    try:
        point, cursor = _engine_point(engine, context, taken)
    except Exception:  # an engine fault must not cost the worker its suggestion
        logger.exception(
            "engine failed for experiment %s; serving a fallback point", context.experiment.id
        )
        point = None
    if point is not None:
        return SuggestionDecision(NewSuggestion(point, SuggestionSource.ENGINE, metadata), cursor)
    fallback = free_point(context.experiment, taken)
    return SuggestionDecision(NewSuggestion(fallback, SuggestionSource.FALLBACK, metadata), cursor)


def _engine_point(
    engine: Engine, context: SuggestionContext, taken: set[str]
) -> tuple[dict[str, AssignmentValue] | None, int]:
    observations = context.load_observations() if engine.needs_observations else []
    pending: list[Assignments] = [s.assignments for s in context.open_suggestions]
    cursor = context.cursor
    for _ in range(ENGINE_ATTEMPTS):
        proposal = engine.propose(
            ProposalRequest(context.experiment, cursor, pending, observations, count=1)
        )
        cursor = proposal.cursor
        for point in proposal.points:
            if point_hash(point) not in taken:
                return point, cursor
        if not proposal.points:
            break
    return None, cursor


def free_point(experiment: Experiment, taken: set[str]) -> dict[str, AssignmentValue]:
    """Any valid point that is not in ``taken``, or ConflictError when none is left."""
    space = experiment.spec.space
    rng = np.random.default_rng()
    size = space.discrete_size()
    if size is not None and size <= ENUMERABLE_SIZE:
        start = int(rng.integers(size))
        for offset in range(size):
            point = point_at_index(space, (start + offset) % size)
            if satisfies_constraints(space, point) and point_hash(point) not in taken:
                return point
        raise _space_exhausted(space, size)
    for _ in range(RANDOM_ATTEMPTS):
        point = point_from_unit(space, rng.random(len(space.parameters)))
        if satisfies_constraints(space, point) and point_hash(point) not in taken:
            return point
    raise _space_exhausted(space, size)


def _space_exhausted(space: SearchSpace, size: int | None) -> ConflictError:
    points = f"all {size} points" if size is not None else "every point tried"
    return ConflictError(
        f"No free point left: {points} of the search space are open suggestions. "
        "Report observations for them or delete open suggestions, then ask again."
    )
