"""Failures (issue point 5) and resuming (point 6), and Ax's failure faults honed avoids."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import pytest

from honed.client import Client
from honed.client import Suggestion
from honed.errors import ServiceUnavailableError
from honed.scheduler import FailureRateExceededError
from honed.scheduler import FakeClock
from honed.scheduler import Poll
from honed.scheduler import PollStatus
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerError
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialSpec
from honed.scheduler import TrialStatus
from tests.scheduler.conftest import EXPERIMENT
from tests.scheduler.conftest import ClockRunner


def make(client: Client, runner: ClockRunner, clock: FakeClock, **options: Any) -> Scheduler:
    return Scheduler(EXPERIMENT, runner, SchedulerOptions(**options), client, clock=clock)


class FlakyDeploy(ClockRunner):
    """``run`` fails ``failures[index]`` times for a trial before it starts."""

    failures: dict[int, int]
    attempts: dict[int, int]

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        self.attempts[trial.index] = self.attempts.get(trial.index, 0) + 1
        if self.attempts[trial.index] <= self.failures.get(trial.index, 0):
            raise ConnectionError(f"cluster refused trial {trial.index}")
        return super().run(trial)


def test_deploy_errors_are_retried_with_backoff(client: Client, clock: FakeClock) -> None:
    runner = FlakyDeploy(clock)
    runner.failures, runner.attempts = {0: 2}, {}
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=1,
        deploy_attempts=3,
        deploy_backoff_seconds=4,
        init_seconds_between_polls=100,
        max_seconds_between_polls=100,
    )
    scheduler.run_all_trials()
    assert runner.attempts == {0: 3}
    assert scheduler.trials[0].status is TrialStatus.COMPLETED
    assert clock.sleeps[:2] == [4, 8]  # backoff 4 s then 8 s, not the 100 s poll interval


def test_a_trial_that_cannot_deploy_fails_alone(client: Client, clock: FakeClock) -> None:
    """Ax re-raises the deploy error and the whole run ends."""
    runner = FlakyDeploy(clock)
    runner.failures, runner.attempts = {1: 99}, {}
    scheduler = make(client, runner, clock, total_trials=4, deploy_attempts=2)
    result = scheduler.run_all_trials()
    assert (result.completed, result.failed) == (3, 1)
    assert runner.attempts[1] == 2
    reason = scheduler.trials[1].reason or ""
    assert "deployment failed 2 times" in reason
    assert "cluster refused trial 1" in reason


class BrokenBulkPoll(ClockRunner):
    """Polling several trials at once always fails; one at a time works, except for the
    trials in ``unpollable``."""

    unpollable: set[int]

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        if len(trials) > 1:
            raise TimeoutError("bulk status API timed out")
        if trials[0].index in self.unpollable:
            raise TimeoutError(f"no status for trial {trials[0].index}")
        return super().poll(trials)


def test_poll_errors_fall_back_to_polling_trial_by_trial(client: Client, clock: FakeClock) -> None:
    runner = BrokenBulkPoll(clock)
    runner.unpollable = set()
    result = make(client, runner, clock, total_trials=4, max_pending_trials=4).run_all_trials()
    assert result.completed == 4


def test_an_unpollable_trial_fails_after_its_attempts(client: Client, clock: FakeClock) -> None:
    """Ax marks a trial ABANDONED at its first failed single poll; here it gets
    ``poll_attempts`` rounds and fails with the error as its reason."""
    runner = BrokenBulkPoll(clock)
    runner.unpollable = {2}
    scheduler = make(client, runner, clock, total_trials=4, max_pending_trials=4, poll_attempts=3)
    result = scheduler.run_all_trials()
    assert (result.completed, result.failed) == (3, 1)
    assert "could not be polled 3 times" in (scheduler.trials[2].reason or "")
    assert "no status for trial 2" in (scheduler.trials[2].reason or "")
    assert scheduler.trials[2].id in runner.stopped


def test_fetch_errors_are_retried_before_the_trial_fails(client: Client, clock: FakeClock) -> None:
    """Ax abandons a trial whose objective fetch fails once."""
    runner = ClockRunner(clock)
    calls: dict[str, int] = {}

    def fetch(trial: TrialSpec) -> float:
        calls[trial.id] = calls.get(trial.id, 0) + 1
        if trial.index == 0 and calls[trial.id] < 3:
            raise OSError("metrics store busy")
        if trial.index == 1:
            raise OSError("result file missing")
        return 1.0

    runner.fetch = fetch  # type: ignore[method-assign]
    scheduler = make(client, runner, clock, total_trials=2, fetch_attempts=3)
    scheduler.run_all_trials()
    assert scheduler.trials[0].status is TrialStatus.COMPLETED
    assert scheduler.trials[1].status is TrialStatus.FAILED
    assert "result file missing" in (scheduler.trials[1].reason or "")


def test_failure_rate_exceeded_names_trials_and_reasons(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(
        clock, fail=lambda t: f"CUDA out of memory in trial {t.index}" if t.index < 2 else None
    )
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=10,
        max_pending_trials=1,
        tolerated_trial_failure_rate=0.5,
        min_failed_trials_for_failure_rate_check=2,
    )
    with pytest.raises(FailureRateExceededError) as raised:
        scheduler.run_all_trials()
    message = str(raised.value)
    assert "trial 0" in message
    assert "CUDA out of memory in trial 1" in message
    assert [f[0] for f in raised.value.failures] == [0, 1]
    assert len(runner.runs) == 2  # stopped as soon as the rate was known to be exceeded
    # The failures are stored as failed observations with their reasons.
    stored = client.list_observations(scheduler.experiment.id)
    assert [o.failed for o in stored] == [True, True]
    assert stored[0].metadata["honed_reason"] == "CUDA out of memory in trial 0"


def test_failure_rate_is_checked_at_the_end(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, fail=lambda t: "boom" if t.index == 0 else None)
    scheduler = make(client, runner, clock, total_trials=1)
    with pytest.raises(FailureRateExceededError, match="boom"):
        scheduler.run_all_trials()


def test_a_resumed_run_counts_only_its_own_failures(client: Client, clock: FakeClock) -> None:
    """A command that crashed, then fixed: running it again resumes the experiment and runs
    its remaining trials, as Ax counts only the trials of the scheduler at hand. The failures
    before the resume ended every resumed run at once with the old error ("Fix the command")
    before it deployed anything."""
    crashing = ClockRunner(clock, fail=lambda t: "ZeroDivisionError")
    first = make(client, crashing, clock, total_trials=20, max_pending_trials=1)
    with pytest.raises(FailureRateExceededError):
        first.run_all_trials()
    assert len(crashing.runs) == 5  # min_failed_trials_for_failure_rate_check
    fixed = ClockRunner(clock)
    options = SchedulerOptions(total_trials=20, max_pending_trials=1)
    resumed = Scheduler(first.experiment.id, fixed, options, client, clock=clock)
    result = resumed.run_all_trials()
    assert len(fixed.runs) == 15  # the rest of total_trials
    assert result.completed == 15
    # A resumed run whose own trials fail still stops, and names only its own failures.
    options = SchedulerOptions(total_trials=30, max_pending_trials=1)
    broken = ClockRunner(clock, fail=lambda t: "still broken")
    again = Scheduler(first.experiment.id, broken, options, client, clock=clock)
    with pytest.raises(FailureRateExceededError) as raised:
        again.run_all_trials()
    assert [f[0] for f in raised.value.failures] == [20, 21, 22, 23, 24]


class OptimizerDown(Client):
    """The server's suggestion endpoint keeps failing (as when its database is gone)."""

    def create_suggestion(self, *args: Any, **kwargs: Any) -> Suggestion:
        raise ServiceUnavailableError("the database cannot be reached")


def test_optimizer_errors_never_loop_forever(sqlite_url: str, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    with OptimizerDown(sqlite_url) as client:
        scheduler = make(client, runner, clock, total_trials=5, max_suggestion_failures=4)
        with pytest.raises(SchedulerError, match="no suggestion after 4 attempts"):
            scheduler.run_all_trials()
    assert runner.runs == []
    assert sum(clock.sleeps) < 10


def test_an_exhausted_search_space_ends_the_run(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    tiny = {
        "name": "tiny",
        "parameters": [{"name": "c", "type": "categorical", "categorical_values": ["a", "b"]}],
        "metrics": [{"name": "loss", "objective": "minimize"}],
    }
    runner.fetch = lambda trial: 1.0  # type: ignore[method-assign]
    scheduler = Scheduler(tiny, runner, SchedulerOptions(total_trials=5), client, clock=clock)
    result = scheduler.run_all_trials()
    assert result.completed == 2
    assert result.stop_reason == "the search space has no free point left"


def test_invalid_results_become_failed_trials(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    runner.fetch = lambda trial: {"accuracy": 1.0}  # type: ignore[method-assign]
    scheduler = make(client, runner, clock, total_trials=1, tolerated_trial_failure_rate=1.0)
    scheduler.run_all_trials()
    assert scheduler.trials[0].status is TrialStatus.FAILED
    assert "invalid result {'accuracy': 1.0}" in (scheduler.trials[0].reason or "")


# --- persistence and resume ---------------------------------------------------------------


def test_resume_polls_running_trials_instead_of_rerunning(
    client: Client, clock: FakeClock
) -> None:
    runner = ClockRunner(clock)
    first = make(
        client,
        runner,
        clock,
        total_trials=6,
        max_pending_trials=3,
        wait_for_running_trials=False,
    )
    first.run_n_trials(3)
    assert len(runner.runs) == 3
    experiment_id = first.experiment.id
    del first  # the process "dies": no interrupt, no cleanup

    clock.advance(5)
    resumed = Scheduler.from_stored_experiment(
        experiment_id,
        runner,
        SchedulerOptions(total_trials=6, max_pending_trials=3),
        client,
        clock=clock,
    )
    assert [t.status for t in resumed.trials.values()] == [TrialStatus.RUNNING] * 3
    assert all(t.runner_metadata["job"] == f"job-{t.id}" for t in resumed.trials.values())
    result = resumed.run_all_trials()
    assert result.completed == 6
    assert len(runner.runs) == len(set(runner.runs)) == 6  # nothing ran twice


class StoreWatchingRunner(ClockRunner):
    """Notes, for each trial it is told to release, whether the store had its outcome."""

    client: Client
    stored_when_released: dict[str, bool]

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        if trial.index == 4:
            raise ConnectionError("the cluster refuses trial 4")
        return super().run(trial)

    def release(self, trials: Sequence[TrialSpec]) -> None:
        super().release(trials)
        (experiment,) = self.client.list_experiments()
        stored = {o.suggestion for o in self.client.list_observations(experiment.id)}
        for trial in trials:
            self.stored_when_released[trial.id] = trial.id in stored


def test_finished_trials_are_released_once_their_outcomes_are_stored(
    client: Client, clock: FakeClock
) -> None:
    """Completed, failed, timed out, and failed to deploy: each is released once, after its
    observation is stored, never while it may still be polled."""
    runner = StoreWatchingRunner(
        clock,
        duration=lambda a: None if a["x"] == 0.5 else 10.0,  # the centre point never ends
        fail=lambda t: "bad" if t.index == 1 else None,
    )
    runner.client, runner.stored_when_released = client, {}
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=5,
        max_pending_trials=2,
        ttl_seconds_for_trials=60,
        tolerated_trial_failure_rate=1.0,
    )
    result = scheduler.run_all_trials()
    assert (result.completed, result.failed) == (2, 3)
    assert sorted(runner.released) == sorted(t.id for t in scheduler.trials.values())
    assert all(runner.stored_when_released.values())


def test_a_resumed_run_releases_what_was_stored_but_not_released(
    client: Client, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash between storing trials and releasing them (here: release fails) leaves
    their files; the resumed scheduler's first run releases every finished trial again."""
    failing = ClockRunner(clock)
    failing.release = lambda trials: 1 / 0  # type: ignore[assignment,method-assign]
    first = make(client, failing, clock, total_trials=2)
    assert first.run_all_trials().completed == 2  # a release that fails ends no run
    assert "could not release" in caplog.text
    assert "ZeroDivisionError" in caplog.text

    runner = ClockRunner(clock)
    resumed = Scheduler.from_stored_experiment(
        first.experiment.id, runner, SchedulerOptions(total_trials=3), client, clock=clock
    )
    assert runner.released == []  # loading alone releases nothing
    resumed.run_all_trials()
    ids = [t.id for t in resumed.trials.values()]
    assert runner.released == ids  # the two loaded ones first, then the new one
    resumed.run_n_trials(0)
    assert runner.released == ids  # once per scheduler


def test_resume_redeploys_a_trial_whose_deployment_was_interrupted(
    client: Client, clock: FakeClock
) -> None:
    runner = ClockRunner(clock)
    scheduler = make(client, runner, clock, total_trials=2)
    # Crash between creating trial 0's suggestion and its deployment: it is stored PENDING.
    scheduler._deployer.create(1)
    resumed = Scheduler.from_stored_experiment(
        scheduler.experiment.id, runner, SchedulerOptions(total_trials=2), client, clock=clock
    )
    assert resumed.trials[0].status is TrialStatus.PENDING
    resumed.run_all_trials()
    assert [t.status for t in resumed.trials.values()] == [TrialStatus.COMPLETED] * 2
    assert runner.runs == [resumed.trials[0].id, resumed.trials[1].id]


def test_resume_keeps_finished_trials_and_progress(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, fail=lambda t: "bad" if t.index == 1 else None)
    scheduler = make(client, runner, clock, total_trials=3, tolerated_trial_failure_rate=1.0)
    scheduler.run_all_trials()
    before = scheduler.to_dataframe()
    resumed = Scheduler.from_stored_experiment(
        scheduler.experiment.id, runner, SchedulerOptions(total_trials=3), client, clock=clock
    )
    after = resumed.to_dataframe()
    columns = ["trial_index", "trial_id", "status", "x", "y", "loss", "reason"]
    assert before[columns].equals(after[columns])
    assert list(after["runner_metadata"]) == list(before["runner_metadata"])


def test_lost_trials_are_deployed_again(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    lost_once: set[str] = set()
    original = runner.poll

    def poll(trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        result = dict(original(trials))
        for trial in trials:
            if trial.index == 0 and trial.id not in lost_once:
                lost_once.add(trial.id)
                result[trial.id] = Poll(PollStatus.LOST)
        return result

    runner.poll = poll  # type: ignore[method-assign]
    scheduler = make(client, runner, clock, total_trials=2)
    assert scheduler.run_all_trials().completed == 2
    assert runner.runs.count(scheduler.trials[0].id) == 2


def test_interrupt_returns_running_trials_to_pending(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    scheduler = make(client, runner, clock, total_trials=2, wait_for_running_trials=False)
    scheduler.run_n_trials(2)
    scheduler.interrupt()
    assert set(runner.stopped) == {t.id for t in scheduler.trials.values()}
    resumed = Scheduler.from_stored_experiment(
        scheduler.experiment.id,
        ClockRunner(clock),
        SchedulerOptions(total_trials=2),
        client,
        clock=clock,
    )
    assert [t.status for t in resumed.trials.values()] == [TrialStatus.PENDING] * 2
    assert resumed.run_all_trials().completed == 2
