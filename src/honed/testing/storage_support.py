"""Building blocks of the storage conformance suite: specs and points, decisions that
peek into the suggestion context, process races, paging checks, and ``RoleSuite``, the
base of every role's tests."""

from __future__ import annotations

import dataclasses
import multiprocessing
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from functools import partial
from typing import Any
from typing import TypeVar

import pytest

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.parameters import Assignments
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.storage.base import Storage
from honed.storage.observations import NewObservation
from honed.storage.observations import ObservationOrder
from honed.storage.optimizer import Candidate
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision

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

    Its transaction is over: read ``cursor``, ``open_count`` and ``next_queued``, but
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
    taken = context.open_among({point_hash(candidate) for candidate in POOL})
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


def list_observations_by(
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


def run_together(work: Callable[[int], object], workers: int) -> list[BaseException]:
    """``work(i)`` in ``workers`` threads released at once; what they raised."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def start(index: int) -> None:
        barrier.wait(timeout=60)
        try:
            work(index)
        except BaseException as error:  # reported to the caller
            errors.append(error)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


class RoleSuite:
    """Helpers of every role's tests. A subclass needs a ``storage`` fixture that yields a
    fresh, empty, ready store per test; its tests also create clients and experiments to
    set up."""

    spec = staticmethod(make_spec)

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

    @staticmethod
    def ai_experiment(storage: Storage, client_id: int, project: str) -> Experiment:
        spec: ExperimentSpec = make_spec(runs_only=True, project=project)
        return storage.create_experiment(client_id, spec)
