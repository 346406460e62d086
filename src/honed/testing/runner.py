"""The runner conformance suite: every ``honed.scheduler.Runner`` must pass it.

Subclass ``RunnerConformance`` in a test module and provide a ``make_runner`` fixture: a
callable that returns a new runner for ``honed.testing.trial_task`` (the function ``task``,
or the command ``{python} -m honed.testing.trial_task --x {x}``). Set ``resumable = True``
if a runner made in a new process can poll and fetch trials another one started (its
state lives outside the process); otherwise such trials must poll as LOST.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from honed.client import Client
from honed.scheduler import Poll
from honed.scheduler import PollStatus
from honed.scheduler import Runner
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialSpec
from honed.scheduler import TrialStatus
from honed.testing.trial_task import FAIL
from honed.testing.trial_task import SLOW
from honed.testing.trial_task import expected_loss

COMMAND = "{python} -m honed.testing.trial_task --x {x}"
DEADLINE_SECONDS = 60.0

RunnerFactory = Callable[[], Runner]

EXPERIMENT = {
    "name": "runner conformance",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "metrics": [{"name": "loss", "objective": "minimize"}],
}


def spec(index: int, x: float, trial_id: str | None = None) -> TrialSpec:
    return TrialSpec(trial_id or f"c{index}-{time.monotonic_ns()}", index, {"x": x})


def launched(runner: Runner, trial: TrialSpec) -> TrialSpec:
    metadata = runner.run(trial)
    json.dumps(metadata)  # stored with the trial: must be JSON
    return TrialSpec(trial.id, trial.index, trial.assignments, dict(metadata))


def poll_until_done(runner: Runner, trial: TrialSpec) -> Poll:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        poll = runner.poll([trial])[trial.id]
        if poll.status is not PollStatus.RUNNING:
            return poll
        if not runner.wait(0.2):
            time.sleep(0.05)
    raise AssertionError(f"trial {trial.id} still running after {DEADLINE_SECONDS} s")


class RunnerConformance:
    resumable: ClassVar[bool] = False

    @pytest.fixture
    def runner(self, make_runner: RunnerFactory) -> Iterator[Runner]:
        runner = make_runner()
        yield runner
        runner.close()

    def test_a_trial_runs_and_its_result_is_fetched(self, runner: Runner) -> None:
        trial = launched(runner, spec(0, 0.5))
        assert runner.poll([trial])[trial.id].status in {PollStatus.RUNNING, PollStatus.COMPLETED}
        assert poll_until_done(runner, trial).status is PollStatus.COMPLETED
        values = runner.fetch(trial)
        assert isinstance(values, Mapping)
        assert values["loss"] == pytest.approx(expected_loss(0.5))

    def test_a_failure_carries_its_reason(self, runner: Runner) -> None:
        trial = launched(runner, spec(1, FAIL))
        poll = poll_until_done(runner, trial)
        assert poll.status is PollStatus.FAILED
        assert "deliberate failure for x=-1.0" in (poll.reason or "")

    def test_stop_ends_a_running_trial(self, runner: Runner) -> None:
        trial = launched(runner, spec(2, SLOW))
        runner.stop(trial, "test")
        started = time.monotonic()
        poll = runner.poll([trial])[trial.id]
        while poll.status is PollStatus.RUNNING and time.monotonic() - started < 20:
            time.sleep(0.1)
            poll = runner.poll([trial])[trial.id]
        assert poll.status is not PollStatus.RUNNING
        assert poll.status is not PollStatus.COMPLETED
        runner.stop(trial, "again")  # stopping an ended trial is harmless

    def test_run_many_and_capacity(self, runner: Runner) -> None:
        capacity = runner.available_capacity()
        assert capacity is None or capacity >= 1
        trials = [spec(3, 0.1), spec(4, FAIL)]
        outcomes = runner.run_many(trials)
        assert set(outcomes) == {t.id for t in trials}
        for trial in trials:
            metadata = outcomes[trial.id]
            assert not isinstance(metadata, Exception)
            done = TrialSpec(trial.id, trial.index, trial.assignments, dict(metadata))
            expected = PollStatus.COMPLETED if trial.index == 3 else PollStatus.FAILED
            assert poll_until_done(runner, done).status is expected

    def test_a_new_runner_sees_trials_of_the_old_one(
        self, make_runner: RunnerFactory, runner: Runner
    ) -> None:
        """What a scheduler resumed in a new process sees."""
        trial = launched(runner, spec(5, 0.2))
        assert poll_until_done(runner, trial).status is PollStatus.COMPLETED
        fresh = make_runner()
        try:
            poll = fresh.poll([trial])[trial.id]
            if self.resumable:
                assert poll.status is PollStatus.COMPLETED
                values = fresh.fetch(trial)
                assert isinstance(values, Mapping)
                assert values["loss"] == pytest.approx(expected_loss(0.2))
            else:
                assert poll.status is PollStatus.LOST
        finally:
            fresh.close()

    def test_scheduler_runs_an_experiment(self, runner: Runner, tmp_path: Path) -> None:
        with Client(str(tmp_path / "honed.db"), optimizers=0) as client:
            options = SchedulerOptions(total_trials=4, max_pending_trials=2)
            scheduler = Scheduler(EXPERIMENT, runner, options, client)
            result = scheduler.run_all_trials()
            assert result.completed == 4
            for trial in scheduler.trials.values():
                assert trial.status is TrialStatus.COMPLETED
                assert trial.values["loss"] == pytest.approx(expected_loss(trial.assignments["x"]))
            assert len(client.list_observations(scheduler.experiment.id)) == 4
