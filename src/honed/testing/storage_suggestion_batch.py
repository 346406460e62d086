"""``create_suggestions``: several decisions in one transaction, one after the other.

Part of ``honed.testing.storage.StorageConformance`` (see ``RoleSuite`` for the fixture).
"""

from __future__ import annotations

import pytest

from honed.domain.paging import PageRequest
from honed.domain.parameters import point_hash
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.storage.base import Storage
from honed.storage.optimizer import CandidateSet
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision
from honed.testing.storage_support import POOL
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import decide_from_pool
from honed.testing.storage_support import fixed
from honed.testing.storage_support import peek
from honed.testing.storage_support import peek_candidates
from honed.testing.storage_support import peek_context
from honed.testing.storage_support import point


def _open_points(storage: Storage, eid: int) -> list[str]:
    page = storage.list_suggestions(eid, PageRequest(), open_only=True)
    return sorted(point_hash(s.assignments) for s in page.items)


class SuggestionBatchConformance(RoleSuite):
    def test_each_decision_of_a_batch_sees_the_ones_before_it(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        inputs = storage.fit_inputs(eid)
        storage.store_candidates(eid, CandidateSet([point(7), point(8)], 2, inputs, 0.5))
        q1 = storage.create_queued_suggestion(eid, point(1))
        q2 = storage.create_queued_suggestion(eid, point(2))
        seen: list[tuple[int, int, int | None, set[str], list[int], list[int]]] = []

        def decide(context: SuggestionContext) -> SuggestionDecision:
            queued = context.next_queued
            candidates = context.load_candidates()
            seen.append(
                (
                    context.open_count,
                    context.cursor,
                    queued.id if queued is not None else None,
                    context.open_among({point_hash(point(1)), point_hash(point(7))}),
                    [s.id for s in context.load_open_suggestions()],
                    [c.id for c in candidates],
                )
            )
            if queued is not None:
                new = NewSuggestion(queued.assignments, SuggestionSource.QUEUED, None, queued.id)
                return SuggestionDecision(new, context.cursor + 1)
            chosen = candidates[0]
            new = NewSuggestion(chosen.assignments, SuggestionSource.OPTIMIZER)
            return SuggestionDecision(new, context.cursor + 1, candidate_id=chosen.id)

        made = storage.create_suggestions(eid, [decide] * 4)
        assert all(isinstance(s, Suggestion) for s in made)
        ids = [s.id for s in made if isinstance(s, Suggestion)]
        assert [s.assignments for s in made if isinstance(s, Suggestion)] == [
            point(1),
            point(2),
            point(7),
            point(8),
        ]
        candidate_ids = seen[0][5]
        assert len(candidate_ids) == 2
        assert seen == [
            (0, 0, q1.id, set(), [], candidate_ids),
            (1, 1, q2.id, {point_hash(point(1))}, ids[:1], candidate_ids),
            (2, 2, None, {point_hash(point(1))}, ids[:2], candidate_ids),
            (3, 3, None, {point_hash(point(1)), point_hash(point(7))}, ids[:3], candidate_ids[1:]),
        ]
        assert storage.list_suggestions(eid, PageRequest()).count == 4
        assert storage.list_queued_suggestions(eid, PageRequest()).count == 0
        assert peek_candidates(storage, eid) == []
        assert peek_context(storage, eid).cursor == 4

    def test_a_batch_past_the_open_points_read_at_once(self, storage: Storage) -> None:
        """With many open suggestions a store may ask the database which points are open:
        it must see the batch's own points too."""
        eid = self.experiment(storage).id
        for i in range(100, 170):
            self.suggest(storage, eid, point(i))
        made = storage.create_suggestions(eid, [decide_from_pool] * len(POOL))
        assert sorted(point_hash(s.assignments) for s in made if isinstance(s, Suggestion)) == (
            sorted(point_hash(p) for p in POOL)
        )
        assert len(_open_points(storage, eid)) == 70 + len(POOL)

    def test_a_decision_that_fails_is_its_own_outcome(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        refused = InvalidRequestError("not this one")
        declined = object()

        def refuse(context: SuggestionContext) -> SuggestionDecision:
            raise refused

        def decline(context: SuggestionContext) -> object:
            return declined

        outcomes = storage.create_suggestions(
            eid, [fixed(point(1)), refuse, decline, fixed(point(2))]
        )
        first, error, nothing, last = outcomes
        assert (error, nothing) == (refused, declined)
        assert isinstance(first, Suggestion)
        assert isinstance(last, Suggestion)
        assert [first.assignments, last.assignments] == [point(1), point(2)]
        assert _open_points(storage, eid) == sorted(point_hash(point(i)) for i in (1, 2))
        assert peek_context(storage, eid).cursor == 2

    def test_a_batch_that_fails_stores_nothing(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        inputs = storage.fit_inputs(eid)
        storage.store_candidates(eid, CandidateSet([point(7)], 1, inputs, 0.5))
        queued = storage.create_queued_suggestion(eid, point(1))

        def take_queued(context: SuggestionContext) -> SuggestionDecision:
            assert context.next_queued is not None
            new = NewSuggestion(point(1), SuggestionSource.QUEUED, None, context.next_queued.id)
            return SuggestionDecision(new, context.cursor + 1)

        def take_candidate(context: SuggestionContext) -> SuggestionDecision:
            chosen = context.load_candidates()[0]
            new = NewSuggestion(chosen.assignments, SuggestionSource.OPTIMIZER)
            return SuggestionDecision(new, context.cursor + 1, candidate_id=chosen.id)

        def broken(context: SuggestionContext) -> SuggestionDecision:
            raise RuntimeError("a bug")

        with pytest.raises(RuntimeError):
            storage.create_suggestions(eid, [take_queued, take_candidate, broken])
        # Two equal points of a unique source: the store refuses the whole batch.
        with pytest.raises(ConflictError):
            storage.create_suggestions(eid, [take_queued, fixed(point(3)), fixed(point(3))])
        assert storage.list_suggestions(eid, PageRequest()).count == 0
        assert [q.id for q in storage.list_queued_suggestions(eid, PageRequest()).items] == [
            queued.id
        ]
        assert [c.assignments for c in peek_candidates(storage, eid)] == [point(7)]
        assert peek(storage, eid, lambda c: (c.cursor, c.open_count)) == (0, 0)
