"""Schedulers that die for real, run in child processes by tests/scheduler/test_resume.py."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialSpec
from honed.scheduler.runners import CallableRunner
from honed.testing.trial_task import LASTING
from honed.testing.trial_task import task

# Every trial lasts a couple of seconds (trial_task: x >= LASTING), so some are running
# whenever the scheduler is killed.
EXPERIMENT = {
    "name": "killed scheduler",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": LASTING, "max": LASTING + 1}}
    ],
    "metrics": [{"name": "loss", "objective": "minimize"}],
}
OPTIONS = SchedulerOptions(
    total_trials=4,
    max_pending_trials=2,
    init_seconds_between_polls=0.05,
    max_seconds_between_polls=0.5,
)


class CrashingAfterLaunch(CallableRunner):
    """Launches the first trial, then kills its own process before the scheduler can store
    that it did: the window a crash between ``run`` and recording falls into."""

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        metadata = super().run(trial)
        os.kill(os.getpid(), signal.SIGKILL)
        return metadata


class CrashingOnRelease(CallableRunner):
    """Kills its own process when first told to release trials: their outcomes are
    stored, their files still there (a crash between storing and releasing)."""

    def release(self, trials: Sequence[TrialSpec]) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


CRASHES: dict[str | None, type[CallableRunner]] = {
    None: CallableRunner,
    "after launch": CrashingAfterLaunch,
    "on release": CrashingOnRelease,
}


def runner(workdir: Path, crash: str | None = None) -> CallableRunner:
    return CRASHES[crash](task, max_workers=2, workdir=workdir)


def run_scheduler(database: str, workdir: Path, crash: str | None) -> None:
    with Scheduler(
        EXPERIMENT, runner(workdir, crash), OPTIONS, database, optimizers=0
    ) as scheduler:
        scheduler.run_all_trials()
