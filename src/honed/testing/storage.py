"""The storage conformance suite: every ``Storage`` implementation must pass it.

Subclass ``StorageConformance`` in a test module and provide a ``storage`` fixture that
yields a fresh, empty, ready store per test (see ``honed.testing``). The tests only use the
public contract of ``honed.storage.base``, so they apply to any backend.

``suggest_from_processes`` runs the suggestion race across the OS processes of a
``ProcessRace``, for backends that several processes can open (pass a picklable factory,
e.g. a ``functools.partial``); ``check_race_outcomes`` judges the result.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from functools import partial
from typing import Any
from typing import ClassVar
from typing import TypeVar

import pytest

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.metrics import Strategy
from honed.domain.parameters import Assignments
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.records import SuggestionState
from honed.domain.tenancy import TokenType
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import UnprocessableError
from honed.storage.base import Candidate
from honed.storage.base import CandidateBasis
from honed.storage.base import CandidateSet
from honed.storage.base import ExperimentPatch
from honed.storage.base import ExperimentQuery
from honed.storage.base import IdempotencyKey
from honed.storage.base import NewObservation
from honed.storage.base import NewSuggestion
from honed.storage.base import ObservationOrder
from honed.storage.base import ObservationPatch
from honed.storage.base import Page
from honed.storage.base import PageRequest
from honed.storage.base import Storage
from honed.storage.base import SuggestionContext
from honed.storage.base import SuggestionDecision
from honed.testing.storage_analyses import ModelAnalysesConformance
from honed.testing.storage_runs import ProjectsAndRunsConformance

T = TypeVar("T")

# --- building blocks ----------------------------------------------------------------------

SPACE = SearchSpace(
    parameters=(
        Parameter("x", ParameterType.DOUBLE, bounds=(0.0, 1.0)),
        Parameter("n", ParameterType.INT, bounds=(1, 5)),
        Parameter("c", ParameterType.CATEGORICAL, categorical_values=("a", "b")),
    )
)

#: The tiny pool the race tests propose from: fewer points than competing workers.
POOL: tuple[dict[str, float | int | str], ...] = (
    {"x": 0.25, "n": 1, "c": "a"},
    {"x": 0.5, "n": 2, "c": "b"},
    {"x": 0.75, "n": 3, "c": "a"},
)


def make_spec(name: str = "conformance", **changes: Any) -> ExperimentSpec:
    spec = ExperimentSpec(
        name=name,
        space=SPACE,
        metrics=(Metric("f", Objective.MAXIMIZE),),
        observation_budget=10,
        metadata={"owner": "conformance", "rank": 1},
    )
    return dataclasses.replace(spec, **changes)


def point(index: int) -> dict[str, float | int | str]:
    """A distinct valid point of ``SPACE`` for each index (0 <= index < 1000)."""
    return {"x": index / 1000, "n": 1 + index % 5, "c": "ab"[index % 2]}


def fixed(
    assignments: Assignments,
    source: SuggestionSource = SuggestionSource.ENGINE,
    metadata: dict[str, str | float | int] | None = None,
    cursor_step: int = 1,
) -> Callable[[SuggestionContext], SuggestionDecision]:
    """A ``decide`` that always proposes ``assignments`` and advances the cursor."""

    def decide(context: SuggestionContext) -> SuggestionDecision:
        return SuggestionDecision(
            NewSuggestion(assignments, source, metadata), context.cursor + cursor_step
        )

    return decide


class _Peeked(Exception):
    """Raised by a ``decide`` that only looks at the context."""


def peek_context(storage: Storage, experiment_id: int) -> SuggestionContext:
    """The context ``create_suggestion`` would hand to ``decide`` now; stores nothing.

    Its transaction is over: read ``cursor``, ``open_hashes`` and ``next_queued``, but
    call none of its loaders.
    """
    seen: list[SuggestionContext] = []

    def decide(context: SuggestionContext) -> SuggestionDecision:
        seen.append(context)
        raise _Peeked

    with pytest.raises(_Peeked):
        storage.create_suggestion(experiment_id, decide)
    return seen[0]


def peek(storage: Storage, experiment_id: int, read: Callable[[SuggestionContext], T]) -> T:
    """What ``read`` finds in the context a decision would get now; stores nothing."""
    seen: list[T] = []

    def decide(context: SuggestionContext) -> SuggestionDecision:
        seen.append(read(context))
        raise _Peeked

    with pytest.raises(_Peeked):
        storage.create_suggestion(experiment_id, decide)
    return seen[0]


def peek_candidates(storage: Storage, experiment_id: int) -> list[Candidate]:
    """The unused candidates a decision would see now; stores nothing."""
    return peek(storage, experiment_id, lambda context: context.load_candidates())


class PoolExhaustedError(Exception):
    """Every point of ``POOL`` is an open suggestion."""


def decide_from_pool(context: SuggestionContext, delay: float = 0.0) -> SuggestionDecision:
    """The first pool point that is not an open suggestion; sleeps to widen any race."""
    taken = context.open_hashes
    for candidate in POOL:
        if point_hash(candidate) not in taken:
            time.sleep(delay)
            return SuggestionDecision(
                NewSuggestion(candidate, SuggestionSource.ENGINE), context.cursor + 1
            )
    raise PoolExhaustedError


def suggest_once(storage: Storage, experiment_id: int, delay: float) -> tuple[str, str]:
    """``("ok", point hash)``, ``("exhausted", "")`` or ``("error", repr)``."""
    try:
        suggestion = storage.create_suggestion(
            experiment_id, partial(decide_from_pool, delay=delay)
        )
    except PoolExhaustedError:
        return ("exhausted", "")
    except Exception as error:  # reported to the test, which fails on it
        return ("error", repr(error))
    return ("ok", point_hash(suggestion.assignments))


def check_race_outcomes(outcomes: Sequence[tuple[str, str]], workers: int) -> None:
    """Serialized creation: every pool point handed out once, the rest told it is empty.

    An ``error`` (e.g. ConflictError from the unique index) means two workers decided on
    the same state: the store caught the duplicate, but did not serialize the decisions.
    """
    errors = [detail for kind, detail in outcomes if kind == "error"]
    assert errors == [], errors
    handed_out = [detail for kind, detail in outcomes if kind == "ok"]
    assert sorted(handed_out) == sorted(point_hash(p) for p in POOL)
    assert [kind for kind, _ in outcomes].count("exhausted") == workers - len(POOL)


_BARRIER: Any = None


def _remember_barrier(barrier: Any) -> None:
    global _BARRIER
    _BARRIER = barrier


def wait_for_the_others(timeout: float = 120.0) -> None:
    """In a ``ProcessRace`` task: block until the task reached this line in every process."""
    if _BARRIER is None:
        raise RuntimeError("wait_for_the_others() runs only inside a ProcessRace task")
    _BARRIER.wait(timeout)


class ProcessRace:
    """``processes`` OS processes (multiprocessing spawn) that run one task together.

    ``run(task, *args)`` runs ``task(*args)`` once in every process; a task calls
    ``wait_for_the_others()`` where the race should start. A process blocked at the
    barrier takes no other task, so each process runs the task exactly once. The
    processes live until ``close()``, so several races pay for one start-up.
    """

    def __init__(self, processes: int = 4) -> None:
        context = multiprocessing.get_context("spawn")
        self.processes = processes
        self._pool = context.Pool(
            processes, initializer=_remember_barrier, initargs=(context.Barrier(processes),)
        )

    def run(self, task: Callable[..., T], *args: Any, timeout: float = 120.0) -> list[T]:
        """The results of every process, in no particular order. ``task`` must be picklable."""
        pending = self._pool.starmap_async(task, [args] * self.processes, chunksize=1)
        return pending.get(timeout)

    def close(self) -> None:
        self._pool.terminate()  # the workers are idle between races
        self._pool.join()

    def __enter__(self) -> ProcessRace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _suggest_in_race(
    open_storage: Callable[[], Storage], experiment_id: int, delay: float
) -> tuple[str, str]:
    try:
        storage = open_storage()
    except Exception as error:
        wait_for_the_others()
        return ("error", repr(error))
    try:
        wait_for_the_others()
        return suggest_once(storage, experiment_id, delay)
    finally:
        storage.close()


def suggest_from_processes(
    race: ProcessRace,
    open_storage: Callable[[], Storage],
    experiment_id: int,
    delay: float = 0.05,
) -> list[tuple[str, str]]:
    """Every process of ``race`` creates one suggestion from ``POOL`` at the same moment.

    ``open_storage`` must be picklable (e.g. a ``functools.partial``); each process opens
    its own store with it. Check the outcomes with ``check_race_outcomes``.
    """
    return race.run(_suggest_in_race, open_storage, experiment_id, delay)


def open_and_close(open_storage: Callable[[], Storage]) -> str:
    """A ``ProcessRace`` task: open a store (migrating it, for SQL) all at once."""
    wait_for_the_others()
    open_storage().close()
    return "ok"


def _walk_older(list_page: Callable[[PageRequest], Page[Any]], limit: int) -> list[int]:
    """Every id, following ``before`` markers from the newest page."""
    ids: list[int] = []
    request = PageRequest(limit=limit)
    for _ in range(100):
        page = list_page(request)
        assert len(page.items) <= limit
        ids.extend(item.id for item in page.items)
        if page.before is None:
            return ids
        request = PageRequest(limit=limit, before=page.before)
    raise AssertionError("paging with before did not terminate")


def _walk_newer(list_page: Callable[[PageRequest], Page[Any]], limit: int) -> list[int]:
    """Every id, following ``after`` markers from the oldest page (pages newest first)."""
    ids: list[int] = []
    request = PageRequest(limit=limit, after=0)
    for _ in range(100):
        page = list_page(request)
        page_ids = [item.id for item in page.items]
        assert page_ids == sorted(page_ids, reverse=True)
        ids.extend(reversed(page_ids))
        if page.after is None:
            return ids
        request = PageRequest(limit=limit, after=page.after)
    raise AssertionError("paging with after did not terminate")


def check_paging(list_page: Callable[[PageRequest], Page[Any]], ids: Sequence[int]) -> None:
    """``list_page`` over exactly ``ids`` behaves as the Page/PageRequest contract says."""
    newest_first = sorted(ids, reverse=True)
    whole = list_page(PageRequest(limit=1000))
    assert [item.id for item in whole.items] == newest_first
    assert whole.count == len(ids)
    assert whole.before is None
    counted = list_page(PageRequest(limit=0))
    assert (counted.items, counted.count) == ([], len(ids))
    first = list_page(PageRequest(limit=2))
    assert [item.id for item in first.items] == newest_first[:2]
    assert first.count == len(ids)
    for limit in (1, 2, 3):
        assert _walk_older(list_page, limit) == newest_first
        assert _walk_newer(list_page, limit) == sorted(ids)
    middle = list_page(PageRequest(limit=1000, before=newest_first[0], after=newest_first[-1]))
    assert [item.id for item in middle.items] == newest_first[1:-1]


def _sort_key(value: Any, item_id: int) -> tuple[bool, Any, int]:
    """SigOpt's order of (value, id): a missing value above every other."""
    return (value is None, value if value is not None else 0, item_id)


def _list_observations_by(
    storage: Storage, experiment_id: int, order: ObservationOrder, page: PageRequest
) -> Page[Observation]:
    return storage.list_observations(experiment_id, page, order=order)


def check_sorted_paging(
    list_page: Callable[[PageRequest], Page[Any]], values: dict[int, Any]
) -> None:
    """``list_page`` lists the ids of ``values`` ordered by (value, id), paging both ways
    with markers that carry the value, as the PageRequest contract says."""
    descending = sorted(values, key=lambda i: _sort_key(values[i], i), reverse=True)
    whole = list_page(PageRequest(limit=1000))
    assert [item.id for item in whole.items] == descending
    assert (whole.count, whole.before, whole.after) == (len(values), None, None)
    rising = list_page(PageRequest(limit=1000, ascending=True))
    assert [item.id for item in rising.items] == descending[::-1]
    for limit in (1, 2, 3):
        # Down from the top with ``before``, as the sigopt client's iterate_pages() does.
        down: list[int] = []
        request = PageRequest(limit=limit)
        for _ in range(100):
            page = list_page(request)
            down.extend(item.id for item in page.items)
            if page.before is None:
                break
            assert page.before == page.items[-1].id
            request = PageRequest(limit=limit, before=page.before, before_value=page.before_value)
        assert down == descending, limit
        # Up from the bottom with ``after``, ascending.
        up: list[int] = []
        request = PageRequest(limit=limit, ascending=True)
        for _ in range(100):
            page = list_page(request)
            up.extend(item.id for item in page.items)
            if page.after is None:
                break
            request = PageRequest(
                limit=limit, ascending=True, after=page.after, after_value=page.after_value
            )
        assert up == descending[::-1], limit
    # Back down from the middle, ascending: the items just below the marker, smallest first.
    middle = descending[len(descending) // 2]
    back = list_page(
        PageRequest(limit=2, ascending=True, before=middle, before_value=values[middle])
    )
    below = descending[descending.index(middle) + 1 :]
    assert [item.id for item in back.items] == below[:2][::-1]


# --- the suite -----------------------------------------------------------------------------

# How ``test_update_observation`` changes an observation, and what it expects to change.
# Every case runs on its own observation; fields a patch leaves out must keep their values.
OBSERVATION_PATCHES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "values": (
        {"values": (MetricValue("f", 9.0, None),)},
        {"values": ({"name": "f", "value": 9.0, "value_stddev": None},)},
    ),
    "failed": ({"values": (), "failed": True}, {"values": (), "failed": True}),
    "metadata": ({"metadata": {"k": 1}, "set_metadata": True}, {"metadata": {"k": 1}}),
    "clear-metadata": ({"metadata": None, "set_metadata": True}, {"metadata": None}),
    "metadata-unset": ({"metadata": {"k": 1}}, {}),
    "assignments": ({"assignments": point(7)}, {"suggestion_id": None, "assignments": point(7)}),
    "nothing": ({}, {}),
}


class StorageConformance(ProjectsAndRunsConformance, ModelAnalysesConformance):
    """The ``Storage`` contract, test by test. Needs a ``storage`` fixture."""

    spec = staticmethod(make_spec)

    # --- helpers ------------------------------------------------------------------------
    @staticmethod
    def experiment(storage: Storage, **changes: Any) -> Experiment:
        client = storage.create_client("conformance")
        return storage.create_experiment(client.id, make_spec(**changes))

    @staticmethod
    def suggest(
        storage: Storage,
        experiment_id: int,
        assignments: Assignments,
        source: SuggestionSource = SuggestionSource.ENGINE,
    ) -> Suggestion:
        return storage.create_suggestion(experiment_id, fixed(assignments, source))

    @staticmethod
    def observe(
        storage: Storage,
        experiment_id: int,
        suggestion_id: int | None = None,
        assignments: Assignments | None = None,
        value: float = 1.0,
        failed: bool = False,
    ) -> Observation:
        values = () if failed else (MetricValue("f", value, 0.1),)
        new = NewObservation(suggestion_id, assignments, values, failed, {"host": "h"})
        return storage.create_observations(experiment_id, [new])[0]

    # --- clients and tokens ---------------------------------------------------------------
    def test_clients_and_tokens(self, storage: Storage) -> None:
        storage.ping()
        assert storage.first_client() is None
        alice, bob = storage.create_client("alice"), storage.create_client("bob")
        assert alice.id != bob.id
        assert (alice.name, bob.name) == ("alice", "bob")
        assert isinstance(alice.created, int)
        assert storage.get_client(bob.id) == bob
        assert storage.first_client() == alice
        missing_client = alice.id + bob.id + 1000
        with pytest.raises(NotFoundError):
            storage.get_client(missing_client)

        write = storage.create_token(alice.id, "hash-1", TokenType.CLIENT_API, "write", "ci")
        read = storage.create_token(alice.id, "hash-2", TokenType.CLIENT_DEV, "read")
        other = storage.create_token(bob.id, "hash-3", TokenType.CLIENT_API, "write")
        assert (write.client_id, write.token_type, write.permissions, write.description) == (
            alice.id,
            TokenType.CLIENT_API,
            "write",
            "ci",
        )
        assert (write.revoked, write.can_write, write.development) == (False, True, False)
        assert (read.development, read.can_write, read.description) == (True, False, None)
        assert storage.find_token("hash-2") == read
        assert storage.find_token("hash-unknown") is None
        assert storage.list_tokens(alice.id) == [write, read]
        assert storage.list_tokens(bob.id) == [other]

        revoked = storage.revoke_token(write.id)
        assert (revoked.id, revoked.revoked, revoked.can_write) == (write.id, True, False)
        found = storage.find_token("hash-1")
        assert found is not None
        assert found.revoked
        assert storage.list_tokens(alice.id) == [revoked, read]
        assert storage.find_token("hash-3") == other
        assert write.revoked is False  # the earlier snapshot is unchanged
        with pytest.raises(NotFoundError):
            storage.revoke_token(write.id + read.id + other.id + 1000)
        with pytest.raises(NotFoundError):
            storage.create_token(missing_client, "hash-4", TokenType.CLIENT_API, "write")
        assert storage.find_token("hash-4") is None

    def test_token_bound_to_an_experiment(self, storage: Storage) -> None:
        alice, bob = storage.create_client("alice"), storage.create_client("bob")
        mine = storage.create_experiment(alice.id, make_spec("mine"))
        theirs = storage.create_experiment(bob.id, make_spec("theirs"))
        bound = storage.create_token(
            alice.id, "hash-bound", TokenType.CLIENT_API, "read", "share", mine.id
        )
        free = storage.create_token(alice.id, "hash-free", TokenType.CLIENT_API, "read")
        assert (bound.experiment_id, bound.all_experiments, bound.can_write) == (
            mine.id,
            False,
            False,
        )
        assert (free.experiment_id, free.all_experiments) == (None, True)
        assert storage.find_token("hash-bound") == bound
        assert storage.find_token("hash-free") == free
        assert storage.list_tokens(alice.id) == [bound, free]
        # Even stored as "write", a bound token cannot write.
        written = storage.create_token(
            alice.id, "hash-w", TokenType.CLIENT_API, "write", None, mine.id
        )
        assert written.can_write is False
        # Another client's experiment, or none: nothing is stored.
        for experiment_id, secret in ((theirs.id, "hash-x"), (theirs.id + 1000, "hash-y")):
            with pytest.raises(NotFoundError):
                storage.create_token(
                    alice.id, secret, TokenType.CLIENT_API, "read", None, experiment_id
                )
            assert storage.find_token(secret) is None
        # The list filter a bound token uses shows its experiment only.
        other = storage.create_experiment(alice.id, make_spec("other"))
        listed = storage.list_experiments(alice.id, PageRequest(), experiment_id=mine.id)
        assert ([e.id for e in listed.items], listed.count) == ([mine.id], 1)
        assert storage.list_experiments(alice.id, PageRequest()).count == 2
        assert storage.list_experiments(bob.id, PageRequest(), experiment_id=mine.id).items == []
        assert other.id not in [e.id for e in listed.items]

    # --- experiments ----------------------------------------------------------------------
    def test_create_and_get_experiment(self, storage: Storage) -> None:
        client = storage.create_client("c")
        spec = make_spec(
            space=SearchSpace(
                parameters=(
                    *SPACE.parameters,
                    Parameter("g", ParameterType.DOUBLE, grid=(0.1, 0.2, 0.4)),
                    Parameter("l", ParameterType.DOUBLE, bounds=(1e-3, 1.0), transformation="log"),
                ),
                linear_constraints=(LinearConstraint("less_than", (("x", 1.0), ("g", 2)), 1.5),),
            ),
            metrics=(Metric("f"), Metric("cost", Objective.MINIMIZE, Strategy.STORE)),
            parallel_bandwidth=3,
        )
        created = storage.create_experiment(client.id, spec)
        assert created.client_id == client.id
        assert created.spec == spec
        assert created.state is ExperimentState.ACTIVE
        assert not created.is_deleted
        assert isinstance(created.created, int)
        assert isinstance(created.updated, int)
        assert created.created <= created.updated
        assert storage.get_experiment(created.id) == created
        with pytest.raises(NotFoundError):
            storage.get_experiment(created.id + 1000)
        with pytest.raises(NotFoundError):
            storage.create_experiment(client.id + 1000, spec)

    def test_list_experiments(self, storage: Storage) -> None:
        mine, theirs = storage.create_client("mine"), storage.create_client("theirs")
        ids = []
        for index in range(5):
            ids.append(storage.create_experiment(mine.id, make_spec(f"e{index}")).id)
            storage.create_experiment(theirs.id, make_spec(f"other{index}"))
        check_paging(lambda page: storage.list_experiments(mine.id, page), ids)

        deleted, kept = ids[1], [i for i in ids if i != ids[1]]
        development = storage.create_experiment(mine.id, make_spec("dev", development=True)).id
        storage.update_experiment(deleted, ExperimentPatch(state=ExperimentState.DELETED))

        def listed(states: Sequence[ExperimentState], dev: bool | None = None) -> list[int]:
            page = storage.list_experiments(mine.id, PageRequest(), states, dev)
            assert page.count == len(page.items)
            return [e.id for e in page.items]

        default = storage.list_experiments(mine.id, PageRequest())
        assert [e.id for e in default.items] == [development, *reversed(kept)]
        assert listed([ExperimentState.DELETED]) == [deleted]
        assert listed(list(ExperimentState)) == [development, *reversed(ids)]
        assert listed([ExperimentState.ACTIVE], dev=True) == [development]
        assert listed(list(ExperimentState), dev=False) == list(reversed(ids))

    def test_update_experiment(self, storage: Storage) -> None:
        experiment = self.experiment(storage)
        eid = experiment.id

        def update(**patch: Any) -> ExperimentSpec:
            updated = storage.update_experiment(eid, ExperimentPatch(**patch))
            assert storage.get_experiment(eid) == updated
            assert updated.state is ExperimentState.ACTIVE
            return updated.spec

        assert update(name="renamed").name == "renamed"
        spec = update(observation_budget=42, set_observation_budget=True)
        assert (spec.name, spec.observation_budget) == ("renamed", 42)
        spec = update(observation_budget=None, set_observation_budget=True)
        assert spec.observation_budget is None
        assert update(parallel_bandwidth=4, set_parallel_bandwidth=True).parallel_bandwidth == 4
        metadata = {"k": "v", "n": 2.5}
        assert update(metadata=metadata, set_metadata=True).metadata == metadata
        # A patch that does not set a field keeps it.
        spec = update(metadata=None, observation_budget=3, parallel_bandwidth=None)
        assert (spec.metadata, spec.observation_budget, spec.parallel_bandwidth) == (
            metadata,
            None,
            4,
        )
        assert update(metadata=None, set_metadata=True).metadata is None
        replacement = make_spec("from spec", observation_budget=7)
        assert update(spec=replacement) == replacement

        deleted = storage.update_experiment(eid, ExperimentPatch(state=ExperimentState.DELETED))
        assert deleted.is_deleted
        assert deleted.spec == replacement
        assert storage.get_experiment(eid).is_deleted
        restored = storage.update_experiment(eid, ExperimentPatch(state=ExperimentState.ACTIVE))
        assert restored.state is ExperimentState.ACTIVE
        assert experiment.spec.name == "conformance"  # the first snapshot never changed
        with pytest.raises(NotFoundError):
            storage.update_experiment(eid + 1000, ExperimentPatch(name="x"))

    # --- suggestions ----------------------------------------------------------------------
    def test_create_suggestion_hands_decide_the_context(self, storage: Storage) -> None:
        experiment = self.experiment(storage)
        eid = experiment.id
        contexts: list[SuggestionContext] = []
        loaded: list[list[Observation]] = []
        opened: list[list[Suggestion]] = []

        def decide(context: SuggestionContext) -> SuggestionDecision:
            contexts.append(context)
            loaded.append(context.load_observations())  # only valid inside decide
            opened.append(context.load_open_suggestions())
            index = len(contexts)
            return SuggestionDecision(
                NewSuggestion(point(index), SuggestionSource.ENGINE, {"i": index}),
                context.cursor + 10 * index,
            )

        first = storage.create_suggestion(eid, decide)
        assert contexts[0].experiment == experiment
        assert (contexts[0].open_hashes, opened[0], contexts[0].next_queued) == (
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
        assert contexts[1].open_hashes == {point_hash(first.assignments)}
        assert opened[1] == [first]
        third = storage.create_suggestion(eid, decide)
        assert contexts[2].cursor == 30
        assert [s.id for s in opened[2]] == [first.id, second.id]
        assert contexts[2].open_hashes == {point_hash(point(1)), point_hash(point(2))}

        # Closed and deleted suggestions are not open; observations are loaded on demand.
        observation = self.observe(storage, eid, first.id)
        storage.delete_suggestions(eid, second.id)
        fourth = storage.create_suggestion(eid, decide)
        assert [s.id for s in opened[3]] == [third.id]
        assert contexts[3].open_hashes == {point_hash(third.assignments)}
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
        assert listed(deleted=True) == ([ids[2], ids[1]], 2)
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

    def test_records_of_another_experiment_are_not_found(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        other = self.experiment(storage).id
        foreign = self.suggest(storage, other, point(0))
        foreign_observation = self.observe(storage, other, foreign.id)
        own = self.suggest(storage, eid, point(1))
        missing_experiment = eid + other + 1000
        calls: list[Callable[[], object]] = [
            lambda: storage.get_suggestion(eid, foreign.id),
            lambda: storage.update_suggestion_metadata(eid, foreign.id, {"a": "b"}),
            lambda: storage.delete_suggestions(eid, foreign.id),
            lambda: storage.get_observation(eid, foreign_observation.id),
            lambda: storage.update_observation(eid, foreign_observation.id, ObservationPatch()),
            lambda: storage.delete_observations(eid, foreign_observation.id),
            lambda: storage.get_observation(eid, foreign_observation.id + 1000),
            lambda: storage.get_suggestion(missing_experiment, own.id),
            lambda: storage.create_observations(missing_experiment, []),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                call()
        untouched = storage.get_suggestion(other, foreign.id)
        assert (untouched.metadata, untouched.deleted) == (None, False)
        assert storage.get_observation(other, foreign_observation.id) == foreign_observation
        assert storage.list_suggestions(eid, PageRequest()).count == 1

    # --- one open point per optimizer-chosen suggestion ------------------------------------
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

    # --- observations ---------------------------------------------------------------------
    def test_create_observations(self, storage: Storage) -> None:
        experiment = self.experiment(storage)
        eid = experiment.id
        suggestion = self.suggest(storage, eid, {"x": 0.5, "n": 3, "c": "b"})
        observation = self.observe(storage, eid, suggestion.id, value=2.5)
        assert observation.experiment_id == eid
        assert observation.suggestion_id == suggestion.id
        assert observation.assignments == {"x": 0.5, "n": 3, "c": "b"}
        assert observation.values == (MetricValue("f", 2.5, 0.1),)
        assert (observation.failed, observation.metadata, observation.deleted) == (
            False,
            {"host": "h"},
            False,
        )
        assert isinstance(observation.created, int)
        assert storage.get_observation(eid, observation.id) == observation
        closed = storage.get_suggestion(eid, suggestion.id)
        assert closed.state is SuggestionState.CLOSED
        assert not closed.is_open
        assert suggestion.is_open  # the earlier snapshot is unchanged
        # More observations of a closed suggestion are allowed; it stays closed.
        failed = self.observe(storage, eid, suggestion.id, failed=True)
        assert (failed.failed, failed.values, failed.suggestion_id) == (True, (), suggestion.id)
        assert storage.get_suggestion(eid, suggestion.id).state is SuggestionState.CLOSED
        raw = self.observe(storage, eid, assignments=point(3), value=-1e300)
        assert (raw.suggestion_id, raw.assignments, raw.values[0].value) == (
            None,
            point(3),
            -1e300,
        )
        assert storage.get_experiment(eid).updated >= experiment.updated

    def test_repeated_observation_is_stored_once(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        suggestion = self.suggest(storage, eid, point(0))
        first = self.observe(storage, eid, suggestion.id, value=2.5)
        # The same report again (a retry): the stored observation, nothing new.
        assert self.observe(storage, eid, suggestion.id, value=2.5) == first
        assert storage.count_observations(eid) == 1
        # Other values for the same suggestion are a second observation, as in SigOpt.
        second = self.observe(storage, eid, suggestion.id, value=3.0)
        assert second.id != first.id
        assert storage.count_observations(eid) == 2

    def test_idempotency_keys(self, storage: Storage) -> None:
        experiment = self.experiment(storage)
        eid, client = experiment.id, experiment.client_id
        suggestion = self.suggest(storage, eid, point(0))
        other = self.suggest(storage, eid, point(1))
        key = IdempotencyKey(client, "key-1", "hash-1")

        def observe(suggestion_id: int, value: float, idem: IdempotencyKey) -> list[Observation]:
            new = NewObservation(suggestion_id, None, (MetricValue("f", value),), False, None)
            return storage.observe(eid, lambda _e: [new], idem)[1]

        first = observe(suggestion.id, 1.0, key)
        assert observe(suggestion.id, 1.0, key) == first
        # The key alone decides: even a request that would store something new replays.
        assert observe(other.id, 5.0, key) == first
        assert storage.count_observations(eid) == 1
        with pytest.raises(UnprocessableError):
            observe(suggestion.id, 1.0, IdempotencyKey(client, "key-1", "another request"))
        # Keys are per client.
        foreign = IdempotencyKey(storage.create_client("other").id, "key-1", "hash-1")
        assert observe(other.id, 5.0, foreign)[0].id != first[0].id
        assert storage.purge_idempotency_keys(time.time() + 1) == 2
        assert observe(suggestion.id, 1.0, key) == first  # a repeat of the same report

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

    def test_observation_batch_is_all_or_nothing(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        good = self.suggest(storage, eid, point(0))
        deleted = self.suggest(storage, eid, point(1)).id
        storage.delete_suggestions(eid, deleted)
        bad_ids = {
            "missing": good.id + 1000,
            "other-experiment": self.suggest(storage, self.experiment(storage).id, point(1)).id,
            "deleted": deleted,
        }
        values = (MetricValue("f", 1.0),)
        for kind, bad_id in bad_ids.items():
            batch = [
                NewObservation(good.id, None, values, False, None),
                NewObservation(None, point(2), values, False, None),
                NewObservation(bad_id, None, values, False, None),
            ]
            with pytest.raises(InvalidRequestError):
                storage.create_observations(eid, batch)
            assert storage.count_observations(eid) == 0, kind
            assert storage.list_observations(eid, PageRequest()).count == 0, kind
            assert storage.get_suggestion(eid, good.id).is_open, kind
        created = storage.create_observations(eid, batch[:2])
        assert [o.suggestion_id for o in created] == [good.id, None]
        assert created[0].id < created[1].id
        assert storage.all_observations(eid) == created
        assert not storage.get_suggestion(eid, good.id).is_open

    def test_list_count_delete_observations(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        self.observe(storage, self.experiment(storage).id, assignments=point(0))
        made = [self.observe(storage, eid, assignments=point(i), value=i) for i in range(6)]
        ids = [o.id for o in made]
        check_paging(lambda page: storage.list_observations(eid, page), ids)
        assert storage.all_observations(eid) == made
        assert storage.count_observations(eid) == 6

        assert storage.delete_observations(eid, ids[2]) == 1
        assert storage.delete_observations(eid, ids[2]) == 0
        assert storage.count_observations(eid) == 5
        assert [o.id for o in storage.all_observations(eid)] == ids[:2] + ids[3:]
        live = storage.list_observations(eid, PageRequest())
        assert ([o.id for o in live.items], live.count) == ([*reversed(ids[3:]), *ids[1::-1]], 5)
        gone = storage.list_observations(eid, PageRequest(), deleted=True)
        assert [o.id for o in gone.items] == [ids[2]]
        assert gone.items[0].deleted
        assert storage.get_observation(eid, ids[2]).deleted

        assert storage.delete_observations(eid) == 5
        assert storage.count_observations(eid) == 0
        assert storage.all_observations(eid) == []
        assert storage.list_observations(eid, PageRequest(), deleted=True).count == 6

    def test_experiment_search_recent_and_period(self, storage: Storage) -> None:
        client = storage.create_client("query")
        names = ["Alpha one", "beta TWO", "alpha%", "gamma_alphA"]
        ids = [storage.create_experiment(client.id, make_spec(n)).id for n in names]

        def listed(query: ExperimentQuery, page: PageRequest | None = None) -> list[int]:
            page = page or PageRequest()
            found = storage.list_experiments(client.id, page, query=query)
            assert found.count == len(found.items) or page.limit < found.count
            return [e.id for e in found.items]

        assert listed(ExperimentQuery(search="ALPHA")) == [ids[3], ids[2], ids[0]]
        # LIKE wildcards in the search are plain characters.
        assert listed(ExperimentQuery(search="a%")) == [ids[2]]
        assert listed(ExperimentQuery(search="_")) == [ids[3]]
        assert listed(ExperimentQuery(search="two")) == [ids[1]]
        # Touch the oldest: it is the most recently updated.
        self.observe(storage, ids[0], assignments=point(0))
        recent = [ids[0], ids[3], ids[2], ids[1]]
        assert listed(ExperimentQuery(recent=True)) == recent
        rising = listed(ExperimentQuery(recent=True), PageRequest(ascending=True))
        assert rising == recent[::-1]
        walked: list[int] = []
        page = storage.list_experiments(
            client.id, PageRequest(limit=1), query=ExperimentQuery(recent=True)
        )
        while True:
            walked.extend(e.id for e in page.items)
            if page.before is None:
                break
            request = PageRequest(limit=1, before=page.before, before_value=page.before_value)
            page = storage.list_experiments(client.id, request, query=ExperimentQuery(recent=True))
        assert walked == recent
        first = storage.get_experiment(ids[0]).created
        assert listed(ExperimentQuery(created_from=first + 3600)) == []
        assert listed(ExperimentQuery(created_before=first)) == []
        window = ExperimentQuery(created_from=first, created_before=first + 3600, search="beta")
        assert listed(window) == [ids[1]]

    def test_sorted_observations(self, storage: Storage) -> None:
        spec = make_spec(
            metrics=(Metric("f", Objective.MAXIMIZE), Metric("g", Objective.MINIMIZE))
        )
        eid = storage.create_experiment(storage.create_client("sorted").id, spec).id
        # Ties everywhere (ids break them) and a failed observation (no values: sorts on top).
        rows = [(0.5, 0.1, 3), (0.2, None, 1), (0.5, 0.3, 0), (None, None, 7), (-1.0, 0.1, 2)]
        made: dict[int, tuple[Any, ...]] = {}
        for index, (f, stddev, n) in enumerate(rows):
            values = (
                ()
                if f is None
                else (MetricValue("f", f, stddev), MetricValue("g", float(index), None))
            )
            assignments: dict[str, float | int | str]
            assignments = {"x": n / 10, "n": 1 + n % 5, "c": "ba"[index % 2]}
            if index == 4:
                assignments = {"x": 0.35, "n": 2, "c": "a"}
            new = NewObservation(None, assignments, values, f is None, None)
            made[storage.create_observations(eid, [new])[0].id] = (f, stddev, index, assignments)

        def listed(order: ObservationOrder) -> Callable[[PageRequest], Page[Any]]:
            return lambda page: storage.list_observations(eid, page, order=order)

        orders: list[tuple[ObservationOrder, Callable[[tuple[Any, ...]], Any]]] = [
            (ObservationOrder(field="value", metric_index=0), lambda m: m[0]),
            (ObservationOrder(field="value_stddev", metric_index=0), lambda m: m[1]),
            (
                ObservationOrder(field="value", metric_index=1),
                lambda m: None if m[0] is None else float(m[2]),
            ),
            (ObservationOrder(field="parameter", parameter="x"), lambda m: m[3]["x"]),
            (ObservationOrder(field="parameter", parameter="n"), lambda m: float(m[3]["n"])),
            (ObservationOrder(field="parameter", parameter="c", text=True), lambda m: m[3]["c"]),
        ]
        for order, value in orders:
            check_sorted_paging(listed(order), {i: value(m) for i, m in made.items()})
        # Any parameter name can be sorted by, whatever JSON paths make of it.
        odd = ('say "hi"', "dotted.name", "ünï [0]", "it's")
        odd_space = SearchSpace(
            parameters=tuple(Parameter(n, ParameterType.DOUBLE, bounds=(0.0, 1.0)) for n in odd)
        )
        odd_id = storage.create_experiment(
            storage.create_client("odd").id, make_spec(space=odd_space)
        ).id
        odd_values: dict[int, Any] = {}
        for x in (0.3, 0.9, 0.1):
            new = NewObservation(
                None, dict.fromkeys(odd, x), (MetricValue("f", 1.0),), False, None
            )
            odd_values[storage.create_observations(odd_id, [new])[0].id] = x
        for name in odd:
            check_sorted_paging(
                partial(
                    _list_observations_by,
                    storage,
                    odd_id,
                    ObservationOrder(field="parameter", parameter=name),
                ),
                odd_values,
            )

        # Created one after another: by time is by id.
        stamps = storage.list_observations(eid, PageRequest(), order=ObservationOrder("created"))
        assert [o.id for o in stamps.items] == sorted(made, reverse=True)

    def test_update_observation(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        for case, (patch, changes) in OBSERVATION_PATCHES.items():
            suggestion = self.suggest(storage, eid, point(1))
            before = self.observe(storage, eid, suggestion.id, value=1.0)
            after = storage.update_observation(eid, before.id, ObservationPatch(**patch))
            expected = {**dataclasses.asdict(before), **changes}
            assert dataclasses.asdict(after) == expected, case
            assert storage.get_observation(eid, before.id) == after, case
        # Naming a suggestion closes it and takes its assignments.
        other = self.suggest(storage, eid, point(2))
        after = storage.update_observation(
            eid, before.id, ObservationPatch(suggestion_id=other.id)
        )
        assert (after.suggestion_id, after.assignments) == (other.id, point(2))
        assert storage.get_suggestion(eid, other.id).state is SuggestionState.CLOSED

    # --- snapshots --------------------------------------------------------------------------
    def test_snapshots_are_frozen(self, storage: Storage) -> None:
        client = storage.create_client("c")
        token = storage.create_token(client.id, "hash", TokenType.CLIENT_API, "write")
        experiment = storage.create_experiment(client.id, make_spec())
        suggestion = self.suggest(storage, experiment.id, point(0))
        queued = storage.create_queued_suggestion(experiment.id, point(1))
        observation = self.observe(storage, experiment.id, suggestion.id)
        page = storage.list_observations(experiment.id, PageRequest())
        snapshots: list[tuple[object, str]] = [
            (client, "name"),
            (token, "revoked"),
            (experiment, "state"),
            (experiment.spec, "name"),
            (suggestion, "state"),
            (queued, "assignments"),
            (observation, "failed"),
            (observation.values[0], "value"),
            (page, "count"),
        ]
        for snapshot, attribute in snapshots:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(snapshot, attribute, None)
