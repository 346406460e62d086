"""One honed arm of ``scheduler_overhead.py``, in a process of its own (so that its peak RSS
is its own, and so that ``--before`` runs it on another revision's ``src/``): a JSON request
on stdin, a JSON line of figures on stdout.

Arms: ``instant`` and ``instant+wait`` (an in-process runner whose trials are complete when
first polled; the second says so through ``Runner.wait``), ``callable`` (``CallableRunner``
with ``max_workers`` = parallelism, each trial sleeping ``trial_seconds``) and
``subprocess`` (``SubprocessRunner`` running ``sleep S; echo <value>``). All on an embedded
SQLite file with no optimizer process (Sobol). The runners' work directory is a fresh
``trials/`` in the current directory; after the scheduler closes, every byte and entry left
under it is counted, and the database's size (with its WAL).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honed.client import Client
from honed.scheduler import Poll
from honed.scheduler import PollStatus
from honed.scheduler import Runner
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialSpec

EXPERIMENT = {
    "name": "scheduler overhead",
    "parameters": [
        {"name": "x1", "type": "double", "bounds": {"min": -5, "max": 10}},
        {"name": "x2", "type": "double", "bounds": {"min": 0, "max": 15}},
    ],
    "metrics": [{"name": "f", "objective": "minimize"}],
}
SECONDS_VARIABLE = "HONED_BENCH_TRIAL_SECONDS"


def branin(assignments: Mapping[str, Any]) -> float:
    x1, x2 = assignments["x1"], assignments["x2"]
    return float((x2 - 0.129 * x1**2 + 1.59 * x1 - 6) ** 2 + 9.6 * (x1 > 0) + 10)


def sleeping_trial(assignments: dict[str, Any]) -> float:
    """The ``callable`` arm's trial (workers inherit the scheduler's environment)."""
    time.sleep(float(os.environ[SECONDS_VARIABLE]))
    return branin(assignments)


class InstantRunner(Runner):
    """Trials are complete when first polled; ``wakes`` makes ``wait`` say so at once."""

    def __init__(self, wakes: bool) -> None:
        self.wakes = wakes
        self.unpolled = 0

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        self.unpolled += 1
        return {}

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        self.unpolled = 0
        return {t.id: Poll(PollStatus.COMPLETED) for t in trials}

    def fetch(self, trial: TrialSpec) -> float:
        return branin(trial.assignments)

    def stop(self, trial: TrialSpec, reason: str) -> None:
        pass

    def wait(self, timeout: float) -> bool:
        return self.wakes and self.unpolled > 0


def make_runner(arm: str, parallelism: int, seconds: float, workdir: Path) -> Runner:
    from honed.scheduler.runners import CallableRunner
    from honed.scheduler.runners import SubprocessRunner

    if arm in {"instant", "instant+wait"}:
        return InstantRunner(wakes=arm == "instant+wait")
    if arm == "callable":
        os.environ[SECONDS_VARIABLE] = repr(seconds)
        return CallableRunner(sleeping_trial, max_workers=parallelism, workdir=workdir)
    if arm == "subprocess":
        # A bare number on stdout is a single metric's value; x1 stands in for Branin.
        return SubprocessRunner(f"sleep {seconds!r}; echo {{x1}}", workdir=workdir)
    raise SystemExit(f"unknown arm {arm!r}")


def left_on_disk(directory: Path) -> tuple[int, int]:
    """Bytes allocated (as du counts them, directories too) and entries under
    ``directory``, itself included; (0, 0) if it is gone."""
    if not directory.exists():
        return 0, 0
    paths = [directory, *directory.rglob("*")]
    return sum(p.lstat().st_blocks * 512 for p in paths), len(paths)


def run(request: Mapping[str, Any]) -> dict[str, Any]:
    trials, parallelism = int(request["trials"]), int(request["parallelism"])
    seconds = float(request.get("trial_seconds", 0.0))
    workdir = Path("trials").resolve()
    runner = make_runner(request["arm"], parallelism, seconds, workdir)
    options = SchedulerOptions(total_trials=trials, max_pending_trials=parallelism)
    client = Client(str(Path("honed.db").resolve()), optimizers=0)
    with client, Scheduler(EXPERIMENT, runner, options, client) as scheduler:
        start, cpu = time.perf_counter(), time.process_time()
        result = scheduler.run_all_trials()
        seconds_taken, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    if result.completed != trials:
        raise RuntimeError(f"completed {result.completed} of {trials} trials: {result}")
    left_bytes, left_entries = left_on_disk(workdir)
    database = sum(p.stat().st_size for p in Path.cwd().glob("honed.db*"))
    return {
        "seconds": seconds_taken,
        "cpu_seconds": cpu_seconds,
        "completed": result.completed,
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "left_bytes": left_bytes,
        "left_entries": left_entries,
        "database_bytes": database,
    }


def main() -> None:
    logging.getLogger("honed.scheduler").setLevel(logging.WARNING)
    request = json.loads(sys.stdin.read())
    print(json.dumps(run(request)))


if __name__ == "__main__":
    # Run as the module ``_scheduler_arm`` (the benchmarks directory is on PYTHONPATH), so
    # that CallableRunner's workers unpickle ``sleeping_trial`` by that name.
    import _scheduler_arm

    _scheduler_arm.main()
