"""Shared helpers of the end-to-end tests, importable by spawned worker processes.

``import sigopt`` needs a project name (it derives one from the working directory
otherwise, and fails for some), so this module sets ``SIGOPT_PROJECT`` before importing it;
test modules import sigopt's names from here rather than from sigopt itself.

Worker processes are started with the "spawn" context, so everything they run lives at
module level here and every argument and result is picklable.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import socket
import time
import traceback
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from multiprocessing.synchronize import Barrier
from typing import TYPE_CHECKING
from typing import Any

import requests

if TYPE_CHECKING:
    from tests.support.server import RunningServer

os.environ.setdefault("SIGOPT_PROJECT", "honed-tests")

import sigopt
import sigopt.ratelimit
from sigopt.exception import ApiException
from sigopt.exception import ConnectionException

__all__ = ["ApiException", "ConnectionException"]

TOKEN = "e2e-token"
HOSTNAME = socket.gethostname()
# How long a worker waits for its peers before giving up (a worker process that never
# started would otherwise hang the run).
BARRIER_TIMEOUT = 120.0


# --- the official client -------------------------------------------------------------------


def connect(url: str, token: str = TOKEN, session: requests.Session | None = None) -> Any:
    """A ``sigopt.Connection`` to a honed server, exactly as user code makes one."""
    return sigopt.Connection(client_token=token, api_url=url, session=session)


def close(conn: Any) -> None:
    conn.impl.driver.session.close()


@contextmanager
def connection(
    url: str, token: str = TOKEN, session: requests.Session | None = None
) -> Iterator[Any]:
    conn = connect(url, token, session)
    try:
        yield conn
    finally:
        close(conn)


def reset_throttle() -> None:
    """Forget earlier failures: the client sleeps after five consecutive non-2xx answers."""
    sigopt.ratelimit.failed_status_rate_limit.clear()


class NanSendingSession(requests.Session):
    """Serialises JSON bodies as requests < 2.27 did (the client allows requests >= 2.25):
    NaN and Infinity go out as bare ``NaN``/``Infinity`` instead of failing locally."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        body = kwargs.pop("json", None)
        if body is not None:
            kwargs["data"] = json.dumps(body).encode()
        return super().request(*args, **kwargs)


def point_key(assignments: Mapping[str, Any]) -> str:
    """A canonical text for a point, to compare assignments."""
    return json.dumps(dict(assignments), sort_keys=True)


def everything(pagination: Any) -> list[Any]:
    """All items of a list response, following ``before`` markers with the client."""
    return list(pagination.iterate_pages())


def evaluate(assignments: Mapping[str, Any]) -> float:
    """An instant objective: a bump in log(gamma) plus simple terms for other parameters."""
    total = 0.0
    for name, value in sorted(assignments.items()):
        if isinstance(value, str):
            total += len(value) / 10
        elif name == "gamma":
            total += 1 - (math.log10(float(value)) + 2) ** 2 / 10
        else:
            total += float(value) / 12
    return total


def evaluate_at_task(assignments: Mapping[str, Any], cost: float) -> float:
    """``evaluate`` at a cheaper task: the same landscape, tilted and shrunk (a multitask
    model learns how the tasks relate); the full task (cost 1) is ``evaluate`` itself."""
    return cost * evaluate(assignments) + (1 - cost) * 0.5


# --- servers ---------------------------------------------------------------------------------


def start_servers(
    stack: ExitStack,
    database_urls: Sequence[str],
    token: str = TOKEN,
    optimizers: Sequence[int] | None = None,
) -> list[RunningServer]:
    """Start one ``honed serve`` per URL at the same time; ``stack`` stops them later.

    Several URLs may name the same database: those servers then also race to migrate and
    bootstrap it, as servers started together on several machines would.
    """
    from tests.support.server import running_server  # not needed by worker processes

    counts = optimizers or [0] * len(database_urls)
    managers = [
        # A short wait keeps the instant-objective workers from queueing on fits.
        running_server(url, token=token, optimizers=count, candidate_wait=0.2)
        for url, count in zip(database_urls, counts, strict=True)
    ]
    with ThreadPoolExecutor(len(managers)) as pool:
        futures = [pool.submit(manager.__enter__) for manager in managers]
        started: list[RunningServer] = []
        failure: BaseException | None = None
        for manager, future in zip(managers, futures, strict=True):
            try:
                started.append(future.result())
            except BaseException as error:
                failure = failure or error
            else:
                stack.push(manager.__exit__)
    # Runs before the servers' own exits (last in, first out): all stop at once.
    stack.callback(_terminate, started)
    if failure is not None:
        raise failure
    return started


def _terminate(servers: Sequence[RunningServer]) -> None:
    for server in servers:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGTERM)


# --- parallel workers (run in spawned processes) ---------------------------------------------


@dataclass(frozen=True)
class Job:
    url: str
    token: str
    experiment_id: str
    worker: int
    iterations: int
    list_open: bool = False


@dataclass(frozen=True)
class Step:
    """One suggest-evaluate-observe turn of a worker, with monotonic clock readings.

    ``time.monotonic`` is system-wide on Linux, so readings of different processes on one
    machine compare.  The suggestion was created within ``[asked, got]`` and was certainly
    open during ``[got, observing]``.
    """

    worker: int
    suggestion_id: str
    assignments: dict[str, Any]
    observation_id: str
    value: float
    asked: float
    got: float
    observing: float
    observed: float
    # (suggestion id, point key) of every open suggestion, listed right after ``got``.
    open_after: tuple[tuple[str, str], ...] | None
    # Multitask: the suggestion's task, at which the worker evaluated (None otherwise).
    task: str | None = None
    cost: float = 1.0


_barrier: Barrier | None = None


def init_worker(barrier: Barrier) -> None:
    """Pool initializer: keep the barrier that makes every job start at the same moment."""
    global _barrier
    _barrier = barrier


def run_job(job: Job) -> list[Step]:
    """The classic worker loop: suggestion, instant evaluation, observation.

    Every job first waits at the barrier, so a pool of N processes given N jobs runs
    them all at once, one per process.
    """
    try:
        return _run_job(job)
    except BaseException as error:
        # sigopt's ApiException pickles but does not unpickle (its __init__ takes two
        # arguments), which would leave the parent's pool waiting forever: send text.
        raise WorkerError(f"worker {job.worker}: {traceback.format_exc()}") from error


class WorkerError(RuntimeError):
    """A worker job failed; the message holds the worker's traceback."""


def run_workers(
    url: str, experiment_id: str, workers: int, iterations: int, timeout: float
) -> list[Step]:
    """``workers`` spawned processes run the classic loop at once, ``iterations`` turns
    each, all within ``timeout`` seconds."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    with context.Pool(workers, initializer=init_worker, initargs=(barrier,)) as pool:
        jobs = [Job(url, TOKEN, experiment_id, worker, iterations) for worker in range(workers)]
        pending = [pool.apply_async(run_job, (job,)) for job in jobs]
        deadline = time.monotonic() + timeout
        steps: list[Step] = []
        for result in pending:
            steps += result.get(max(deadline - time.monotonic(), 0.1))
    return steps


def _run_job(job: Job) -> list[Step]:
    if _barrier is not None:
        _barrier.wait(BARRIER_TIMEOUT)
    conn = connect(job.url, job.token)
    try:
        experiment = conn.experiments(job.experiment_id)
        steps = []
        for _ in range(job.iterations):
            asked = time.monotonic()
            suggestion = experiment.suggestions().create()
            got = time.monotonic()
            open_after = None
            if job.list_open:
                open_after = tuple(
                    (s.id, point_key(s.assignments))
                    for s in experiment.suggestions().fetch(state="open").iterate_pages()
                )
            assignments = suggestion.assignments.to_json()
            # A multitask experiment's suggestion names the task to evaluate at.
            task = suggestion.task
            cost = float(task.cost) if task is not None else 1.0
            value = evaluate(assignments) if task is None else evaluate_at_task(assignments, cost)
            observing = time.monotonic()
            observation = experiment.observations().create(
                suggestion=suggestion.id,
                values=[{"value": value}],
                metadata=dict(hostname=socket.gethostname(), worker=job.worker),
            )
            steps.append(
                Step(
                    worker=job.worker,
                    suggestion_id=suggestion.id,
                    assignments=assignments,
                    observation_id=observation.id,
                    value=value,
                    asked=asked,
                    got=got,
                    observing=observing,
                    observed=time.monotonic(),
                    open_after=open_after,
                    task=task.name if task is not None else None,
                    cost=cost,
                )
            )
        return steps
    finally:
        close(conn)


# --- a worker that dies, and one that finishes its work --------------------------------------


def hold_suggestion(url: str, token: str, experiment_id: str, pipe: Pipe) -> None:
    """Take a suggestion, report its id through ``pipe``, then sleep until killed."""
    with connection(url, token) as conn:
        suggestion = (
            conn.experiments(experiment_id).suggestions().create(metadata=dict(pid=os.getpid()))
        )
        pipe.send(suggestion.id)
        pipe.close()
        time.sleep(3600)


def finish_suggestion(
    url: str, token: str, experiment_id: str, suggestion_id: str, pipe: Pipe
) -> None:
    """Report an observation for someone else's suggestion; send its id through ``pipe``."""
    with connection(url, token) as conn:
        experiment = conn.experiments(experiment_id)
        suggestion = experiment.suggestions(suggestion_id).fetch()
        observation = experiment.observations().create(
            suggestion=suggestion.id,
            values=[{"value": evaluate(suggestion.assignments.to_json())}],
            metadata=dict(hostname=socket.gethostname(), finisher=os.getpid()),
        )
        pipe.send(observation.id)
        pipe.close()


def ids(items: Iterable[Any]) -> list[str]:
    return [item.id for item in items]
