"""A runner whose trials live on the fake clock, for instant behaviour tests."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from honed.client import Client
from honed.scheduler import FakeClock
from honed.scheduler import Poll
from honed.scheduler import PollStatus
from honed.scheduler import Runner
from honed.scheduler import TrialSpec
from honed.testing.trial_task import LOG

EXPERIMENT = {
    "name": "scheduler test",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
        {"name": "y", "type": "double", "bounds": {"min": 0, "max": 1}},
    ],
    "metrics": [{"name": "loss", "objective": "minimize"}],
}


def loss(assignments: Mapping[str, Any]) -> float:
    return float((assignments["x"] - 0.3) ** 2 + (assignments["y"] - 0.6) ** 2)


@dataclass
class ClockRunner(Runner):
    """Trials take ``duration(assignments)`` fake seconds (None: never end) and return
    ``loss``; ``fail(trial)`` makes one fail with a reason. Counts every call, and notes
    the trials it is told to release."""

    clock: FakeClock
    duration: Callable[[Mapping[str, Any]], float | None] = lambda a: 10.0
    fail: Callable[[TrialSpec], str | None] = lambda t: None
    progress: Callable[[TrialSpec, float], Mapping[float, float]] | None = None
    capacity: int | None = None
    runs: list[str] = field(default_factory=list)
    run_many_calls: int = 0
    polls: list[list[str]] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    max_running: int = 0
    done: set[str] = field(default_factory=set)
    released: list[str] = field(default_factory=list)

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        self.runs.append(trial.id)
        self.started[trial.id] = self.clock.now
        self.max_running = max(self.max_running, self._running_count())
        return {"job": f"job-{trial.id}", "started": self.clock.now}

    def run_many(self, trials: Sequence[TrialSpec]) -> dict[str, Mapping[str, Any] | Exception]:
        self.run_many_calls += 1
        return super().run_many(trials)

    def _running_count(self) -> int:
        """Deployed and not yet reported finished (the scheduler's view of running)."""
        return sum(1 for tid in self.started if tid not in self.stopped and tid not in self.done)

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        self.polls.append([t.id for t in trials])
        result = {}
        for trial in trials:
            start = trial.metadata["started"]
            elapsed = self.clock.now - start
            duration = self.duration(trial.assignments)
            progress = self.progress(trial, elapsed) if self.progress else None
            if trial.id in self.stopped:
                result[trial.id] = Poll(PollStatus.FAILED, "stopped")
            elif duration is not None and elapsed >= duration:
                reason = self.fail(trial)
                self.done.add(trial.id)
                status = PollStatus.FAILED if reason else PollStatus.COMPLETED
                result[trial.id] = Poll(status, reason, progress)
            else:
                result[trial.id] = Poll(PollStatus.RUNNING, None, progress)
        return result

    def fetch(self, trial: TrialSpec) -> Mapping[str, float] | float:
        return loss(trial.assignments)

    def stop(self, trial: TrialSpec, reason: str) -> None:
        self.stopped[trial.id] = reason

    def release(self, trials: Sequence[TrialSpec]) -> None:
        self.released += [trial.id for trial in trials]

    def available_capacity(self) -> int | None:
        """``capacity`` is the system's size: what it takes minus what runs."""
        return None if self.capacity is None else self.capacity - self._running_count()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(sqlite_url: str) -> Iterator[Client]:
    with Client(sqlite_url) as embedded:
        yield embedded


@pytest.fixture
def runner(clock: FakeClock) -> ClockRunner:
    return ClockRunner(clock)


@pytest.fixture(scope="session", autouse=True)
def trial_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where ``honed.testing.trial_task`` logs its runs, for every process that runs trials
    (set before any cluster starts, so that their workers inherit it)."""
    path = tmp_path_factory.mktemp("trial-log") / "runs.log"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(LOG, str(path))
        yield path
