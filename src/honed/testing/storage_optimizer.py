"""The ``OptimizerQueue`` and ``OptimizerSignals`` roles: candidates, what their model
knew, leases, heartbeats and demand.

Part of ``honed.testing.storage.StorageConformance``; subclass ``OptimizerConformance`` alone to
run only this role's tests (see ``RoleSuite`` for the fixture).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from honed.domain.parameters import point_hash
from honed.domain.records import SuggestionSource
from honed.errors import NotFoundError
from honed.storage.base import Storage
from honed.storage.optimizer import CandidateBasis
from honed.storage.optimizer import CandidateSet
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import peek
from honed.testing.storage_support import peek_candidates
from honed.testing.storage_support import point


class OptimizerConformance(RoleSuite):
    def test_decide_reads_candidates_observed_points_and_successes(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        self.observe(storage, eid, assignments=point(1))
        self.observe(storage, eid, assignments=point(2), failed=True)
        inputs = storage.fit_inputs(eid)
        storage.store_candidates(eid, CandidateSet([point(3), point(1)], 1, inputs, 0.5))
        seen: dict[str, Any] = {}

        def decide(context: SuggestionContext) -> SuggestionDecision:
            seen["successes"] = context.count_successes()
            candidates = context.load_candidates()
            seen["candidates"] = [c.assignments for c in candidates]
            hashes = {point_hash(point(i)) for i in (1, 2, 3)}
            seen["observed"] = context.observed_among(hashes)
            seen["nothing"] = context.observed_among(set())
            first = candidates[0]
            return SuggestionDecision(
                NewSuggestion(first.assignments, SuggestionSource.OPTIMIZER, None),
                context.cursor,
                candidate_id=first.id,
            )

        handed = storage.create_suggestion(eid, decide)
        assert seen["successes"] == 1  # the failed observation does not count
        assert seen["candidates"] == [point(3), point(1)]  # best first
        assert seen["observed"] == {point_hash(point(1)), point_hash(point(2))}
        assert seen["nothing"] == set()
        assert (handed.assignments, handed.source) == (point(3), SuggestionSource.OPTIMIZER)
        # The candidate handed out is used: the next decision no longer sees it.
        assert [c.assignments for c in peek_candidates(storage, eid)] == [point(1)]
        assert storage.ready_candidates(eid) == 1

    def test_a_fit_remembers_what_its_model_knew(self, storage: Storage) -> None:
        """``fit_inputs`` reads what a fit is conditioned on; the stored candidates keep it,
        and a decision learns which stored observations their model did not account for:
        neither seen nor pending (a suggestion open when the fit read)."""
        eid = self.experiment(storage).id
        seen = self.observe(storage, eid, assignments=point(1))
        self.observe(storage, eid, assignments=point(2), failed=True)
        pending = self.suggest(storage, eid, point(3))
        inputs = storage.fit_inputs(eid)
        assert [o.failed for o in inputs.observations] == [False, True]
        assert inputs.observations[0].id == seen.id
        assert inputs.pending == [pending]
        assert inputs.latest_suggestion_id == pending.id
        assert inputs.basis_modified is not None
        assert storage.fit_marker(eid) == (None, None)

        time.sleep(0.01)  # observation times are the clock's: keep them apart
        unseen = self.suggest(storage, eid, point(4))  # handed out after the fit read
        storage.store_candidates(
            eid, CandidateSet([point(5), point(6), point(7)], 2, inputs, 0.25)
        )
        fitted_at, error_at = storage.fit_marker(eid)
        assert fitted_at is not None
        assert error_at is None
        status = storage.optimizer_status(eid)
        assert (status.fitted_count, status.fit_seconds, status.ready_candidates) == (2, 0.25, 3)

        def basis() -> CandidateBasis:
            return peek(storage, eid, lambda context: context.load_basis())

        assert basis() == CandidateBasis(2, 2, 0, (fitted_at, None), 0.25)
        # The pending suggestion's result was accounted for; another's was not.
        self.observe(storage, eid, pending.id)
        assert basis().unaccounted == 0
        self.observe(storage, eid, unseen.id)
        assert basis().unaccounted == 1
        self.observe(storage, eid, assignments=point(8))
        assert basis().unaccounted == 2
        # A change to an observation the model saw makes it stale too.
        storage.delete_observations(eid, seen.id)
        assert basis().unaccounted == 3
        # The optimizer loop sees which open suggestion the fit did not know of.
        newer = self.suggest(storage, eid, point(9))
        work = next(w for w in storage.optimizer_work() if w.experiment.id == eid)
        assert work.fitted_suggestion_id == pending.id
        assert work.latest_open_id == newer.id
        storage.record_optimizer_error(eid, "boom")
        assert storage.fit_marker(eid)[1] is not None
        with pytest.raises(NotFoundError):
            storage.fit_marker(eid + 1000)
