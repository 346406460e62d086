"""A CallableRunner worker: ``detach`` is the target of a multiprocessing process.

It detaches from the scheduler (a double fork into a session of its own), so that a killed
scheduler, or Ctrl-C in its terminal, does not end the trial it runs, and no scheduler
waits for it on exit. It unpickles the function once (its module is preloaded in the fork
server), then runs one trial at a time as the scheduler sends them (its assignments and
task, which the function gets if it takes one: ``trial_function``). Each trial's
record lives in its own directory: ``launch.json`` (this worker's pid and start time,
written before the function is called), ``progress.jsonl`` (what the function passed to
``honed.scheduler.report``, a JSON line ``[step, value]`` each) and ``result.json`` (written
atomically when it returns), so any process can tell what became of it. The worker ends
when the scheduler's end of the task pipe closes (closed, or the scheduler died), after its
current trial.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from honed.scheduler.progress import Value
from honed.scheduler.progress import reporting
from honed.scheduler.runners.durable import start_time
from honed.scheduler.runners.durable import write_json
from honed.scheduler.runners.results import error_reason
from honed.scheduler.runners.results import to_values
from honed.scheduler.runners.trial_function import TrialFunction

LAUNCH = "launch.json"
RESULT = "result.json"
OUTPUT = "output"
PROGRESS = "progress.jsonl"


def serve(tasks: Connection, replies: Connection) -> None:
    try:
        _, function, environment = tasks.recv()
        # The scheduler's environment now, not the fork server's from when it started.
        os.environ.clear()
        os.environ.update(environment)
        fn: TrialFunction = pickle.loads(function)
    except BaseException as error:
        _reply(replies, ("error", error_reason(error)))
        return
    pid = os.getpid()
    replies.send(("ready", pid, start_time(pid)))
    while True:
        try:
            _, key, directory, assignments, task = tasks.recv()
        except (EOFError, OSError):
            return  # the scheduler closed the pool or died: no more trials
        run_trial(fn, Path(directory), assignments, task, replies, key)


def run_trial(
    fn: TrialFunction,
    directory: Path,
    assignments: dict[str, Any],
    task: str | None,
    replies: Connection,
    key: str,
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in (RESULT, PROGRESS):  # of a run that stop() ended
        (directory / stale).unlink(missing_ok=True)
    pid = os.getpid()
    # Not synced to disk: after a crash of the machine the process is gone anyway.
    write_json(directory / LAUNCH, {"pid": pid, "pid_started": start_time(pid)}, sync=False)
    _reply(replies, ("started", key))
    # The trial's prints go to its own file, not to a terminal the scheduler may have left.
    output = os.open(directory / OUTPUT, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    progress = ProgressFile(directory / PROGRESS)
    try:
        with reporting(progress):
            outcome: dict[str, Any] = {"values": to_values(fn(assignments, task))}
    except BaseException as error:
        outcome = {"error": error_reason(error)}
    finally:
        progress.close()
    sys.stdout.flush()
    sys.stderr.flush()
    write_json(directory / RESULT, outcome)
    _reply(replies, ("done", key))


class ProgressFile:
    """A sink for ``report``: each value one line appended in a single write, so lines
    written by threads of the trial do not mix and a reader never sees half a line but
    the last (which it skips). Not synced: the file lives as long as the process."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def __call__(self, step: float, value: Value) -> None:
        os.write(self._fd, (json.dumps([step, value]) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


class ProgressReader:
    """Reads a trial's ``progress.jsonl`` as it grows: each read parses only the lines
    added since the last (a trial reporting every batch writes thousands)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / PROGRESS
        self._offset = 0
        self._curve: dict[float, Value] = {}

    def read(self) -> dict[float, Value] | None:
        """The curve so far, by step (a step reported again: its last value)."""
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < self._offset:  # rewritten meanwhile
                    self._offset, self._curve = 0, {}
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return None
        complete = data.rfind(b"\n") + 1  # a line still being written is read next time
        for line in data[:complete].splitlines():
            with contextlib.suppress(ValueError):
                step, value = json.loads(line)
                self._curve[float(step)] = value
        self._offset += complete
        return dict(self._curve) or None


def _reply(replies: Connection, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError):  # the scheduler is gone; the files say everything
        replies.send(message)


def detach(tasks: Connection, replies: Connection) -> None:
    if os.fork() > 0:
        os._exit(0)  # the scheduler joins this child at once; the worker is nobody's child
    os.setsid()
    serve(tasks, replies)
