"""What each worker process of tests/e2e/test_parallel_runs.py runs: the sigopt 8.x
high-level loop, unchanged user code (``sigopt.get_experiment``, ``experiment.loop()``,
``run.params``, ``run.log_metric``), against a honed server named by the environment.

Module level and picklable, for the "spawn" start method. sigopt is imported inside the
worker, after SIGOPT_* are set: the client reads them when it first connects.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LoopJob:
    url: str
    token: str
    project: str
    experiment_id: str
    worker: int
    #: Every n-th run of this worker reports a failure instead of a value (0: never).
    fail_every: int = 0
    #: How long each evaluation takes (the objective itself is instant), times 1 + w / 4
    #: for worker w: workers in step would each ask as another's run ends, and no run
    #: would be seen to overlap a later one.
    work_seconds: float = 0.0
    #: A directory where each of ``workers`` jobs marks itself ready and waits for the
    #: others before its first run: spawned processes start seconds apart on a busy
    #: machine, and the first could otherwise take the whole budget alone.
    start_line: str | None = None
    workers: int = 1


@dataclass(frozen=True)
class RunRecord:
    worker: int
    run_id: str
    assignments: dict[str, Any]
    failed: bool
    value: float | None
    #: Wall-clock times: before asking for the run, when it arrived, and before ending it
    #: (the run's suggestion is open until then at least).
    asked: float
    got: float
    ending: float


def objective(assignments: dict[str, Any]) -> float:
    total = 0.0
    for name, value in sorted(assignments.items()):
        total += len(value) / 10 if isinstance(value, str) else float(value) / (1 + len(name))
    return total


def _wait_for_the_others(line: Path, worker: int, workers: int, timeout: float = 120.0) -> None:
    (line / str(worker)).touch()
    deadline = time.monotonic() + timeout
    while sum(1 for _ in line.iterdir()) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"worker {worker}: the other workers did not start in {timeout} s")
        time.sleep(0.01)


def run_loop(job: LoopJob) -> list[RunRecord]:
    os.environ.update(
        SIGOPT_API_URL=job.url, SIGOPT_API_TOKEN=job.token, SIGOPT_PROJECT=job.project
    )
    import sigopt

    experiment = sigopt.get_experiment(job.experiment_id)
    if job.start_line is not None:
        _wait_for_the_others(Path(job.start_line), job.worker, job.workers)
    records = []
    runs = experiment.loop()
    count = 0
    while True:
        asked = time.time()
        try:
            run = next(runs)
        except StopIteration:
            break
        got = time.time()
        count += 1
        fail = job.fail_every > 0 and count % job.fail_every == 0
        with run:
            assignments = dict(run.params)
            time.sleep(job.work_seconds * (1 + job.worker / 4))
            value = None
            if fail:
                run.log_failure()
            else:
                value = objective(assignments)
                run.log_metric("score", value)
            ending = time.time()  # leaving the block sends state "completed" or "failed"
        records.append(RunRecord(job.worker, run.id, assignments, fail, value, asked, got, ending))
    return records
