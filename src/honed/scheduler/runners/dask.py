"""DaskRunner: each trial a task on a ``dask.distributed`` cluster (extra ``honed[dask]``)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from dask.distributed import Client
from dask.distributed import Future
from dask.distributed import get_client
from dask.distributed import wait as dask_wait
from dask.typing import Key
from distributed.client import ClosedClientError

from honed.scheduler.progress import Value
from honed.scheduler.progress import reporting
from honed.scheduler.runner import Runner
from honed.scheduler.runners.results import error_reason
from honed.scheduler.runners.results import to_values
from honed.scheduler.runners.trial_function import TrialFunction
from honed.scheduler.trial import Poll
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import TrialSpec

logger = logging.getLogger(__name__)

ASSIGN_SECONDS = 1.0
ANSWER_SECONDS = 1.0
PUBLISH_SECONDS = 0.5
CANCEL_SECONDS = 5.0
KILL_SECONDS = 1.0  # of which 80 % for the worker to leave the scheduler cleanly
# Scheduler states of a task that a cancel has not reached yet.
ACTIVE_STATES = frozenset({"waiting", "queued", "no-worker", "processing"})


class DaskRunner(Runner):
    """Submits ``fn(assignments)`` to a Dask cluster per trial: pass ``client``, or the
    ``address`` of a scheduler (``tcp://host:8786``). ``fn(assignments, task=...)`` if
    ``fn`` declares a parameter ``task`` (the trial's task in a multitask experiment, else
    None; see ``honed.scheduler.runners.trial_function``). ``max_concurrent`` bounds the
    trials in flight (default: the cluster's worker threads). ``stop`` restarts the worker
    running the trial (``restart_worker_on_stop``; its nanny, Dask's default, starts a new
    process within a second), as Dask cannot interrupt a running task; Dask then computes
    again the results that worker held and no one has fetched yet (trials of a scheduler
    that is down), so those trials run twice.

    ``fn`` may call ``honed.scheduler.report(step, value)`` (from the thread Dask runs it
    in, or any thread if its worker runs one task at a time); the trial's curve is
    published on the Dask scheduler as ``honed-progress-<key>`` (within
    ``PUBLISH_SECONDS`` of a report), where any client polls it. The workers need honed
    installed.

    Each trial is a task with a key made from the trial's key (``honed-trial-<key>``),
    published on the Dask scheduler under that name, so it lives on without the client that
    submitted it: a runner with a new client of the same Dask scheduler, such as a
    scheduler resumed after a crash, finds it, polls and fetches it, and ``run`` adopts it
    instead of submitting it twice. A trial is unpublished once it has failed or been
    fetched, on the runner's next call (by then the scheduler has stored the outcome), or by
    ``stop``. A ``LocalCluster`` in the scheduler's own process ends with that process, and
    its trials with it: a resumed scheduler finds nothing, the poll says LOST, and the trial
    is deployed again.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        client: Client | None = None,
        address: str | None = None,
        max_concurrent: int | None = None,
        resources: Mapping[str, float] | None = None,
        restart_worker_on_stop: bool = True,
    ) -> None:
        self.restart_worker_on_stop = restart_worker_on_stop
        if client is None and address is None:
            raise ValueError("DaskRunner needs a dask.distributed Client or an address")
        self._owns_client = client is None
        self.client = client if client is not None else Client(address)
        self.fn = fn
        self._call = TrialFunction.of(fn)
        self.resources = dict(resources) if resources else None
        threads = sum(self.client.nthreads().values()) or 1
        self.max_concurrent = max_concurrent or threads
        self._futures: dict[str, Future[Any]] = {}  # trial key -> task, not yet reported
        self._values: dict[str, Any] = {}
        self._release: list[str] = []  # published names whose outcome the scheduler has

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        self._unpublish_released()
        name = task_name(trial.key)
        future = self._published(name)
        if future is None:
            # A fixed key: if a crash came between submitting and publishing, and the task
            # is still on the scheduler, Dask hands back that task instead of a second one.
            with contextlib.suppress(KeyError):  # of a run that stop() ended
                self.client.unpublish_dataset(progress_name(trial.key))
            future = self.client.submit(
                run_reporting,
                self._call,
                progress_name(trial.key),
                dict(trial.assignments),
                trial.task,
                key=name,
                pure=False,
                resources=self.resources,
            )
            self.client.publish_dataset(future, name=name, override=True)
        self._futures[trial.key] = future
        return {"key": name}

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        self._unpublish_released()
        polls: dict[str, Poll] = {}
        adopted = [self._adopt(t) for t in trials if t.key not in self._futures]
        if any(adopted):
            # A future just fetched from the scheduler says "pending" until the scheduler
            # tells this client the task's state; give finished ones a moment to say so.
            with contextlib.suppress(TimeoutError):
                dask_wait([f for f in adopted if f], timeout=ANSWER_SECONDS)
        for trial in trials:
            future = self._futures.get(trial.key)
            if future is None:
                polls[trial.id] = Poll(PollStatus.LOST)
                continue
            polls[trial.id] = self._judge(trial, future)
        return polls

    def _judge(self, trial: TrialSpec, future: Future[Any]) -> Poll:
        status = future.status
        progress, hostname = self._progress(trial)
        if status == "finished":
            try:
                self._values[trial.key] = to_values(future.result())
            except Exception as error:
                self._forget(trial)
                return Poll(PollStatus.FAILED, error_reason(error), progress, hostname)
            return Poll(PollStatus.COMPLETED, progress=progress, hostname=hostname)
        if status == "error":
            raised = future.exception()
            self._forget(trial)
            reason = error_reason(raised) if raised else "the task failed"
            return Poll(PollStatus.FAILED, reason, progress, hostname)
        if status in {"cancelled", "lost"}:
            self._forget(trial)
            return Poll(PollStatus.FAILED, f"the Dask task was {status}", progress, hostname)
        return Poll(PollStatus.RUNNING, progress=progress, hostname=hostname)

    def _progress(self, trial: TrialSpec) -> tuple[dict[float, Value] | None, str | None]:
        """What the trial published (see CurvePublisher): its curve and its worker's
        hostname."""
        published = self.client.get_dataset(progress_name(trial.key), default=None)
        if not published:
            return None, None
        pairs = published.get("curve", [])
        curve = {float(step): value for step, value in pairs} or None
        return curve, published.get("hostname")

    def fetch(self, trial: TrialSpec) -> Mapping[str, float] | float:
        if trial.key not in self._values:
            raise KeyError(f"trial {trial.id} has not been polled COMPLETED by this runner")
        values: Mapping[str, float] | float = self._values.pop(trial.key)
        self._forget(trial)
        return values

    def stop(self, trial: TrialSpec, reason: str) -> None:
        name = task_name(trial.key)
        future = self._futures.pop(trial.key, None) or self._published(name)
        self._values.pop(trial.key, None)
        with contextlib.suppress(KeyError):
            self.client.unpublish_dataset(name)
        if future is not None:
            self._cancel(future)
        with contextlib.suppress(KeyError):  # after: the task reports until it is ended
            self.client.unpublish_dataset(progress_name(trial.key))

    def _cancel(self, future: Future[Any]) -> None:
        """Dask cannot interrupt a running task; with ``restart_worker_on_stop`` the worker
        process that runs it is restarted (other tasks there are rescheduled by Dask)."""
        key = future.key
        busy: set[str] = set()
        if self.restart_worker_on_stop:
            # A task just submitted reaches a worker within moments; one queued at the
            # scheduler for longer is not running, and cancelling it is enough.
            deadline = time.monotonic() + ASSIGN_SECONDS
            while not busy and future.status == "pending" and time.monotonic() < deadline:
                busy = self._processing_on(key)
                if not busy:
                    time.sleep(0.05)
        # Cancel first: restarting a worker that holds a live task makes Dask run it again
        # elsewhere.
        future.cancel(force=True)
        if not self.restart_worker_on_stop:
            return
        # Client.cancel only queues its message: a restart the scheduler got first would
        # still make Dask run the trial again, on another worker, to its end.
        self._await_cancelled(key)
        if not busy:  # it may have reached a worker while the cancel was on its way
            busy = self._executing_on(key)
        if busy:
            self._restart(sorted(busy))

    def _processing_on(self, key: Key) -> set[str]:
        return {w for w, keys in self.client.processing().items() if key in keys}

    def _await_cancelled(self, key: Key) -> None:
        scheduler = self.client.scheduler
        assert scheduler is not None  # a connected client
        deadline = time.monotonic() + CANCEL_SECONDS
        while time.monotonic() < deadline:
            status = self.client.sync(scheduler.get_task_status, keys=[key])
            if status.get(key) not in ACTIVE_STATES:
                return
            time.sleep(0.02)

    def _executing_on(self, key: Key) -> set[str]:
        """The workers whose thread runs the task, cancelled or not (asks every worker)."""
        answers = self.client.run(runs_task, key, on_error="return")
        return {worker for worker, runs in answers.items() if runs is True}

    def _restart(self, workers: list[str]) -> None:
        """Kill the workers' processes; their nannies start new ones. Not with
        ``Client.restart_workers``: it lets a worker close for 4 s first, in vain, as the
        trial's thread does not end, and then waits for the cluster to regain a count of
        workers taken at the start, which a worker restarted moments before inflates (the
        wait then lasts its whole timeout, 2 minutes). Each second a worker is away also
        risks a ``SpecCluster`` (``LocalCluster``, dask-jobqueue) closing its nanny for good:
        the ``lost-worker-timeout`` timer of an earlier restart that fires meanwhile."""
        known = self.client.scheduler_info(n_workers=-1)["workers"]
        nannies = {w: known[w].get("nanny") for w in workers if w in known}
        if orphans := sorted(w for w, nanny in nannies.items() if not nanny):
            logger.warning(
                "Dask workers without a nanny cannot be restarted: a stopped trial runs on "
                "to its end on %s",
                orphans,
            )
        self.client.sync(self._kill_processes, [n for n in nannies.values() if n])

    async def _kill_processes(self, nannies: list[str]) -> None:
        await asyncio.gather(
            *(self.client.rpc(n).kill(timeout=KILL_SECONDS, reason="honed-stop") for n in nannies),
            return_exceptions=True,  # a worker gone already needs no restart
        )

    def available_capacity(self) -> int | None:
        return max(self.max_concurrent - len(self._futures), 0)

    def wait(self, timeout: float) -> bool:
        futures = [f for k, f in self._futures.items() if k not in self._values]
        if not futures:
            return False
        with contextlib.suppress(TimeoutError):
            dask_wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        return True

    def close(self) -> None:
        """Unpublish what the scheduler has; running trials stay published and go on."""
        self._unpublish_released()
        if self._owns_client:
            self.client.close()

    # --- bookkeeping ----------------------------------------------------------------------
    def _adopt(self, trial: TrialSpec) -> Future[Any] | None:
        """The task of a trial another client submitted, if it is published."""
        if not trial.metadata.get("key"):
            return None
        future = self._published(task_name(trial.key))
        if future is not None:
            self._futures[trial.key] = future
        return future

    def _published(self, name: str) -> Future[Any] | None:
        future: Future[Any] | None = self.client.get_dataset(name, default=None)
        return future

    def _forget(self, trial: TrialSpec) -> None:
        """The scheduler has the trial's outcome, or will before this runner's next call."""
        self._futures.pop(trial.key, None)
        self._release += [task_name(trial.key), progress_name(trial.key)]

    def _unpublish_released(self) -> None:
        released, self._release = self._release, []
        for name in released:
            with contextlib.suppress(KeyError):
                self.client.unpublish_dataset(name)


def task_name(key: str) -> str:
    return f"honed-trial-{key}"


def progress_name(key: str) -> str:
    return f"honed-progress-{key}"


def runs_task(key: Key, dask_worker: Any) -> bool:
    """On a worker: whether one of its threads runs the task (also once cancelled)."""
    task = dask_worker.state.tasks.get(key)
    return task is not None and task.state in {"executing", "long-running", "cancelled"}


def run_reporting(
    fn: TrialFunction, name: str, assignments: dict[str, Any], task: str | None
) -> Any:
    """The Dask task, on a worker: ``fn(assignments, task)``, with what it reports
    published on the Dask scheduler as ``name``, so that any client of the cluster can poll
    it."""
    publisher = CurvePublisher(name)
    try:
        with reporting(publisher):
            return fn(assignments, task)
    finally:
        publisher.close()


class CurvePublisher:
    """A sink for ``report`` that publishes the whole curve as ``[step, value]`` pairs,
    with the hostname of the worker that runs the trial (``{"curve", "hostname"}``).

    A publication is a round trip to the Dask scheduler (milliseconds), so a trial that
    reports every batch publishes at most every ``PUBLISH_SECONDS``: at once if the last
    one is older, else from a timer, and once more when the trial ends."""

    def __init__(self, name: str) -> None:
        self.name = name
        # The task's context, where get_client() finds the worker: publications also come
        # from the timer's thread and threads the trial starts.
        self._task_context = contextvars.copy_context()
        self._client: Any = None
        self._curve: dict[float, Value] = {}
        self._lock = threading.Lock()  # one publication at a time, newest last
        self._published = -PUBLISH_SECONDS
        self._timer: threading.Timer | None = None
        # Published at the end even without a report: the hostname says where it ran.
        self._dirty = True
        self._hostname = socket.gethostname()

    def __call__(self, step: float, value: Value) -> None:
        with self._lock:
            self._curve[step] = value
            self._dirty = True
            wait = self._published + PUBLISH_SECONDS - time.monotonic()
            if wait <= 0:
                self._publish()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None
        self._flush()

    def _flush(self) -> None:
        with self._lock:
            self._timer = None
            if self._dirty:
                self._publish()

    def _publish(self) -> None:
        if self._client is None:  # the worker's client, made on its first report
            self._client = self._task_context.run(get_client)
        published = {"curve": sorted(self._curve.items()), "hostname": self._hostname}
        try:
            self._client.publish_dataset(published, name=self.name, override=True)
        except ClosedClientError:
            # The worker is going down (its trial was stopped, or the cluster closes):
            # nothing can read this curve any more, and the trial's report() or the
            # timer's thread should not fail for it.
            logger.debug("curve %s not published: the worker's client is closed", self.name)
            return
        self._published = time.monotonic()
        self._dirty = False
