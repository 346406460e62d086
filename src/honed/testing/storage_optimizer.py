"""The ``OptimizerQueue`` and ``OptimizerSignals`` roles: the queue of experiments to fit,
leases, heartbeats, fit inputs and candidates, and what requests and users see of them.

Part of ``honed.testing.storage.StorageConformance``; subclass ``OptimizerQueueConformance``
or ``OptimizerSignalsConformance`` alone to run only that role's tests, or
``OptimizerConformance`` for both (see ``RoleSuite`` for the fixture). The two roles share
one queue, so each role's tests observe it through the other role too.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from honed.domain.experiment import ExperimentState
from honed.domain.experiment import ExperimentType
from honed.domain.optimizer import OptimizerStatus
from honed.domain.parameters import Assignments
from honed.domain.parameters import point_hash
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.errors import NotFoundError
from honed.storage.base import Storage
from honed.storage.experiments import ExperimentPatch
from honed.storage.observations import ObservationPatch
from honed.storage.optimizer import LOADED_CANDIDATES
from honed.storage.optimizer import CandidateBasis
from honed.storage.optimizer import CandidateSet
from honed.storage.optimizer import FitInputs
from honed.storage.optimizer import FitTurn
from honed.storage.optimizer import OptimizerWork
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import peek
from honed.testing.storage_support import peek_candidates
from honed.testing.storage_support import point
from honed.testing.storage_support import run_together


def work_of(storage: Storage, experiment_id: int) -> OptimizerWork:
    """The experiment's entry in ``optimizer_work``."""
    return next(w for w in storage.optimizer_work() if w.experiment.id == experiment_id)


def store_fit(storage: Storage, experiment_id: int, *indices: int, batch: int = 1) -> None:
    """Store a fit of the experiment's current data whose candidates are ``point(i)``."""
    inputs = storage.fit_inputs(experiment_id)
    points = [point(i) for i in indices]
    storage.store_candidates(experiment_id, CandidateSet(points, batch, inputs, 0.5))


def claim_at_once(storage: Storage, experiment_id: int, owners: list[str]) -> list[str]:
    """The owners whose ``claim_experiment`` succeeded, one thread per owner, all at once."""
    won: list[str] = []

    def claim(index: int) -> None:
        if storage.claim_experiment(experiment_id, owners[index], 600):
            won.append(owners[index])

    errors = run_together(claim, len(owners))
    assert errors == [], errors
    return won


def take_candidate(context: SuggestionContext) -> SuggestionDecision:
    """A ``decide`` that hands out the best unused candidate."""
    best = context.load_candidates()[0]
    return SuggestionDecision(
        NewSuggestion(best.assignments, SuggestionSource.OPTIMIZER, None),
        context.cursor,
        candidate_id=best.id,
    )


class OptimizerQueueConformance(RoleSuite):
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
        work = work_of(storage, eid)
        assert work.fitted_suggestion_id == pending.id
        assert work.latest_open_id == newer.id
        storage.record_optimizer_error(eid, "boom")
        assert storage.fit_marker(eid)[1] is not None
        with pytest.raises(NotFoundError):
            storage.fit_marker(eid + 1000)

    def test_optimizer_work_version_moves_with_every_write_the_queue_sees(
        self, storage: Storage, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An idle optimizer loop reads ``optimizer_work`` again only when this version
        moves: every write that can make an experiment due moves it, reads and heartbeats
        do not, and neither do writes to experiments the loop does not fit."""
        since = time.time() - 10
        eid = self.experiment(storage).id
        seen = [storage.optimizer_work_version(since)]

        def changed(what: str) -> None:
            version = storage.optimizer_work_version(since)
            assert version != seen[-1], what
            assert storage.optimizer_work_version(since) == version, what  # reads write nothing
            seen.append(version)

        storage.optimizer_work()
        storage.heartbeat("loop")
        assert storage.optimizer_work_version(since) == seen[0], "reads and heartbeats"
        first = self.suggest(storage, eid, point(0))
        changed("suggestion created")
        self.observe(storage, eid, first.id)
        changed("observation of a suggestion (which closes it)")
        observation = self.observe(storage, eid, assignments=point(1))
        changed("observation of assignments")
        storage.update_observation(eid, observation.id, ObservationPatch(failed=True))
        changed("observation updated")
        storage.delete_observations(eid, observation.id)
        changed("observation deleted")
        self.suggest(storage, eid, point(2))
        changed("another suggestion")
        storage.delete_suggestions(eid)
        changed("suggestions deleted")
        storage.request_candidates(eid)
        changed("a request waits")
        storage.request_candidates(eid, withdraw=True)
        changed("it stopped waiting")
        assert storage.claim_experiment(eid, "loop", 600)
        changed("leased")
        storage.sign_off("loop")
        changed("its owner signed off")
        assert storage.claim_experiment(eid, "loop", 600)
        storage.record_optimizer_error(eid, "boom")
        changed("a fit failed")
        store_fit(storage, eid, 3)
        changed("a fit stored")
        storage.update_experiment(eid, ExperimentPatch(name="renamed"))
        changed("experiment renamed")
        other = self.experiment(storage).id
        changed("another experiment")
        storage.update_experiment(other, ExperimentPatch(state=ExperimentState.DELETED))
        changed("it was deleted")
        ignored = self.experiment(storage, type=ExperimentType.RANDOM).id
        self.observe(storage, ignored, assignments=point(4))
        assert storage.optimizer_work_version(since) == seen[-1], "an experiment not fitted"
        # On PostgreSQL a write may commit after one that read the clock later.
        stamped = time.time() - 5
        monkeypatch.setattr(time, "time", lambda: stamped)
        self.observe(storage, eid, assignments=point(5))
        monkeypatch.undo()
        changed("a write stamped before the newest")

    def test_optimizer_work_lists_the_experiments_to_fit(self, storage: Storage) -> None:
        """Active, non-development experiments of type offline, by id, each with what its
        records and its last fit say."""
        first = self.experiment(storage).id
        self.experiment(storage, development=True)
        self.experiment(storage, type=ExperimentType.RANDOM)
        deleted = self.experiment(storage).id
        storage.update_experiment(deleted, ExperimentPatch(state=ExperimentState.DELETED))
        second = self.experiment(storage).id
        assert [w.experiment.id for w in storage.optimizer_work()] == [first, second]
        fresh = work_of(storage, second)
        assert fresh.experiment == storage.get_experiment(second)
        counts = (fresh.observation_count, fresh.success_count, fresh.open_count)
        assert counts == (0, 0, 0)
        assert (fresh.latest_modified, fresh.latest_open_id, fresh.ready_candidates) == (
            None,
            None,
            0,
        )
        assert (fresh.fitted_at, fresh.fitted_count, fresh.stored_candidates) == (None, 0, 0)
        assert (fresh.lease_owner, fresh.error_at, fresh.demand_at, fresh.waiting) == (
            None,
            None,
            None,
            0,
        )

        self.observe(storage, first, assignments=point(1))
        self.observe(storage, first, assignments=point(2), failed=True)
        gone = self.observe(storage, first, assignments=point(3))
        storage.delete_observations(first, gone.id)
        self.suggest(storage, first, point(4))
        newest = self.suggest(storage, first, point(5))
        store_fit(storage, first, 6, 7, 8)
        handed = storage.create_suggestion(first, take_candidate)
        work = work_of(storage, first)
        # The deleted observation is not counted, but its change dates the data.
        assert (work.observation_count, work.success_count) == (2, 1)
        assert work.latest_modified is not None
        assert work.latest_modified == work.fitted_modified  # nothing changed since the fit
        assert (work.open_count, work.latest_open_id) == (3, handed.id)
        assert work.fitted_suggestion_id == newest.id  # the candidate was handed out after
        assert (work.fitted_count, work.fit_seconds) == (2, 0.5)
        assert work.fitted_at is not None
        assert (work.stored_candidates, work.ready_candidates) == (3, 2)

        time.sleep(0.01)  # observation times are the clock's: keep them apart
        self.observe(storage, first, handed.id)
        work = work_of(storage, first)
        assert work.observation_count == 3
        assert work.latest_modified is not None
        assert work.fitted_modified is not None
        assert work.latest_modified > work.fitted_modified

    def test_a_fit_replaces_the_unused_candidates(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        assert storage.fit_inputs(eid + 1000) == FitInputs(None, None, [], [])
        self.observe(storage, eid, assignments=point(0))
        inputs = storage.fit_inputs(eid)
        storage.store_candidates(eid, CandidateSet([point(1), point(2), point(3)], 1, inputs, 1))
        candidates = peek_candidates(storage, eid)
        assert [(c.experiment_id, c.rank) for c in candidates] == [(eid, 0), (eid, 1), (eid, 2)]
        assert {c.basis_modified for c in candidates} == {inputs.basis_modified}
        assert storage.create_suggestion(eid, take_candidate).assignments == point(1)
        store_fit(storage, eid, 4, 5)
        assert [c.assignments for c in peek_candidates(storage, eid)] == [point(4), point(5)]
        work = work_of(storage, eid)
        assert (work.stored_candidates, work.ready_candidates) == (2, 2)
        store_fit(storage, eid)  # a fit that proposed nothing
        assert peek_candidates(storage, eid) == []
        assert storage.ready_candidates(eid) == 0

    def test_an_error_is_kept_until_the_next_fit(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        store_fit(storage, eid, 1)
        fitted_at = storage.fit_marker(eid)[0]
        storage.record_optimizer_error(eid, "x" * 5000)
        status = storage.optimizer_status(eid)
        assert status.error == "x" * 2000
        assert status.error_at is not None
        assert storage.fit_marker(eid) == (fitted_at, status.error_at)
        assert status.ready_candidates == 1  # the last fit's candidates stay
        store_fit(storage, eid, 2)
        status = storage.optimizer_status(eid)
        assert (status.error, status.error_at) == (None, None)
        assert storage.fit_marker(eid)[1] is None

    def test_one_live_owner_holds_a_lease(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        storage.heartbeat("a")
        storage.heartbeat("b")
        assert not storage.claim_experiment(eid + 1000, "a", 600)
        before = time.time()
        assert storage.claim_experiment(eid, "a", 600)
        work = work_of(storage, eid)
        assert work.lease_owner == "a"
        assert work.lease_until is not None
        assert before + 600 <= work.lease_until <= time.time() + 600
        assert work.lease_owner_seen_at is not None
        assert work.leased_by_other("b", time.time())
        assert not work.leased_by_other("a", time.time())
        assert storage.optimizer_status(eid).fitting
        assert not storage.claim_experiment(eid, "b", 600)  # a live owner's lease holds
        assert storage.claim_experiment(eid, "a", 600)  # and its owner renews it
        # Storing a fit releases the lease, and so does recording an error.
        store_fit(storage, eid, 1)
        work = work_of(storage, eid)
        assert (work.lease_owner, work.lease_until) == (None, None)
        assert not storage.optimizer_status(eid).fitting
        assert storage.claim_experiment(eid, "b", 600)
        storage.record_optimizer_error(eid, "boom")
        assert work_of(storage, eid).lease_owner is None
        # An expired lease is anyone's.
        assert storage.claim_experiment(eid, "a", 0.0)
        time.sleep(0.01)
        assert storage.claim_experiment(eid, "b", 600)
        assert work_of(storage, eid).lease_owner == "b"
        # An owner that never sent a heartbeat is not live: its lease holds nobody off.
        other = self.experiment(storage).id
        assert storage.claim_experiment(other, "ghost", 600)
        assert not storage.optimizer_status(other).fitting
        assert not work_of(storage, other).leased_by_other("b", time.time())
        assert storage.claim_experiment(other, "b", 600)

    def test_concurrent_claims_give_the_lease_to_one(self, storage: Storage) -> None:
        owners = [f"process-{i}" for i in range(6)]
        for owner in owners:
            storage.heartbeat(owner)
        for _ in range(5):
            eid = self.experiment(storage).id
            won = claim_at_once(storage, eid, owners)
            assert len(won) == 1, won
            assert work_of(storage, eid).lease_owner == won[0]

    def test_heartbeats_and_sign_off(self, storage: Storage) -> None:
        leased = [self.experiment(storage).id for _ in range(3)]
        assert storage.live_optimizers(60) == 0
        storage.heartbeat("a")
        storage.heartbeat("b")
        storage.heartbeat("a")  # again: still one process
        assert storage.live_optimizers(60) == 2
        time.sleep(0.05)
        assert storage.live_optimizers(0.01) == 0  # none within the last 10 ms
        assert storage.claim_experiment(leased[0], "a", 600)
        assert storage.claim_experiment(leased[1], "a", 600)
        assert storage.claim_experiment(leased[2], "b", 600)
        storage.sign_off("a")  # its leases are released, and it is no longer live
        assert storage.live_optimizers(60) == 1
        assert [work_of(storage, eid).lease_owner for eid in leased] == [None, None, "b"]
        assert storage.claim_experiment(leased[0], "b", 600)
        storage.sign_off("nobody")  # a process that never sent a heartbeat: nothing changes
        assert storage.live_optimizers(60) == 1

    def test_fit_inputs_hold_the_live_records_of_their_experiment(self, storage: Storage) -> None:
        """Observations not deleted and open suggestions (oldest first), of this experiment
        only; the marks count deleted records too, so a deletion dates the data anew."""
        eid = self.experiment(storage).id
        other = self.experiment(storage).id
        self.observe(storage, other, self.suggest(storage, other, point(9)).id)
        self.suggest(storage, other, point(8))
        kept = self.observe(storage, eid, assignments=point(1))
        gone = self.observe(storage, eid, assignments=point(2))
        first = self.suggest(storage, eid, point(3))
        closed = self.suggest(storage, eid, point(4))
        dropped = self.suggest(storage, eid, point(5))
        last = self.suggest(storage, eid, point(6))
        answered = self.observe(storage, eid, closed.id)
        storage.delete_suggestions(eid, dropped.id)
        before = storage.fit_inputs(eid)
        assert before.basis_modified is not None

        time.sleep(0.01)  # observation times are the clock's: keep them apart
        storage.delete_observations(eid, gone.id)
        newest = self.suggest(storage, eid, point(7))
        storage.delete_suggestions(eid, newest.id)
        inputs = storage.fit_inputs(eid)
        assert [o.id for o in inputs.observations] == [kept.id, answered.id]
        assert [s.id for s in inputs.pending] == [first.id, last.id]
        assert inputs.latest_suggestion_id == newest.id  # deleted, yet newer than the fit
        assert inputs.basis_modified is not None
        assert inputs.basis_modified > before.basis_modified

    def test_a_fit_is_stored_whoever_holds_the_lease(self, storage: Storage) -> None:
        """A process that lost its lease still stores its fit, and storing releases the
        lease whoever holds it."""
        eid = self.experiment(storage).id
        storage.heartbeat("a")
        storage.heartbeat("b")
        assert storage.claim_experiment(eid, "a", 600)
        store_fit(storage, eid, 1, 2)  # another process's fit, while a holds the lease
        assert [c.assignments for c in peek_candidates(storage, eid)] == [point(1), point(2)]
        work = work_of(storage, eid)
        assert (work.lease_owner, work.lease_until) == (None, None)
        assert storage.claim_experiment(eid, "b", 600)

    def test_tasks_not_parallel_to_the_points_are_refused(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        store_fit(storage, eid, 1)
        marker = storage.fit_marker(eid)
        inputs = storage.fit_inputs(eid)
        for tasks in (["t"], ["t", "t", "t"]):
            with pytest.raises(ValueError, match="parallel"):
                storage.store_candidates(
                    eid, CandidateSet([point(2), point(3)], 1, inputs, 0.5, tasks)
                )
        # Nothing was stored: the last fit and its candidates stay.
        assert storage.fit_marker(eid) == marker
        assert [c.assignments for c in peek_candidates(storage, eid)] == [point(1)]

    def test_a_decision_reads_the_best_candidates_only(self, storage: Storage) -> None:
        """``load_candidates`` reads none before a fit, and after one the first
        LOADED_CANDIDATES by rank, however many are ready."""
        eid = self.experiment(storage).id
        assert peek_candidates(storage, eid) == []
        store_fit(storage, eid, *range(LOADED_CANDIDATES + 6), batch=4)
        loaded = peek_candidates(storage, eid)
        assert [c.rank for c in loaded] == list(range(LOADED_CANDIDATES))
        assert [c.assignments for c in loaded[:2]] == [point(0), point(1)]
        assert storage.ready_candidates(eid) == LOADED_CANDIDATES + 6

    def test_concurrent_hand_outs_take_each_candidate_once(self, storage: Storage) -> None:
        """Requests racing for candidates each get a different one, best first."""
        eid = self.experiment(storage).id
        store_fit(storage, eid, *range(1, 9), batch=8)
        handed: list[Assignments] = []

        def hand_out(_: int) -> None:
            suggestion = storage.create_suggestion(eid, take_candidate)
            assert isinstance(suggestion, Suggestion)
            handed.append(suggestion.assignments)

        assert run_together(hand_out, 6) == []
        taken = sorted(point_hash(p) for p in handed)
        assert taken == sorted(point_hash(point(i)) for i in range(1, 7))
        assert [c.assignments for c in peek_candidates(storage, eid)] == [point(7), point(8)]

    def test_concurrent_claims_of_a_stale_lease_give_it_to_one(self, storage: Storage) -> None:
        """A lease that expired, or whose owner is not live, goes to one of the processes
        that claim it at once (each sent a heartbeat, so the winner's lease holds)."""
        owners = [f"process-{i}" for i in range(6)]
        for owner in [*owners, "old"]:
            storage.heartbeat(owner)
        expired = self.experiment(storage).id
        assert storage.claim_experiment(expired, "old", 0.0)
        ghosted = self.experiment(storage).id
        assert storage.claim_experiment(ghosted, "ghost", 600)  # never sent a heartbeat
        time.sleep(0.01)
        for eid in (expired, ghosted):
            won = claim_at_once(storage, eid, owners)
            assert len(won) == 1, won
            assert work_of(storage, eid).lease_owner == won[0]

    def test_an_empty_store_has_no_work(self, storage: Storage) -> None:
        assert storage.optimizer_work() == []
        self.experiment(storage, development=True)
        assert storage.optimizer_work() == []


class OptimizerSignalsConformance(RoleSuite):
    def test_status_and_fit_marker(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        assert storage.optimizer_status(eid) == OptimizerStatus(0, None, None, 0, None, None)
        assert storage.fit_marker(eid) == (None, None)
        assert storage.ready_candidates(eid) == 0
        self.observe(storage, eid, assignments=point(0))
        store_fit(storage, eid, 1, 2)
        fitted_at, error_at = storage.fit_marker(eid)
        assert fitted_at is not None
        assert error_at is None
        assert storage.optimizer_status(eid) == OptimizerStatus(1, fitted_at, 0.5, 2, None, None)
        storage.create_suggestion(eid, take_candidate)
        assert storage.ready_candidates(eid) == 1
        assert storage.optimizer_status(eid).ready_candidates == 1
        assert storage.ready_candidates(eid + 1000) == 0
        with pytest.raises(NotFoundError):
            storage.optimizer_status(eid + 1000)
        with pytest.raises(NotFoundError):
            storage.fit_marker(eid + 1000)

    def test_requests_signal_their_demand_until_a_fit_is_stored(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        assert (work_of(storage, eid).waiting, work_of(storage, eid).demand_at) == (0, None)
        before = time.time()
        storage.request_candidates(eid)
        storage.request_candidates(eid)
        work = work_of(storage, eid)
        assert work.waiting == 2
        assert work.demand_at is not None
        assert before <= work.demand_at <= time.time()
        for _ in range(3):
            storage.request_candidates(eid, withdraw=True)
        assert work_of(storage, eid).waiting == 0  # never below 0
        storage.request_candidates(eid)
        assert work_of(storage, eid).waiting == 1
        # Many at once (a process writes its waiting requests together).
        storage.request_candidates(eid, count=5)
        assert work_of(storage, eid).waiting == 6
        storage.request_candidates(eid, withdraw=True, count=4)
        assert work_of(storage, eid).waiting == 2
        storage.request_candidates(eid, withdraw=True, count=3)
        assert work_of(storage, eid).waiting == 0  # never below 0
        storage.request_candidates(eid)
        store_fit(storage, eid, 1)  # answers the requests that waited
        assert work_of(storage, eid).waiting == 0
        storage.request_candidates(eid + 1000)  # an unknown experiment: nothing to signal
        storage.request_candidates(eid + 1000, withdraw=True)

    def test_concurrent_requests_are_all_counted(self, storage: Storage) -> None:
        """Requests that signal at once are each counted: none is lost to another's write."""
        eid = self.experiment(storage).id
        assert run_together(lambda _: storage.request_candidates(eid), 6) == []
        assert work_of(storage, eid).waiting == 6
        assert run_together(lambda _: storage.request_candidates(eid, withdraw=True), 4) == []
        assert work_of(storage, eid).waiting == 2

    def test_fit_turn_says_whether_the_optimizer_works_toward_the_experiment(
        self, storage: Storage
    ) -> None:
        """Its fit runs, or every live process fits another experiment; a lease of a
        process that fell silent or ended counts for neither."""
        eid, other, third = (self.experiment(storage).id for _ in range(3))
        assert storage.fit_turn(eid, 60) == FitTurn(False, 0, 0)
        assert not storage.fit_turn(eid, 60).coming  # no optimizer at all
        storage.heartbeat("a")
        storage.heartbeat("b")
        assert storage.fit_turn(eid, 60) == FitTurn(False, 2, 0)  # both idle
        assert storage.claim_experiment(other, "a", 600)
        assert not storage.fit_turn(eid, 60).coming  # b is idle and could fit it
        assert storage.claim_experiment(third, "b", 600)
        assert storage.fit_turn(eid, 60) == FitTurn(False, 2, 2)
        assert storage.fit_turn(eid, 60).coming  # queued: its turn comes next
        store_fit(storage, third, 1)  # b stored its fit: the lease is released
        assert storage.claim_experiment(eid, "b", 600)
        assert storage.fit_turn(eid, 60) == FitTurn(True, 2, 2)
        assert storage.fit_turn(other, 60).coming  # a fits it
        time.sleep(0.05)
        assert storage.fit_turn(eid, 0.01) == FitTurn(False, 0, 0)  # both fell silent
        storage.heartbeat("a")
        storage.sign_off("b")
        assert storage.fit_turn(eid, 60) == FitTurn(False, 1, 1)


class OptimizerConformance(OptimizerQueueConformance, OptimizerSignalsConformance):
    """Both optimizer roles."""
