"""CallableRunner: a Python function per trial, each in a worker process of this machine."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from honed.scheduler.runners.futures import HandleRunner
from honed.scheduler.runners.results import error_reason
from honed.scheduler.runners.results import tail
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import TrialSpec


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    outcome: tuple[str, Any] | None = None


def _call(fn: Callable[..., Any], assignments: dict[str, Any], conn: Connection) -> None:
    try:
        conn.send(("ok", fn(assignments)))
    except BaseException as error:
        conn.send(("error", error_reason(error)))
    finally:
        conn.close()


class CallableRunner(HandleRunner[_Worker]):
    """Calls ``fn(assignments)`` in a worker process per trial, at most ``max_workers`` at
    once (default: the CPU count). ``fn`` must be picklable (defined at module level) and
    return a number or ``{metric: number}``; an exception fails the trial with its
    traceback as the reason.

    A process per trial rather than a reused pool, so that ``stop`` (TTL, early stopping,
    Ctrl-C) really ends a trial: a pool cannot take one running call back. Workers come
    from a forkserver, so starting one costs a fork, not a new interpreter.
    """

    def __init__(
        self,
        fn: Callable[[dict[str, Any]], Any],
        max_workers: int | None = None,
        start_method: str = "forkserver",
    ) -> None:
        super().__init__()
        self.fn = fn
        self.max_workers = max_workers or os.cpu_count() or 1
        # Typed Any: typeshed's BaseContext lacks the Process of its concrete contexts.
        self._context: Any = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Import the worker's modules once in the fork server, not in every trial.
            modules = [__name__, getattr(fn, "__module__", None)]
            self._context.set_forkserver_preload([m for m in modules if m and m != "__main__"])

    def _start(self, trial: TrialSpec) -> tuple[_Worker, Mapping[str, Any]]:
        receive, send = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_call, args=(self.fn, dict(trial.assignments), send), daemon=True
        )
        process.start()
        send.close()
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return _Worker(process, receive), {"function": name, "pid": process.pid}

    def _state(self, worker: _Worker) -> tuple[PollStatus, Any]:
        if worker.outcome is None and worker.conn.poll():
            try:
                worker.outcome = worker.conn.recv()
            except EOFError:
                worker.outcome = ("error", "the worker process died without a result")
        if worker.outcome is None:
            if worker.process.is_alive():
                return PollStatus.RUNNING, None
            worker.process.join()
            if worker.conn.poll():  # it sent its result just before exiting
                return self._state(worker)
            return (
                PollStatus.FAILED,
                f"the worker process died (exit code {worker.process.exitcode})",
            )
        worker.process.join(timeout=5)
        worker.conn.close()
        kind, value = worker.outcome
        return (PollStatus.COMPLETED, value) if kind == "ok" else (PollStatus.FAILED, tail(value))

    def _cancel(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
        worker.conn.close()

    def available_capacity(self) -> int | None:
        running = sum(1 for w in self._handles.values() if w.outcome is None)
        return max(self.max_workers - running, 0)

    def wait(self, timeout: float) -> bool:
        waiting = [w for w in self._unreported() if w.outcome is None]
        if not waiting:
            return False
        objects: list[Any] = [w.conn for w in waiting] + [w.process.sentinel for w in waiting]
        multiprocessing.connection.wait(objects, timeout)
        return True

    def close(self) -> None:
        for worker in self._handles.values():
            self._cancel(worker)
        self._handles.clear()
