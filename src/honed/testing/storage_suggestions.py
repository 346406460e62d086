"""The ``SuggestionStore`` role: creation under the experiment's lock, leases, the queue.

Part of ``honed.testing.storage.StorageConformance``; subclass ``SuggestionConformance`` alone to
run only this role's tests (see ``RoleSuite`` for the fixture).
"""

from __future__ import annotations

import threading
import time
from typing import Any
from typing import ClassVar

import pytest

from honed.domain.experiment import ExperimentState
from honed.domain.paging import PageRequest
from honed.domain.parameters import Assignments
from honed.domain.parameters import point_hash
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.records import SuggestionState
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.storage.base import Storage
from honed.storage.experiments import ExperimentPatch
from honed.storage.optimizer import CandidateSet
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision
from honed.testing.storage_support import POOL
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import check_paging
from honed.testing.storage_support import check_race_outcomes
from honed.testing.storage_support import fixed
from honed.testing.storage_support import peek
from honed.testing.storage_support import peek_context
from honed.testing.storage_support import point
from honed.testing.storage_support import suggest_once


class SuggestionConformance(RoleSuite):
    def test_create_suggestion_hands_decide_the_context(self, storage: Storage) -> None:
        experiment = self.experiment(storage)
        eid = experiment.id
        contexts: list[SuggestionContext] = []
        loaded: list[list[Observation]] = []
        opened: list[list[Suggestion]] = []

        open_hashes: list[frozenset[str]] = []

        def decide(context: SuggestionContext) -> SuggestionDecision:
            contexts.append(context)
            loaded.append(context.load_observations())  # only valid inside decide
            opened.append(context.load_open_suggestions())
            open_hashes.append(context.load_open_hashes())
            assert context.open_count == len(open_hashes[-1])
            index = len(contexts)
            return SuggestionDecision(
                NewSuggestion(point(index), SuggestionSource.ENGINE, {"i": index}),
                context.cursor + 10 * index,
            )

        first = storage.create_suggestion(eid, decide)
        assert contexts[0].experiment == experiment
        assert (open_hashes[0], opened[0], contexts[0].next_queued) == (
            frozenset(),
            [],
            None,
        )
        assert (contexts[0].cursor, loaded[0]) == (0, [])
        assert (first.experiment_id, first.assignments) == (eid, point(1))
        assert (first.state, first.source, first.deleted) == (
            SuggestionState.OPEN,
            SuggestionSource.ENGINE,
            False,
        )
        assert first.is_open
        assert first.metadata == {"i": 1}
        assert isinstance(first.created, int)
        assert storage.get_suggestion(eid, first.id) == first

        second = storage.create_suggestion(eid, decide)
        assert contexts[1].cursor == 10  # the cursor the first decision returned
        assert open_hashes[1] == {point_hash(first.assignments)}
        assert opened[1] == [first]
        third = storage.create_suggestion(eid, decide)
        assert contexts[2].cursor == 30
        assert [s.id for s in opened[2]] == [first.id, second.id]
        assert open_hashes[2] == {point_hash(point(1)), point_hash(point(2))}

        # Closed and deleted suggestions are not open; observations are loaded on demand.
        observation = self.observe(storage, eid, first.id)
        storage.delete_suggestions(eid, second.id)
        fourth = storage.create_suggestion(eid, decide)
        assert [s.id for s in opened[3]] == [third.id]
        assert open_hashes[3] == {point_hash(third.assignments)}
        assert loaded[3] == [observation]
        assert contexts[3].cursor == 60
        # A decide that fails stores nothing, cursor included.
        assert peek_context(storage, eid).cursor == 100
        assert storage.list_suggestions(eid, PageRequest()).count == 3
        assert [s.id for s in storage.list_suggestions(eid, PageRequest()).items] == [
            fourth.id,
            third.id,
            first.id,
        ]
        with pytest.raises(NotFoundError):
            storage.create_suggestion(eid + 1000, decide)
        assert len(contexts) == 4

    def test_a_declined_decision_stores_nothing_and_is_returned(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        inputs = storage.fit_inputs(eid)
        storage.store_candidates(eid, CandidateSet([point(3)], 1, inputs, 0.5))
        declined = object()

        def decline(context: SuggestionContext) -> SuggestionDecision | object:
            assert context.load_candidates()  # read, not taken
            return declined

        assert storage.create_suggestion(eid, decline) is declined
        assert storage.list_suggestions(eid, PageRequest()).count == 0
        assert peek_context(storage, eid).cursor == 0
        unused = peek(storage, eid, lambda c: [x.assignments for x in c.load_candidates()])
        assert unused == [point(3)]

    def test_queued_suggestions_are_served_fifo(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        other = self.experiment(storage).id
        elsewhere = storage.create_queued_suggestion(other, point(9))
        q1 = storage.create_queued_suggestion(eid, point(1))
        q2 = storage.create_queued_suggestion(eid, point(2))
        q3 = storage.create_queued_suggestion(eid, point(3))
        assert (q1.experiment_id, q1.assignments) == (eid, point(1))
        assert isinstance(q1.created, int)
        assert storage.get_queued_suggestion(eid, q2.id) == q2
        check_paging(
            lambda page: storage.list_queued_suggestions(eid, page), [q1.id, q2.id, q3.id]
        )
        storage.delete_queued_suggestion(eid, q3.id)
        with pytest.raises(NotFoundError):
            storage.get_queued_suggestion(eid, q3.id)
        with pytest.raises(NotFoundError):
            storage.get_queued_suggestion(eid, elsewhere.id)
        with pytest.raises(NotFoundError):
            storage.delete_queued_suggestion(eid, elsewhere.id)
        with pytest.raises(NotFoundError):
            storage.create_queued_suggestion(eid + other + 1000, point(1))

        def consume(context: SuggestionContext) -> SuggestionDecision:
            queued = context.next_queued
            assert queued is not None
            return SuggestionDecision(
                NewSuggestion(queued.assignments, SuggestionSource.QUEUED, None, queued.id),
                context.cursor,
            )

        assert peek_context(storage, eid).next_queued == q1
        served = storage.create_suggestion(eid, consume)
        assert (served.assignments, served.source) == (point(1), SuggestionSource.QUEUED)
        remaining = storage.list_queued_suggestions(eid, PageRequest())
        assert [q.id for q in remaining.items] == [q2.id]
        # A decision that does not consume the queue leaves it alone.
        self.suggest(storage, eid, point(5))
        assert peek_context(storage, eid).next_queued == q2
        assert storage.create_suggestion(eid, consume).assignments == point(2)
        assert peek_context(storage, eid).next_queued is None
        assert storage.list_queued_suggestions(eid, PageRequest()).count == 0
        assert storage.get_queued_suggestion(other, elsewhere.id) == elsewhere

    def test_get_list_and_update_suggestions(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        made = [self.suggest(storage, eid, point(i)) for i in range(6)]
        ids = [s.id for s in made]
        self.suggest(storage, self.experiment(storage).id, point(0))  # another experiment
        assert storage.get_suggestion(eid, ids[2]) == made[2]
        check_paging(lambda page: storage.list_suggestions(eid, page), ids)

        self.observe(storage, eid, ids[0])
        storage.delete_suggestions(eid, ids[1])
        storage.delete_suggestions(eid, ids[2])
        self.observe(storage, eid, ids[3])

        def listed(**kwargs: Any) -> tuple[list[int], int]:
            page = storage.list_suggestions(eid, PageRequest(), **kwargs)
            return [s.id for s in page.items], page.count

        assert listed() == ([ids[5], ids[4], ids[3], ids[0]], 4)
        assert listed(open_only=True) == ([ids[5], ids[4]], 2)
        assert storage.open_suggestions(eid) == [made[4], made[5]]  # oldest first
        assert listed(deleted=True) == ([ids[2], ids[1]], 2)
        assert listed(deleted=None) == ([ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]], 6)
        assert listed(ids=[ids[0], ids[1]], deleted=None) == ([ids[1], ids[0]], 2)
        assert listed(ids=[ids[0], ids[1], ids[4]]) == ([ids[4], ids[0]], 2)
        assert listed(ids=[ids[3], ids[4]], open_only=True) == ([ids[4]], 1)
        assert listed(ids=[]) == ([], 0)
        assert storage.get_suggestion(eid, ids[0]).state is SuggestionState.CLOSED
        deleted = storage.get_suggestion(eid, ids[1])
        assert deleted.deleted
        assert not deleted.is_open
        with pytest.raises(NotFoundError):
            storage.get_suggestion(eid, ids[-1] + 1000)

        updated = storage.update_suggestion_metadata(eid, ids[4], {"worker": "w1"})
        assert updated.metadata == {"worker": "w1"}
        assert storage.get_suggestion(eid, ids[4]) == updated
        assert (updated.assignments, updated.is_open) == (made[4].assignments, True)
        cleared = storage.update_suggestion_metadata(eid, ids[4], None)
        assert cleared.metadata is None
        assert made[4].metadata is None
        assert updated.metadata == {"worker": "w1"}

    # Table-driven rather than parametrized: each case gets its own experiment, so one
    # store serves them all (a fresh database per test is slow on a real server).
    DELETE_CASES: ClassVar[dict[str, tuple[int | None, bool, int, list[int]]]] = {
        # case: (suggestion to delete, open_only, how many deleted, which are left)
        "one": (2, False, 1, [1, 3]),
        "all": (None, False, 3, []),  # all that are not deleted yet (3 of 4)
        "open-only": (None, True, 2, [1]),  # 2 and 3 are open; 1 is closed
    }

    def test_delete_suggestions(self, storage: Storage) -> None:
        for case, (index, open_only, count, left) in self.DELETE_CASES.items():
            eid = self.experiment(storage).id
            ids = [self.suggest(storage, eid, point(i)).id for i in range(4)]
            assert storage.delete_suggestions(eid, ids[0]) == 1, case
            self.observe(storage, eid, ids[1])
            target = ids[index] if index is not None else None
            assert storage.delete_suggestions(eid, target, open_only) == count, case
            page = storage.list_suggestions(eid, PageRequest())
            assert sorted(s.id for s in page.items) == [ids[i] for i in left], case
            deleted = storage.list_suggestions(eid, PageRequest(), deleted=True)
            assert page.count + deleted.count == 4, case
            assert all(s.deleted for s in deleted.items), case
            assert storage.delete_suggestions(eid, target, open_only) == 0, case

    def test_count_open_suggestions_of_active_experiments(self, storage: Storage) -> None:
        before = storage.count_open_suggestions()  # a shared store may hold others
        first, second, gone = (self.experiment(storage).id for _ in range(3))
        observed = self.suggest(storage, first, point(1))
        deleted = self.suggest(storage, first, point(2))
        self.suggest(storage, first, point(3))
        self.suggest(storage, second, point(1), SuggestionSource.MANUAL)
        self.suggest(storage, gone, point(1))
        assert storage.count_open_suggestions() == before + 5
        self.observe(storage, first, observed.id)
        storage.delete_suggestions(first, deleted.id)
        storage.update_experiment(gone, ExperimentPatch(state=ExperimentState.DELETED))
        assert storage.count_open_suggestions() == before + 2

    def test_concurrent_lease_extensions_never_move_a_lease_back(self, storage: Storage) -> None:
        """A lease only moves forward: an extension that read the row before another's
        commit must not put back the earlier time it read."""
        eid = self.experiment(storage, suggestion_ttl_seconds=60.0).id
        held = self.suggest(storage, eid, point(0))
        far = float(int(time.time()) + 10**6)  # leases read back in whole seconds
        rounds = 150
        barrier = threading.Barrier(3)
        seen: list[float] = []

        def extend(leases: list[float]) -> None:
            barrier.wait(timeout=60)
            for lease in leases:
                storage.extend_suggestion_lease(eid, held.id, lease)

        def watch() -> None:
            barrier.wait(timeout=60)
            for _ in range(2 * rounds):
                lease = storage.get_suggestion(eid, held.id).lease_until
                assert lease is not None
                seen.append(lease)

        # Interleaved: each one's next lease is later than the other's last.
        evens = [far + 2 * step for step in range(rounds)]
        odds = [far + 2 * step + 1 for step in range(rounds)]
        threads = [
            threading.Thread(target=extend, args=(evens,)),
            threading.Thread(target=extend, args=(odds,)),
            threading.Thread(target=watch),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert seen == sorted(seen)
        assert storage.get_suggestion(eid, held.id).lease_until == odds[-1]

    def test_suggestion_leases(self, storage: Storage) -> None:
        eid = self.experiment(storage, suggestion_ttl_seconds=60.0).id
        assert storage.get_experiment(eid).spec.suggestion_ttl_seconds == 60.0
        started = time.time()
        held = self.suggest(storage, eid, point(0))
        assert held.lease_until is not None
        assert started + 59 <= held.lease_until <= time.time() + 61
        extended = storage.extend_suggestion_lease(eid, held.id, time.time() + 600)
        assert extended.lease_until is not None
        assert extended.lease_until >= started + 599
        assert storage.expire_suggestions(eid, time.time()) == 0
        # Past its lease the suggestion expires: deleted, and its point is free again.
        assert storage.expire_suggestions(eid, time.time() + 601) == 1
        expired = storage.get_suggestion(eid, held.id)
        assert expired.deleted
        assert expired.lease_until == extended.lease_until
        again = self.suggest(storage, eid, point(0))
        assert again.id != held.id
        # An expired suggestion is not revived, and its late report is still data.
        assert storage.extend_suggestion_lease(eid, held.id, time.time() + 1e6) == expired
        late = self.observe(storage, eid, held.id, value=4.0)
        assert late.suggestion_id == held.id
        # A suggestion deleted by a user is refused, as in SigOpt.
        storage.delete_suggestions(eid, again.id)
        with pytest.raises(InvalidRequestError):
            self.observe(storage, eid, again.id)
        # Without a TTL there is no lease.
        plain = self.experiment(storage).id
        assert self.suggest(storage, plain, point(0)).lease_until is None

    def test_a_decision_sees_every_open_point_however_many(self, storage: Storage) -> None:
        """Past the open points a store may read with the experiment (70 here), a decision
        still counts the open suggestions and finds which of its points are open. Closed,
        deleted and lapsed suggestions are not open."""
        eid = self.experiment(storage).id
        made = [self.suggest(storage, eid, point(i)) for i in range(72)]
        self.observe(storage, eid, made[0].id)
        storage.delete_suggestions(eid, made[1].id)
        asked = {point_hash(s.assignments) for s in made} | {point_hash(point(500))}
        still_open = frozenset(point_hash(s.assignments) for s in made[2:])

        def read(context: SuggestionContext) -> tuple[int, frozenset[str], frozenset[str]]:
            found = frozenset(context.open_among(asked))
            return context.open_count, found, context.load_open_hashes()

        assert peek(storage, eid, read) == (70, still_open, still_open)

        lapsing = self.experiment(storage, suggestion_ttl_seconds=1.0).id
        made = [self.suggest(storage, lapsing, point(i)) for i in range(70)]
        # Leases are stored in whole seconds: wait until the last has surely passed.
        time.sleep(max(s.lease_until or 0.0 for s in made) + 1.1 - time.time())
        assert peek(storage, lapsing, read) == (0, frozenset(), frozenset())

    UNIQUE_CASES: ClassVar[list[tuple[SuggestionSource, SuggestionSource, bool]]] = [
        # (source of the open suggestion, source of the equal new one, conflict?)
        (SuggestionSource.ENGINE, SuggestionSource.ENGINE, True),
        (SuggestionSource.FALLBACK, SuggestionSource.ENGINE, True),
        (SuggestionSource.ENGINE, SuggestionSource.FALLBACK, True),
        (SuggestionSource.MANUAL, SuggestionSource.MANUAL, False),
        (SuggestionSource.ENGINE, SuggestionSource.MANUAL, False),
        (SuggestionSource.QUEUED, SuggestionSource.QUEUED, False),
    ]

    def test_unique_open_point(self, storage: Storage) -> None:
        for first, second, conflict in self.UNIQUE_CASES:
            case = f"{first} then {second}"
            eid = self.experiment(storage).id
            self.suggest(storage, eid, {"x": 0.5, "n": 3, "c": "a"}, first)
            cursor = peek_context(storage, eid).cursor
            # The same point, written differently: int 3 as 3.0, keys in another order.
            duplicate: Assignments = {"c": "a", "n": 3.0, "x": 0.5}
            decide = fixed(duplicate, second, cursor_step=5)
            if conflict:
                with pytest.raises(ConflictError):
                    storage.create_suggestion(eid, decide)
                assert storage.list_suggestions(eid, PageRequest()).count == 1, case
                assert peek_context(storage, eid).cursor == cursor, case
            else:
                assert storage.create_suggestion(eid, decide).source is second, case
                open_count = storage.list_suggestions(eid, PageRequest(), open_only=True).count
                assert open_count == 2, case
                assert peek_context(storage, eid).cursor == cursor + 5, case
            # Another experiment may hold the same point.
            self.suggest(storage, self.experiment(storage).id, duplicate, second)

    def test_point_is_free_again_once_not_open(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        observed = self.suggest(storage, eid, point(1))
        deleted = self.suggest(storage, eid, point(2))
        for taken in (point(1), point(2)):
            with pytest.raises(ConflictError):
                self.suggest(storage, eid, taken)
        self.observe(storage, eid, observed.id)
        storage.delete_suggestions(eid, deleted.id)
        for index, first in ((1, observed), (2, deleted)):
            again = self.suggest(storage, eid, point(index))
            assert again.id != first.id
            assert again.is_open
            with pytest.raises(ConflictError):
                self.suggest(storage, eid, point(index))

    def test_concurrent_create_suggestion_threads(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        workers = 8
        barrier = threading.Barrier(workers)
        outcomes: list[tuple[str, str]] = []
        lock = threading.Lock()

        def work() -> None:
            barrier.wait(timeout=60)
            outcome = suggest_once(storage, eid, delay=0.02)
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=work) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        check_race_outcomes(outcomes, workers)
        open_points = [
            point_hash(s.assignments)
            for s in storage.list_suggestions(eid, PageRequest(), open_only=True).items
        ]
        assert sorted(open_points) == sorted(point_hash(p) for p in POOL)
        assert peek_context(storage, eid).cursor == len(POOL)  # no lost cursor update
