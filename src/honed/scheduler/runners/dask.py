"""DaskRunner: each trial a task on a ``dask.distributed`` cluster (extra ``honed[dask]``)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from dask.distributed import Client
from dask.distributed import Future
from dask.distributed import wait as dask_wait

from honed.scheduler.runners.futures import HandleRunner
from honed.scheduler.runners.results import error_reason
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import TrialSpec

ASSIGN_SECONDS = 1.0


class DaskRunner(HandleRunner["Future[Any]"]):
    """Submits ``fn(assignments)`` to a Dask ``Client`` per trial: pass ``client``, or an
    ``address`` of a scheduler (``tcp://host:8786``). ``max_concurrent`` bounds the trials in
    flight (default: the cluster's worker threads). ``stop`` restarts the worker running the
    trial (``restart_worker_on_stop``), as Dask cannot interrupt a running task. Futures end
    with the client, so a resumed scheduler deploys a dead one's trials again (their poll is
    LOST)."""

    def __init__(
        self,
        fn: Callable[[dict[str, Any]], Any],
        client: Client | None = None,
        address: str | None = None,
        max_concurrent: int | None = None,
        resources: Mapping[str, float] | None = None,
        restart_worker_on_stop: bool = True,
    ) -> None:
        super().__init__()
        self.restart_worker_on_stop = restart_worker_on_stop
        if client is None and address is None:
            raise ValueError("DaskRunner needs a dask.distributed Client or an address")
        self._owns_client = client is None
        self.client = client if client is not None else Client(address)
        self.fn = fn
        self.resources = dict(resources) if resources else None
        threads = sum(self.client.nthreads().values()) or 1
        self.max_concurrent = max_concurrent or threads

    def _start(self, trial: TrialSpec) -> tuple[Future[Any], Mapping[str, Any]]:
        key = f"honed-trial-{trial.id}-{uuid.uuid4().hex[:8]}"
        future = self.client.submit(
            self.fn, dict(trial.assignments), key=key, pure=False, resources=self.resources
        )
        return future, {"key": key}

    def _state(self, future: Future[Any]) -> tuple[PollStatus, Any]:
        status = future.status
        if status == "finished":
            return PollStatus.COMPLETED, future.result()
        if status == "error":
            error = future.exception()
            return PollStatus.FAILED, error_reason(error) if error else "the task failed"
        if status in {"cancelled", "lost"}:
            return PollStatus.FAILED, f"the Dask task was {status}"
        return PollStatus.RUNNING, None

    def _cancel(self, future: Future[Any]) -> None:
        """Dask cannot interrupt a running task; with ``restart_worker_on_stop`` the worker
        process that runs it is restarted (other tasks there are rescheduled by Dask)."""
        busy: list[str] = []
        if self.restart_worker_on_stop:
            # A task just submitted reaches a worker within moments; one queued at the
            # scheduler for longer is not running, and cancelling it is enough.
            deadline = time.monotonic() + ASSIGN_SECONDS
            while future.status == "pending" and not busy and time.monotonic() < deadline:
                busy = [w for w, keys in self.client.processing().items() if future.key in keys]
                if not busy:
                    time.sleep(0.05)
        # Cancel first: restarting a worker that holds a live task makes Dask run it again
        # elsewhere.
        future.cancel()
        if busy:
            self.client.restart_workers(busy, raise_for_error=False)

    def available_capacity(self) -> int | None:
        return max(self.max_concurrent - len(self._unreported()), 0)

    def wait(self, timeout: float) -> bool:
        futures = self._unreported()
        if not futures:
            return False
        with contextlib.suppress(TimeoutError):
            dask_wait(futures, timeout=timeout, return_when="FIRST_COMPLETED")
        return True

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
