"""CallableRunner: a Python function per trial, in a pool of worker processes."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from honed.scheduler.runner import Runner
from honed.scheduler.runners import pool_worker
from honed.scheduler.runners.durable import alive
from honed.scheduler.runners.durable import file_name
from honed.scheduler.runners.durable import kill_group
from honed.scheduler.runners.durable import read_json
from honed.scheduler.runners.durable import wait_gone
from honed.scheduler.runners.durable import write_json
from honed.scheduler.runners.results import tail
from honed.scheduler.runners.trial_files import OUTPUT_TAIL_BYTES
from honed.scheduler.runners.trial_files import OutputLog
from honed.scheduler.runners.trial_files import is_trial_dir
from honed.scheduler.runners.trial_files import remove_if_empty
from honed.scheduler.runners.trial_files import remove_tree
from honed.scheduler.runners.trial_function import TrialFunction
from honed.scheduler.trial import Poll
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import TrialSpec

# stop() waits this long for a killed worker to be gone, so that the next trial does not
# start beside it.
STOP_WAIT_SECONDS = 5.0


@dataclass
class _Worker:
    pid: int
    started: int | None
    tasks: Connection
    replies: Connection
    trial: str | None = None  # the key of the trial it runs


class CallableRunner(Runner):
    """Calls ``fn(assignments)`` in a pool of up to ``max_workers`` worker processes (default:
    the CPU count), one trial per worker at a time; ``fn(assignments, task=...)`` if ``fn``
    declares a parameter ``task`` (the trial's task in a multitask experiment, else None;
    see ``honed.scheduler.runners.trial_function``). ``fn`` must be picklable (a module-level
    function; one in the script run as ``__main__`` works as with multiprocessing: guard the
    script with ``if __name__ == "__main__"``) and return a number or ``{metric: number}``;
    an exception fails the trial with its traceback as the reason. ``fn`` may call
    ``honed.scheduler.report(step, value)`` as it goes, for early stopping (from its own
    thread or threads it starts). Workers fork from multiprocessing's fork server, which
    imports ``fn``'s module once; each is reused for trial after trial, with the environment
    the scheduler had when it started. ``stop`` kills the worker running that trial (and
    what it started), and a new one takes its place.

    Trials survive the scheduler: workers run in sessions of their own, and each trial's
    launch record, reported values and result are files in ``workdir/call-<trial key>/``
    (its prints go to ``output`` there). A runner in another process, such as a scheduler
    resumed after a crash, polls, fetches and stops trials from their metadata, and ``run``
    adopts a trial that is already running or finished instead of calling ``fn`` twice.
    Once the scheduler has stored a trial's outcome, ``release`` removes its directory,
    after appending the last ``output_tail_bytes`` of its prints and its reported curve to
    ``output_log`` if one is named (``honed.scheduler.runners.trial_files`` has the format).
    ``close`` ends idle workers; busy ones finish their trial, record its result, then exit;
    ``workdir`` goes too once it is empty.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        max_workers: int | None = None,
        workdir: str | Path = ".honed-trials",
        output_log: str | Path | None = None,
        output_tail_bytes: int = OUTPUT_TAIL_BYTES,
    ) -> None:
        self.fn = fn
        self.max_workers = max_workers or os.cpu_count() or 1
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, not {max_workers}")
        self.workdir = Path(workdir).resolve()
        self.output_log = (
            OutputLog(output_log, output_tail_bytes) if output_log is not None else None
        )
        # Fails here, clearly, if fn cannot be pickled.
        self._function = pickle.dumps(TrialFunction.of(fn))
        # Workers fork from a server that has imported fn's module: starting one, or
        # replacing one that stop() killed, costs a fork, not an interpreter and imports.
        self._context: Any = multiprocessing.get_context("forkserver")
        modules = [pool_worker.__name__, getattr(fn, "__module__", None)]
        self._context.set_forkserver_preload([m for m in modules if m and m != "__main__"])
        self._name = getattr(fn, "__qualname__", repr(fn))
        self._workers: list[_Worker] = []
        # Trials launched by another runner (a scheduler that died) that still run: they
        # take pool slots on this machine too.
        self._others: dict[str, tuple[int, int | None]] = {}
        self._progress: dict[str, pool_worker.ProgressReader] = {}  # trial key -> reader

    # --- the contract ---------------------------------------------------------------------
    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        self._drain()
        directory = self._dir_for(trial.key)
        launch = read_json(directory / pool_worker.LAUNCH)
        if launch is not None:
            # Launched before (a crash came before the scheduler stored it): adopt the run
            # if it goes on or has a result, rather than call fn again.
            running = alive(launch["pid"], launch["pid_started"])
            if running or self._outcome(directory) is not None:
                if running and not self._owns(launch["pid"]):
                    self._others[trial.key] = (launch["pid"], launch["pid_started"])
                return self._metadata(directory, launch["pid"], launch["pid_started"])
        # Here, so that a workdir that cannot be written is an error of this call.
        directory.mkdir(parents=True, exist_ok=True)
        self._progress.pop(trial.key, None)  # a run afresh reports afresh
        worker = self._idle_worker()
        worker.tasks.send(("run", trial.key, str(directory), dict(trial.assignments), trial.task))
        reply = self._reply(worker, "started")
        worker.trial = reply[1]
        return self._metadata(directory, worker.pid, worker.started)

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        self._drain()
        return {trial.id: self._poll_one(trial) for trial in trials}

    def _poll_one(self, trial: TrialSpec) -> Poll:
        meta = trial.metadata
        if "dir" not in meta or "pid" not in meta:
            return Poll(PollStatus.LOST)
        directory = Path(meta["dir"])
        outcome = self._outcome(directory)
        if outcome is None and alive(meta["pid"], meta.get("pid_started")):
            if not self._owns(meta["pid"]):
                self._others[trial.key] = (meta["pid"], meta.get("pid_started"))
            return Poll(PollStatus.RUNNING, progress=self._read_progress(trial.key, directory))
        self._others.pop(trial.key, None)
        outcome = outcome or self._outcome(directory)  # it may have finished just now
        progress = self._read_progress(trial.key, directory)
        self._progress.pop(trial.key, None)  # it has ended: a later poll reads it afresh
        if outcome is None:
            return Poll(
                PollStatus.FAILED,
                f"the worker process {meta['pid']} ended without a result "
                "(killed, or the function crashed the interpreter)" + _output(directory),
                progress,
            )
        ended = _mtime(directory / pool_worker.RESULT)  # the worker wrote it as it ended
        if "values" in outcome:
            return Poll(PollStatus.COMPLETED, progress=progress, ended=ended)
        reason = tail(outcome.get("error") or outcome.get("stopped", ""))
        return Poll(PollStatus.FAILED, reason, progress, ended=ended)

    def fetch(self, trial: TrialSpec) -> Mapping[str, float] | float:
        outcome = self._outcome(Path(trial.metadata["dir"]))
        if outcome is None or "values" not in outcome:
            raise KeyError(f"trial {trial.id} has no result in {trial.metadata['dir']}")
        values: Mapping[str, float] | float = outcome["values"]
        return values

    def stop(self, trial: TrialSpec, reason: str) -> None:
        meta = trial.metadata
        if "dir" not in meta or "pid" not in meta:
            return
        directory = Path(meta["dir"])
        if self._outcome(directory) is None:
            # The worker's whole session: the function may have started processes.
            if kill_group(meta["pid"], meta.get("pid_started"), signal.SIGKILL):
                wait_gone(meta["pid"], meta.get("pid_started"), STOP_WAIT_SECONDS)
            if self._outcome(directory) is None:
                write_json(directory / pool_worker.RESULT, {"stopped": f"stopped: {reason}"})
        # A stopped trial deployed again (after Ctrl-C) starts afresh.
        (directory / pool_worker.LAUNCH).unlink(missing_ok=True)
        self._others.pop(trial.key, None)
        self._progress.pop(trial.key, None)
        for worker in self._workers:
            if worker.pid == meta["pid"] and worker.trial == trial.key:
                self._retire(worker)

    def available_capacity(self) -> int | None:
        self._drain()
        self._others = {k: p for k, p in self._others.items() if alive(*p)}
        busy = sum(worker.trial is not None for worker in self._workers)
        return max(self.max_workers - busy - len(self._others), 0)

    def wait(self, timeout: float) -> bool:
        busy = [worker.replies for worker in self._workers if worker.trial is not None]
        if not busy:
            return False
        multiprocessing.connection.wait(busy, timeout)
        return True

    def release(self, trials: Sequence[TrialSpec]) -> None:
        directories = []
        entries = []
        for trial in trials:
            self._others.pop(trial.key, None)
            self._progress.pop(trial.key, None)
            directory = Path(trial.metadata.get("dir") or self._dir_for(trial.key))
            if not is_trial_dir(directory, self._dir_for(trial.key).name):
                continue
            directories.append(directory)
            if self.output_log is not None:
                curve = pool_worker.ProgressReader(directory).read()
                output = {"output": directory / pool_worker.OUTPUT}
                entries.append(self.output_log.entry(trial, output, curve))
        if self.output_log is not None:
            self.output_log.append(entries)
        for directory in directories:
            remove_tree(directory)

    def close(self) -> None:
        """End idle workers; busy ones finish their trial, store its result and exit."""
        for worker in self._workers:
            worker.tasks.close()
            worker.replies.close()
        self._workers.clear()
        remove_if_empty(self.workdir)

    # --- the pool -------------------------------------------------------------------------
    def _idle_worker(self) -> _Worker:
        for worker in self._workers:
            if worker.trial is None:
                return worker
        if len(self._workers) >= self.max_workers:
            raise RuntimeError(
                f"all {self.max_workers} workers are busy: deploy at most "
                "available_capacity() trials"
            )
        worker = self._spawn()
        self._workers.append(worker)
        return worker

    def _spawn(self) -> _Worker:
        tasks_read, tasks = self._context.Pipe(duplex=False)
        replies, replies_write = self._context.Pipe(duplex=False)
        launcher = self._context.Process(
            target=pool_worker.detach, args=(tasks_read, replies_write), name="honed-worker"
        )
        launcher.start()
        tasks_read.close()
        replies_write.close()
        tasks.send(("init", self._function, dict(os.environ)))
        launcher.join()  # it forks the worker and exits: the worker is nobody's child
        worker = _Worker(0, None, tasks, replies)
        _, worker.pid, worker.started = self._reply(worker, "ready")
        return worker

    def _reply(self, worker: _Worker, expected: str) -> tuple[Any, ...]:
        """The worker's next reply of the kind ``expected`` (others are skipped)."""
        while True:
            try:
                reply: tuple[Any, ...] = worker.replies.recv()
            except (EOFError, OSError):
                self._retire(worker)
                what = "it was ready" if expected == "ready" else "it started the trial"
                raise RuntimeError(f"a worker process died before {what}") from None
            if reply[0] == expected:
                return reply
            if reply[0] == "error":
                self._retire(worker)
                raise RuntimeError(f"the worker could not load {self._name}: {reply[1]}")

    def _drain(self) -> None:
        """Free workers whose trial is done; drop the ones that died."""
        for worker in list(self._workers):
            try:
                while worker.replies.poll():
                    if worker.replies.recv()[0] == "done":
                        worker.trial = None
            except (EOFError, OSError):
                self._retire(worker)

    def _retire(self, worker: _Worker) -> None:
        """Let go of a worker (stopped or dead); the pool starts another when needed."""
        if worker in self._workers:
            self._workers.remove(worker)
        worker.tasks.close()
        worker.replies.close()

    def _owns(self, pid: int) -> bool:
        return any(worker.pid == pid for worker in self._workers)

    # --- files ----------------------------------------------------------------------------
    def _dir_for(self, key: str) -> Path:
        return self.workdir / f"call-{file_name(key)}"

    def _metadata(self, directory: Path, pid: int, started: int | None) -> dict[str, Any]:
        return {
            "function": self._name,
            "dir": str(directory),
            "pid": pid,
            "pid_started": started,
            "hostname": socket.gethostname(),
        }

    def _read_progress(self, key: str, directory: Path) -> dict[float, Any] | None:
        reader = self._progress.get(key)
        if reader is None or reader.path.parent != directory:
            reader = self._progress[key] = pool_worker.ProgressReader(directory)
        return reader.read()

    @staticmethod
    def _outcome(directory: Path) -> dict[str, Any] | None:
        outcome: dict[str, Any] | None = read_json(directory / pool_worker.RESULT)
        return outcome


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _output(directory: Path) -> str:
    path = directory / pool_worker.OUTPUT
    text = path.read_text(errors="replace").strip() if path.exists() else ""
    return f"; output: {tail(text)}" if text else ""
