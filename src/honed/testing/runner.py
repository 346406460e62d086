"""The runner conformance suite: every ``honed.scheduler.Runner`` must pass it.

Subclass ``RunnerConformance`` in a test module and provide a ``make_runner`` fixture: a
picklable callable (``functools.partial(MyRunner, ...)``) that returns a new runner for
``honed.testing.trial_task`` (the function ``task``, or the command ``COMMAND``: ``{python}
-m honed.testing.trial_task --x {x} --task {task}``), which must get each trial's task; the
crash tests call it in a child process too. Set ``resumable = True`` if a runner made in a
new process can poll and fetch trials another one started (its state lives outside the
process); otherwise such trials must poll as LOST.
Set ``intermediate_values = False`` if the runner cannot pass on what a trial reports
(its polls must then carry no progress, and early stopping never applies to its trials).
A runner that keeps files per trial overrides the ``leftovers`` fixture: a callable that
lists what the runner has on disk (its work directory and everything under it), which must
be nothing once its trials are released and the runner is closed.

The tests count how often each trial ran in the file named by ``HONED_TRIAL_LOG``: set it
in the environment before starting the processes that run trials (clusters included).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import random
import signal
import socket
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
from honed.testing.trial_task import LASTING
from honed.testing.trial_task import LOG
from honed.testing.trial_task import REPORTING
from honed.testing.trial_task import SLOW
from honed.testing.trial_task import STEPS
from honed.testing.trial_task import curve
from honed.testing.trial_task import expected_loss
from honed.testing.trial_task import runs

COMMAND = "{python} -m honed.testing.trial_task --x {x} --task {task}"
DEADLINE_SECONDS = 60.0
FREED_SECONDS = 20.0  # well within a SLOW trial's minute

RunnerFactory = Callable[[], Runner]
Leftovers = Callable[[], list[Path]]

EXPERIMENT = {
    "name": "runner conformance",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "metrics": [{"name": "loss", "objective": "minimize"}],
}


def spec(index: int, x: float, trial_id: str | None = None, task: str | None = None) -> TrialSpec:
    trial_id = trial_id or f"c{index}-{time.monotonic_ns()}"
    # A key of its own, as the scheduler gives: runners must name trials by it.
    return TrialSpec(trial_id, index, {"x": x}, key=f"k{trial_id}", task=task)


def with_metadata(trial: TrialSpec, metadata: Mapping[str, object]) -> TrialSpec:
    return dataclasses.replace(trial, metadata=dict(metadata))


def fresh_x(lasting: bool = False) -> float:
    """An ``x`` no other trial of the session has, so its runs can be counted."""
    return (LASTING if lasting else 0.0) + random.random()


def require_log() -> None:
    assert os.environ.get(LOG), f"set {LOG} to a file path for the processes that run trials"


def launch_and_hang(make_runner: RunnerFactory, trials: list[TrialSpec], out: str) -> None:
    """In a child process: launch ``trials``, write their metadata to ``out``, then wait
    to be killed."""
    runner = make_runner()
    metadata = {trial.id: dict(runner.run(trial)) for trial in trials}
    with open(out + ".tmp", "w") as handle:
        json.dump(metadata, handle)
    os.replace(out + ".tmp", out)
    time.sleep(600)


def launch_in_a_killed_process(
    make_runner: RunnerFactory, trials: list[TrialSpec], tmp_path: Path
) -> list[TrialSpec]:
    """``trials`` launched by a runner in another process, killed (SIGKILL) right after:
    a scheduler that crashed. Returns them with the metadata that process stored."""
    out = tmp_path / "launched.json"
    child = multiprocessing.get_context("spawn").Process(
        target=launch_and_hang, args=(make_runner, trials, str(out))
    )
    child.start()
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not out.exists() and child.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.exists(), f"the child process did not launch the trials ({child.exitcode})"
    finally:
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join()
    stored = json.loads(out.read_text())
    return [with_metadata(t, stored[t.id]) for t in trials]


def capacity_of(runner: Runner) -> int:
    """How many trials the runner takes at once (a few, if it does not say)."""
    capacity = runner.available_capacity()
    return 2 if capacity is None else capacity


def launched(runner: Runner, trial: TrialSpec) -> TrialSpec:
    metadata = runner.run(trial)
    json.dumps(metadata)  # stored with the trial: must be JSON
    return with_metadata(trial, metadata)


def poll_until_done(runner: Runner, trial: TrialSpec, seconds: float = DEADLINE_SECONDS) -> Poll:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        poll = runner.poll([trial])[trial.id]
        if poll.status is not PollStatus.RUNNING:
            return poll
        if not runner.wait(0.2):
            time.sleep(0.05)
    raise AssertionError(f"trial {trial.id} still running after {seconds} s")


def reported(poll: Poll) -> dict[float, float]:
    """The loss curve in a poll's intermediate values."""
    return {
        float(step): value["loss"] if isinstance(value, Mapping) else value
        for step, value in (poll.progress or {}).items()
    }


def poll_until_reported(runner: Runner, trial: TrialSpec) -> Poll:
    """Poll a running trial until its whole curve has come through."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        poll = runner.poll([trial])[trial.id]
        assert poll.status is PollStatus.RUNNING, f"the trial ended: {poll}"
        if len(reported(poll)) == STEPS:
            return poll
        time.sleep(0.1)
    raise AssertionError(f"trial {trial.id} reported {reported(poll)} in {DEADLINE_SECONDS} s")


class RunnerConformance:
    resumable: ClassVar[bool] = False
    intermediate_values: ClassVar[bool] = True

    @pytest.fixture
    def runner(self, make_runner: RunnerFactory) -> Iterator[Runner]:
        runner = make_runner()
        yield runner
        runner.close()

    @pytest.fixture
    def leftovers(self) -> Leftovers:
        """What the runner keeps on disk: nothing, unless a test class says otherwise."""
        return list

    def test_a_trial_runs_and_its_result_is_fetched(self, runner: Runner) -> None:
        trial = launched(runner, spec(0, 0.5))
        assert runner.poll([trial])[trial.id].status in {PollStatus.RUNNING, PollStatus.COMPLETED}
        assert poll_until_done(runner, trial).status is PollStatus.COMPLETED
        values = runner.fetch(trial)
        assert isinstance(values, Mapping)
        assert values["loss"] == pytest.approx(expected_loss(0.5))

    def test_the_trial_is_evaluated_at_its_task(self, runner: Runner) -> None:
        """A multitask trial's task reaches what evaluates it (a function that takes
        ``task``, a command's ``{task}``); a plain trial has none."""
        trials = [launched(runner, spec(22, 0.5, task=task)) for task in ("cheap", None)]
        for trial in trials:
            assert poll_until_done(runner, trial).status is PollStatus.COMPLETED
            values = runner.fetch(trial)
            assert isinstance(values, Mapping)
            assert values["loss"] == pytest.approx(expected_loss(0.5, trial.task))
        assert expected_loss(0.5, "cheap") != expected_loss(0.5)

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
        # What the stopped trial held serves new trials now, not when it would have ended:
        # a full runner's worth of short trials finishes well within SLOW's minute.
        quick = [launched(runner, spec(20 + i, 0.1 * i)) for i in range(capacity_of(runner))]
        for trial in quick:
            assert poll_until_done(runner, trial, FREED_SECONDS).status is PollStatus.COMPLETED
            runner.fetch(trial)

    def test_run_many_and_capacity(self, runner: Runner) -> None:
        capacity = runner.available_capacity()
        assert capacity is None or capacity >= 1
        trials = [spec(3, 0.1), spec(4, FAIL)]
        outcomes = runner.run_many(trials)
        assert set(outcomes) == {t.id for t in trials}
        for trial in trials:
            metadata = outcomes[trial.id]
            assert not isinstance(metadata, Exception)
            done = with_metadata(trial, metadata)
            expected = PollStatus.COMPLETED if trial.index == 3 else PollStatus.FAILED
            assert poll_until_done(runner, done).status is expected
            if expected is PollStatus.COMPLETED:
                # As a scheduler does: a runner may hold a trial (a Ray actor) until then.
                runner.fetch(done)

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

    def test_trials_survive_a_crash_of_the_runners_process(
        self, make_runner: RunnerFactory, tmp_path: Path
    ) -> None:
        """A scheduler killed with trials in flight: a runner in another process takes them
        over from their metadata, and no trial runs twice."""
        require_log()
        # Two trials (the runners under test take two at once): one still running at the
        # kill, one over by then.
        trials = [spec(10, fresh_x(lasting=True)), spec(11, fresh_x())]
        trials = launch_in_a_killed_process(make_runner, trials, tmp_path)
        fresh = make_runner()
        try:
            if not self.resumable:
                polls = fresh.poll(trials)
                assert {p.status for p in polls.values()} == {PollStatus.LOST}
                return
            for trial in trials:
                assert poll_until_done(fresh, trial).status is PollStatus.COMPLETED
                values = fresh.fetch(trial)
                assert isinstance(values, Mapping)
                assert values["loss"] == pytest.approx(expected_loss(trial.assignments["x"]))
        finally:
            fresh.close()
        for trial in trials:
            assert runs(trial.assignments["x"]) == 1

    def test_run_again_adopts_the_launched_trial(
        self, make_runner: RunnerFactory, runner: Runner
    ) -> None:
        """``run`` called again for a trial, as after a crash between launching it and
        storing its metadata: the running trial is adopted, not started twice."""
        require_log()
        trial = spec(13, fresh_x(lasting=True))
        first = runner.run(trial)
        assert runner.run(trial) == first
        if self.resumable:
            fresh = make_runner()  # the resumed scheduler's runner
            try:
                again = with_metadata(trial, fresh.run(trial))
                assert poll_until_done(fresh, again).status is PollStatus.COMPLETED
                values = fresh.fetch(again)
                assert isinstance(values, Mapping)
                assert values["loss"] == pytest.approx(expected_loss(trial.assignments["x"]))
            finally:
                fresh.close()
        else:
            done = poll_until_done(runner, with_metadata(trial, first))
            assert done.status is PollStatus.COMPLETED
        assert runs(trial.assignments["x"]) == 1

    def test_a_new_runner_stops_a_trial_of_the_old_one(
        self, make_runner: RunnerFactory, runner: Runner
    ) -> None:
        """A resumed scheduler stops (TTL, Ctrl-C) a trial it did not start."""
        trial = launched(runner, spec(14, SLOW))
        fresh = make_runner()
        try:
            if not self.resumable:
                fresh.stop(trial, "test")  # harmless, though it cannot reach the trial
                runner.stop(trial, "test")
                return
            assert fresh.poll([trial])[trial.id].status is PollStatus.RUNNING
            fresh.stop(trial, "test")
            deadline = time.monotonic() + DEADLINE_SECONDS
            while runner.poll([trial])[trial.id].status is PollStatus.RUNNING:
                assert time.monotonic() < deadline, "the trial still runs"
                time.sleep(0.1)
            assert runner.poll([trial])[trial.id].status is not PollStatus.COMPLETED
        finally:
            fresh.close()

    def test_intermediate_values_reach_poll(self, runner: Runner) -> None:
        """What a trial reports as it runs comes back from ``poll`` as ``Poll.progress``
        (what early stopping reads), and with its final status too."""
        running = launched(runner, spec(15, REPORTING))
        try:
            done = launched(runner, spec(16, 0.4))
            finished = poll_until_done(runner, done)
            assert finished.status is PollStatus.COMPLETED
            runner.fetch(done)
            if not self.intermediate_values:
                assert finished.progress is None
                assert runner.poll([running])[running.id].progress is None
                return
            assert reported(finished) == pytest.approx(curve(0.4))
            assert reported(poll_until_reported(runner, running)) == pytest.approx(
                curve(REPORTING)
            )
        finally:
            runner.stop(running, "test")

    def test_a_new_runner_polls_what_a_trial_of_a_crashed_one_reported(
        self, make_runner: RunnerFactory, tmp_path: Path
    ) -> None:
        """A scheduler resumed after a crash sees the intermediate values of a trial it
        adopted, also those reported while no scheduler was there: they are kept where
        the trial runs, not in the runner's process."""
        (trial,) = launch_in_a_killed_process(make_runner, [spec(17, REPORTING)], tmp_path)
        fresh = make_runner()
        try:
            if not self.resumable:
                assert fresh.poll([trial])[trial.id].status is PollStatus.LOST
            elif self.intermediate_values:
                polled = reported(poll_until_reported(fresh, trial))
                assert polled == pytest.approx(curve(REPORTING))
            else:
                assert fresh.poll([trial])[trial.id].progress is None
        finally:
            fresh.stop(trial, "test")
            fresh.close()

    def test_release_drops_finished_trials_quietly(
        self, runner: Runner, leftovers: Leftovers
    ) -> None:
        """``release`` after the outcomes are stored; again, as a resumed scheduler does;
        and for a trial never launched (its deployment kept failing)."""
        done = launched(runner, spec(18, 0.6))
        failed = launched(runner, spec(19, FAIL))
        assert poll_until_done(runner, done).status is PollStatus.COMPLETED
        runner.fetch(done)
        assert poll_until_done(runner, failed).status is PollStatus.FAILED
        runner.release([done, failed])
        runner.release([done, failed])
        runner.release([spec(21, 0.1)])
        runner.close()
        assert leftovers() == []

    def test_scheduler_runs_an_experiment(
        self, runner: Runner, leftovers: Leftovers, tmp_path: Path
    ) -> None:
        with Client(str(tmp_path / "honed.db"), optimizers=0) as client:
            options = SchedulerOptions(total_trials=4, max_pending_trials=2)
            scheduler = Scheduler(EXPERIMENT, runner, options, client)
            result = scheduler.run_all_trials()
            assert result.completed == 4
            for trial in scheduler.trials.values():
                assert trial.status is TrialStatus.COMPLETED
                assert trial.values["loss"] == pytest.approx(expected_loss(trial.assignments["x"]))
                if self.intermediate_values:
                    assert trial.progress == pytest.approx(curve(trial.assignments["x"]))
            observations = client.list_observations(scheduler.experiment.id)
            assert len(observations) == 4
            # Every runner says where its trials ran (all of them on this machine here).
            for observation in observations:
                assert (observation.metadata or {}).get("hostname") == socket.gethostname()
            scheduler.close()
        # Every trial's outcome is stored: nothing of them is left where they ran.
        assert leftovers() == []
