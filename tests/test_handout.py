"""The hand-out queue: suggestion creates of one experiment committed in groups, waiters
served in arrival order, failures that fail a whole batch cleanly, demand written once.

Real SQLite and real threads or a real event loop; no optimizer process (candidates are
stored by hand where a test needs them).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from collections.abc import Coroutine
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from typing import TypeVar

import httpx
import pytest
from starlette.concurrency import run_in_threadpool

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import ObservationInput
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.errors import ServiceUnavailableError
from honed.server import handout as handout_route
from honed.server.app import create_app
from honed.service import choice
from honed.service import suggestions as suggestions_module
from honed.service.app import Services
from honed.service.handout import HandOutQueue
from honed.service.suggestions import Attempt
from honed.service.suggestions import ServingPolicy
from honed.service.suggestions import SuggestionRequest
from honed.storage.base import Storage
from honed.storage.optimizer import CandidateSet
from honed.storage.sql.storage import SqlStorage
from tests.conftest import TEST_TOKEN

Result = TypeVar("Result")

SPACE = SearchSpace(
    tuple(Parameter(name, ParameterType.DOUBLE, (0.0, 1.0)) for name in ("x0", "x1", "x2"))
)


@pytest.fixture
def services(storage: SqlStorage) -> Services:
    """Services without torch: no optimizer runs unless a test says one does."""
    return Services(storage, ServingPolicy(max_wait_seconds=0.0))


def experiment_id(services: Services, token: Token, **changes: Any) -> int:
    spec = ExperimentSpec("burst", SPACE, (Metric("f", Objective.MINIMIZE),), **changes)
    return services.experiments.create(token, spec).id


class Transactions:
    """Counts the store's suggestion create transactions and their sizes; ``hold`` makes
    the first wait until ``ready()`` (so that the others queue meanwhile)."""

    def __init__(self, storage: Storage, ready: Callable[[], bool] | None = None) -> None:
        self.sizes: list[int] = []
        self._create = storage.create_suggestions
        self._ready = ready

    def __call__(self, experiment_id: int, decisions: Sequence[Any]) -> list[Any]:
        if not self.sizes and self._ready is not None:
            deadline = time.monotonic() + 30
            while not self._ready() and time.monotonic() < deadline:
                time.sleep(0.001)
        self.sizes.append(len(decisions))
        return self._create(experiment_id, decisions)


@pytest.fixture
def counted(storage: SqlStorage, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Transactions]:
    def count(ready: Callable[[], bool] | None = None) -> Transactions:
        transactions = Transactions(storage, ready)
        monkeypatch.setattr(storage, "create_suggestions", transactions)
        return transactions

    return count


def run_loop(main: Coroutine[Any, Any, Result]) -> Result:
    """``asyncio.run`` in a thread of its own: an earlier test of this process (Playwright's
    sync API) may have left an event loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main).result()


def post_at_once(
    app: Any, path: str, count: int, first_alone: bool = False
) -> list[httpx.Response]:
    """``count`` POSTs to ``path`` sent together through the app; ``first_alone``: after
    one sent alone (the token is cached from then on)."""

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://honed", auth=(TEST_TOKEN, "")
        ) as client:
            if first_alone:
                await client.post(path)
            asked = asyncio.gather(*(client.post(path) for _ in range(count)))
            return await asyncio.wait_for(asked, timeout=60)

    return run_loop(burst())


def distinct(suggestions: Sequence[Suggestion]) -> bool:
    return len({point_hash(s.assignments) for s in suggestions}) == len(suggestions)


def test_a_burst_of_threads_is_served_in_two_transactions(
    services: Services, token: Token, counted: Callable[..., Transactions]
) -> None:
    """The embedded client's threads: the first request's transaction runs in its own
    thread; the 31 that arrive meanwhile share the next one."""
    eid = experiment_id(services, token)
    workers = 32
    transactions = counted(lambda: services.suggestions.handout.waiting(eid) == workers - 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        served = list(pool.map(lambda _: services.suggestions.create(token, eid), range(workers)))
    assert transactions.sizes == [1, workers - 1]
    assert distinct(served)
    assert {s.source for s in served} == {SuggestionSource.ENGINE}
    listed = services.storage.open_suggestions(eid)
    assert sorted(s.id for s in listed) == sorted(s.id for s in served)
    # One cursor step per point: the batch's decisions took the design one after another.
    assert {s.id: s.assignments for s in listed} == {s.id: s.assignments for s in served}


def test_a_burst_through_the_app_is_served_in_few_transactions(
    services: Services, token: Token, counted: Callable[..., Transactions]
) -> None:
    """The server's event loop (SQLite: transactions run on the loop): requests read while
    one runs join the next."""
    check_app_burst(services, token, counted)


@pytest.mark.postgres
def test_a_burst_through_the_app_on_postgresql_is_served_in_few_transactions(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a step runs in a worker thread, and so does the transaction that falls
    to it; the rest of the queue goes on in another."""
    storage = SqlStorage.from_url(postgres_url)
    try:
        services = Services(storage, ServingPolicy(max_wait_seconds=0.0))
        services.tokens.bootstrap(TEST_TOKEN)
        token = services.tokens.authenticate(TEST_TOKEN)

        def count(ready: Callable[[], bool] | None = None) -> Transactions:
            transactions = Transactions(storage, ready)
            monkeypatch.setattr(storage, "create_suggestions", transactions)
            return transactions

        check_app_burst(services, token, count)
    finally:
        storage.close()


@pytest.mark.postgres
def test_a_burst_on_postgresql_takes_worker_threads_only_for_its_transactions(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a request that only queues and reads its answer steps on the event
    loop; only the transactions (the request that opens the queue) take a worker thread.
    Each request used to take two, which cost a burst more CPU than its transactions."""
    storage = SqlStorage.from_url(postgres_url)
    try:
        services = Services(storage, ServingPolicy(max_wait_seconds=0.0))
        services.tokens.bootstrap(TEST_TOKEN)
        token = services.tokens.authenticate(TEST_TOKEN)
        eid = experiment_id(services, token)
        in_threads: list[str] = []

        async def counting(function: Callable[..., Result], *args: Any) -> Result:
            in_threads.append(getattr(function, "__name__", "?"))
            return await run_in_threadpool(function, *args)

        monkeypatch.setattr(handout_route, "run_in_threadpool", counting)
        transactions = Transactions(storage)
        monkeypatch.setattr(storage, "create_suggestions", transactions)
        workers = 40
        responses = post_at_once(
            create_app(services=services), f"/v1/experiments/{eid}/suggestions", workers
        )
        assert [r.status_code for r in responses] == [200] * workers
        assert len({point_hash(r.json()["assignments"]) for r in responses}) == workers
        assert sum(transactions.sizes) == workers
        # A thread per queue opened (its first transaction); the rest were handed on.
        assert 1 <= len(in_threads) <= len(transactions.sizes), in_threads
    finally:
        storage.close()


@pytest.mark.postgres
def test_a_failed_transaction_in_a_worker_thread_leaves_no_request_behind_it(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the first request's transaction runs in a worker thread and fails (the
    database went away) while the others queue behind it. It answers 503, and the queued
    requests are still served (they hung when its error dropped the rest of the queue on
    the floor)."""
    storage = SqlStorage.from_url(postgres_url)
    try:
        services = Services(storage, ServingPolicy(max_wait_seconds=0.0))
        services.tokens.bootstrap(TEST_TOKEN)
        token = services.tokens.authenticate(TEST_TOKEN)
        eid = experiment_id(services, token)
        workers = 20
        queue = services.suggestions.handout
        create = storage.create_suggestions
        sizes: list[int] = []
        began = threading.Event()

        def first_fails(experiment_id: int, decisions: Sequence[Any]) -> list[Any]:
            sizes.append(len(decisions))
            if len(sizes) == 1:
                began.set()
                deadline = time.monotonic() + 30
                while queue.waiting(eid) < workers - 1 and time.monotonic() < deadline:
                    time.sleep(0.001)
                raise ServiceUnavailableError("The database is unavailable, try again shortly")
            return create(experiment_id, decisions)

        monkeypatch.setattr(storage, "create_suggestions", first_fails)
        app = create_app(services=services)
        path = f"/v1/experiments/{eid}/suggestions"

        async def first_then_the_rest() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://honed", auth=(TEST_TOKEN, "")
            ) as client:
                first = asyncio.create_task(client.post(path))
                assert await asyncio.to_thread(began.wait, 30)
                rest = [client.post(path) for _ in range(workers - 1)]
                asked = asyncio.gather(first, *rest)
                return await asyncio.wait_for(asked, timeout=60)

        responses = run_loop(first_then_the_rest())
        codes = [r.status_code for r in responses]
        assert codes == [503] + [200] * (workers - 1), sizes
        assert sizes[0] == 1
        assert len(storage.open_suggestions(eid)) == workers - 1
    finally:
        storage.close()


def check_app_burst(
    services: Services, token: Token, counted: Callable[..., Transactions]
) -> None:
    eid = experiment_id(services, token)
    workers = 40
    app = create_app(services=services)

    transactions = counted()
    path = f"/v1/experiments/{eid}/suggestions"
    responses = post_at_once(app, path, workers, first_alone=True)
    assert [r.status_code for r in responses] == [200] * workers
    assert sum(transactions.sizes) == workers + 1
    assert len(transactions.sizes) <= 5, transactions.sizes
    points = [r.json()["assignments"] for r in responses]
    assert len({point_hash(p) for p in points}) == workers


def test_the_queue_serves_a_batch_in_arrival_order_within_its_bound() -> None:
    batches: list[list[str]] = []

    def serve(experiment_id: int, requests: list[str]) -> list[str | HonedError]:
        batches.append(requests)
        return [f"{r}!" if r != "bad" else InvalidRequestError("bad") for r in requests]

    queue: HandOutQueue[str, str] = HandOutQueue(serve, bound=3)
    arrivals = {"c": 3.0, "a": 1.0, "bad": 2.5, "b": 2.0, "e": 5.0, "d": 4.0}
    queued = {name: queue.submit(7, name, arrived) for name, arrived in arrivals.items()}
    opener = queued["c"]
    assert opener.drain is not None
    assert all(q.drain is None for name, q in queued.items() if name != "c")
    assert queue.waiting(7) == 6
    assert opener.drain() is True  # more to serve
    assert opener.drain() is False
    assert batches == [["a", "b", "bad"], ["c", "d", "e"]]
    assert queued["a"].answer.result() == "a!"
    assert isinstance(queued["bad"].answer.exception(), InvalidRequestError)
    # Drained: the next request opens the queue anew.
    assert queue.submit(7, "f", 6.0).drain is not None


def test_a_request_that_went_away_gets_no_suggestion() -> None:
    batches: list[list[str]] = []

    def serve(experiment_id: int, requests: list[str]) -> Sequence[str | HonedError]:
        batches.append(requests)
        return requests

    queue: HandOutQueue[str, str] = HandOutQueue(serve)
    first = queue.submit(1, "first", 1.0)
    gone = queue.submit(1, "gone", 2.0)
    assert gone.answer.cancel()
    assert first.drain is not None
    assert first.drain() is False
    assert batches == [["first"]]


def test_a_failed_transaction_fails_every_request_of_its_batch(
    services: Services, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    eid = experiment_id(services, token)
    calls: list[int] = []
    real = services.storage.create_suggestions

    def unavailable(experiment_id: int, decisions: Sequence[Any]) -> list[Any]:
        calls.append(len(decisions))
        raise ServiceUnavailableError("The database is unavailable, try again shortly")

    monkeypatch.setattr(services.storage, "create_suggestions", unavailable)
    queue = services.suggestions.handout
    attempts = [attempt(token, choice.Serving.SEQUENCE) for _ in range(5)]
    queued = [queue.submit(eid, a, float(i)) for i, a in enumerate(attempts)]
    assert queued[0].drain is not None
    queued[0].wait_here()
    assert calls == [5]
    assert all(isinstance(q.answer.exception(), ServiceUnavailableError) for q in queued)
    assert services.storage.open_suggestions(eid) == []
    # The database back: the same requests asked again are served, in one transaction.
    monkeypatch.setattr(services.storage, "create_suggestions", real)
    queued = [queue.submit(eid, a, float(i)) for i, a in enumerate(attempts)]
    assert queued[0].drain is not None
    queued[0].wait_here()
    again = [q.answer.result() for q in queued]
    assert distinct([s for s in again if isinstance(s, Suggestion)])
    assert len(services.storage.open_suggestions(eid)) == len(attempts)


def attempt(token: Token, serving: choice.Serving) -> Attempt:
    return Attempt(token, None, None, serving, False, None, lambda _experiment, _serving: None)


def test_waiters_are_served_in_order_and_stop_at_the_first_that_finds_nothing(
    services: Services,
    token: Token,
    counted: Callable[..., Transactions],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the design, with two fresh candidates: of five waiters, the two that came
    first take them, the third finds nothing and the last two are told so without a
    decision of their own."""
    storage = services.storage
    eid = experiment_id(services, token)
    for _ in range(6):  # the initial design, observed
        suggestion = services.suggestions.create(token, eid)
        value = (MetricValue("f", sum(float(v) for v in suggestion.assignments.values())),)
        services.observations.create(token, eid, ObservationInput(suggestion.id, values=value))
    inputs = storage.fit_inputs(eid)
    points = [{"x0": 0.1, "x1": 0.2, "x2": 0.3}, {"x0": 0.4, "x1": 0.5, "x2": 0.6}]
    storage.store_candidates(eid, CandidateSet(points, 2, inputs, 0.5))
    decided: list[int] = []
    decide = choice.decide

    def counting(*args: Any, **kwargs: Any) -> Any:
        decided.append(1)
        return decide(*args, **kwargs)

    monkeypatch.setattr(choice, "decide", counting)
    transactions = counted()
    queue = services.suggestions.handout
    arrived = [5.0, 1.0, 4.0, 2.0, 3.0]
    queued = [queue.submit(eid, attempt(token, choice.Serving.FRESH), t) for t in arrived]
    assert queued[0].drain is not None
    queued[0].wait_here()
    answers = [q.answer.result() for q in queued]
    assert transactions.sizes == [5]
    assert len(decided) == 3
    served = {t: a for t, a in zip(arrived, answers, strict=True) if isinstance(a, Suggestion)}
    assert sorted(served) == [1.0, 2.0]
    assert [served[1.0].assignments, served[2.0].assignments] == points
    assert all(isinstance(answers[i], choice.CandidatesNeeded) for i in (0, 2, 4))


def test_waiting_requests_write_their_demand_together(
    services: Services, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    eid = experiment_id(services, token)
    writes: list[tuple[bool, int]] = []
    request = services.storage.request_candidates

    def counting(experiment_id: int, withdraw: bool = False, count: int = 1) -> None:
        writes.append((withdraw, count))
        request(experiment_id, withdraw, count)

    monkeypatch.setattr(services.storage, "request_candidates", counting)
    # A long interval between writes, so that a slow machine does not reach the next one.
    monkeypatch.setattr(suggestions_module, "POLL_SECONDS", 60.0)
    suggestions = services.suggestions
    suggestions.signal_demand(eid)  # the first is written at once
    barrier = threading.Barrier(8)

    def signal(_: int) -> None:
        barrier.wait(timeout=10)
        suggestions.signal_demand(eid)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(signal, range(8)))
    suggestions.signal_demand(eid, withdraw=True)
    assert writes == [(False, 1)]
    monkeypatch.setattr(suggestions_module, "POLL_SECONDS", 0.0)
    suggestions.flush_demand(eid)  # a waiting request's next poll, once the interval passed
    assert writes == [(False, 1), (False, 7)]  # the withdrawal cancelled a count
    suggestions.signal_demand(eid, withdraw=True)  # none pending: written at once
    assert writes == [(False, 1), (False, 7), (True, 1)]
    waiting = [w.waiting for w in services.storage.optimizer_work() if w.experiment.id == eid]
    assert waiting == [7]


def test_a_burst_after_the_token_cache_lapsed_looks_the_token_up_once(
    services: Services, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    eid = experiment_id(services, token)
    # A process that has not looked the token up yet (or whose cache lapsed).
    app = create_app(services=Services(services.storage, ServingPolicy(max_wait_seconds=0.0)))
    lookups: list[str] = []
    find = services.storage.find_token

    def counting(token_hash: str) -> Any:
        lookups.append(token_hash)
        time.sleep(0.05)  # a slow read: the whole burst arrives during it
        return find(token_hash)

    monkeypatch.setattr(services.storage, "find_token", counting)

    responses = post_at_once(app, f"/v1/experiments/{eid}/suggestions", 20)
    assert [r.status_code for r in responses] == [200] * 20
    assert len(lookups) == 1


def burst_of_threads(count: int, call: Callable[[], Result]) -> list[Result]:
    """``call`` in ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def released(_: int) -> Result:
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(released, range(count)))


def test_a_burst_that_finds_the_optimizer_check_due_reads_it_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The threads that find the liveness read due while one of them reads take the last
    answer: a burst's first asks on PostgreSQL made as many reads at once as there were
    worker threads, each holding a pool connection."""
    storage = services.storage
    storage.heartbeat("an optimizer")
    reads: list[float] = []
    live = storage.live_optimizers

    def counting(within_seconds: float) -> int:
        reads.append(within_seconds)
        if len(reads) > 1:
            time.sleep(0.5)  # a slow read: the whole burst arrives during it
        return live(within_seconds)

    monkeypatch.setattr(storage, "live_optimizers", counting)
    monkeypatch.setattr(suggestions_module, "OPTIMIZER_CHECK_SECONDS", 0.2)
    suggestions = services.suggestions
    assert suggestions.optimizer_alive()
    time.sleep(0.25)  # due again
    assert burst_of_threads(16, suggestions.optimizer_alive) == [True] * 16
    assert len(reads) == 2


def test_a_burst_that_finds_the_fit_marker_due_reads_it_once(
    services: Services, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = services.storage
    eid = experiment_id(services, token)
    reads: list[int] = []
    marker = storage.fit_marker

    def counting(experiment_id: int) -> Any:
        reads.append(experiment_id)
        if len(reads) > 1:
            time.sleep(0.5)
        return marker(experiment_id)

    monkeypatch.setattr(storage, "fit_marker", counting)
    monkeypatch.setattr(suggestions_module, "POLL_SECONDS", 0.2)
    suggestions = services.suggestions
    first = suggestions.fit_marker(eid)
    time.sleep(0.25)
    assert burst_of_threads(16, lambda: suggestions.fit_marker(eid)) == [first] * 16
    assert reads == [eid, eid]


def test_requests_waiting_for_a_fit_share_one_watch_and_one_answer(
    services: Services, token: Token, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty requests past the design wait for a fit: they do not step while they wait
    (one watch reads the fit marker for all), and the fit that lands serves them all, in
    few transactions."""
    storage = services.storage
    waiting = Services(storage, ServingPolicy(max_wait_seconds=30.0))
    eid = experiment_id(services, token)
    for _ in range(6):  # the initial design, observed
        suggestion = services.suggestions.create(token, eid)
        value = (MetricValue("f", sum(float(v) for v in suggestion.assignments.values())),)
        services.observations.create(token, eid, ObservationInput(suggestion.id, values=value))
    storage.heartbeat("an optimizer")  # alive: requests wait for its fit
    steps: list[int] = []
    step = SuggestionRequest.step

    def counting(self: SuggestionRequest) -> Any:
        steps.append(1)
        return step(self)

    monkeypatch.setattr(SuggestionRequest, "step", counting)
    app = create_app(services=waiting)
    workers = 20
    points = [{"x0": i / 40, "x1": 0.5, "x2": 0.5} for i in range(workers)]

    async def burst() -> tuple[int, list[httpx.Response]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://honed", auth=(TEST_TOKEN, "")
        ) as client:
            path = f"/v1/experiments/{eid}/suggestions"
            asked = [asyncio.create_task(client.post(path)) for _ in range(workers)]
            await asyncio.sleep(1.0)  # all wait
            stepped = len(steps)
            storage.store_candidates(
                eid, CandidateSet(points, workers, storage.fit_inputs(eid), 0.1)
            )
            return stepped, await asyncio.gather(*asked)

    transactions = Transactions(storage)
    monkeypatch.setattr(storage, "create_suggestions", transactions)
    stepped, responses = run_loop(burst())
    assert [r.status_code for r in responses] == [200] * workers
    assert {r.json()["source"] for r in responses} == {"optimizer"}
    assert len({point_hash(r.json()["assignments"]) for r in responses}) == workers
    # Each request stepped to ask, to find nothing and to wait: none polled meanwhile.
    assert stepped <= 3 * workers
    assert len(transactions.sizes) <= 6, transactions.sizes
