"""A CallableRunner worker: ``detach`` is the target of a multiprocessing process.

It detaches from the scheduler (a double fork into a session of its own), so that a killed
scheduler, or Ctrl-C in its terminal, does not end the trial it runs, and no scheduler
waits for it on exit. It unpickles the function once (its module is preloaded in the fork
server), then runs one trial at a time as the scheduler sends them. Each trial's
record lives in its own directory: ``launch.json`` (this worker's pid and start time,
written before the function is called) and ``result.json`` (written atomically when it
returns), so any process can tell what became of it. The worker ends when the scheduler's
end of the task pipe closes (closed, or the scheduler died), after its current trial.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from honed.scheduler.runners.durable import start_time
from honed.scheduler.runners.durable import write_json
from honed.scheduler.runners.results import error_reason
from honed.scheduler.runners.results import to_values

LAUNCH = "launch.json"
RESULT = "result.json"
OUTPUT = "output"


def serve(tasks: Connection, replies: Connection) -> None:
    try:
        _, function, environment = tasks.recv()
        # The scheduler's environment now, not the fork server's from when it started.
        os.environ.clear()
        os.environ.update(environment)
        fn = pickle.loads(function)
    except BaseException as error:
        _reply(replies, ("error", error_reason(error)))
        return
    pid = os.getpid()
    replies.send(("ready", pid, start_time(pid)))
    while True:
        try:
            _, key, directory, assignments = tasks.recv()
        except (EOFError, OSError):
            return  # the scheduler closed the pool or died: no more trials
        run_trial(fn, Path(directory), assignments, replies, key)


def run_trial(
    fn: Any, directory: Path, assignments: dict[str, Any], replies: Connection, key: str
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RESULT).unlink(missing_ok=True)
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
    try:
        outcome: dict[str, Any] = {"values": to_values(fn(assignments))}
    except BaseException as error:
        outcome = {"error": error_reason(error)}
    sys.stdout.flush()
    sys.stderr.flush()
    write_json(directory / RESULT, outcome)
    _reply(replies, ("done", key))


def _reply(replies: Connection, message: tuple[Any, ...]) -> None:
    with contextlib.suppress(OSError):  # the scheduler is gone; the files say everything
        replies.send(message)


def detach(tasks: Connection, replies: Connection) -> None:
    if os.fork() > 0:
        os._exit(0)  # the scheduler joins this child at once; the worker is nobody's child
    os.setsid()
    serve(tasks, replies)
