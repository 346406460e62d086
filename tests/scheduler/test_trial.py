"""A trial's transitions (``Trial``'s methods), and what going back to PENDING leaves."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

import pytest

from honed.client import Client
from honed.client.models import Suggestion
from honed.scheduler import FakeClock
from honed.scheduler import Poll
from honed.scheduler import PollStatus
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import Trial
from honed.scheduler import TrialSpec
from honed.scheduler import TrialStatus
from tests.scheduler.conftest import EXPERIMENT
from tests.scheduler.conftest import ClockRunner


def running_trial() -> Trial:
    trial = Trial(index=0, id="1", assignments={"x": 0.5}, key="k")
    trial.start({"job": 7}, started=1000.0, now=5.0)
    return trial


def test_start_back_to_pending_and_finish() -> None:
    trial = running_trial()
    assert (trial.status, trial.started, trial.running_since) == (TrialStatus.RUNNING, 1000, 5)
    assert trial.spec().metadata == {"job": 7}
    trial.progress[1.0] = 0.4
    trial.poll_failures = 2
    trial.back_to_pending()
    assert trial.status is TrialStatus.PENDING
    assert (trial.started, trial.running_since, trial.runner_metadata) == (None, None, {})
    assert (trial.progress, trial.poll_failures) == ({}, 0)
    assert (trial.key, trial.assignments) == ("k", {"x": 0.5})  # the same trial, again
    trial.start({"job": 8}, started=2000.0, now=9.0)
    trial.finish(TrialStatus.COMPLETED, ended=2010.0, values={"loss": 0.1})
    assert (trial.status, trial.started, trial.ended) == (TrialStatus.COMPLETED, 2000, 2010)
    assert trial.values == {"loss": 0.1}


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.start({}, started=0.0, now=0.0),
        lambda t: t.back_to_pending(),
        lambda t: t.retry_deployment_at(1.0),
        lambda t: t.finish(TrialStatus.FAILED, ended=0.0),
    ],
)
def test_a_finished_trial_does_not_change(change: object) -> None:
    trial = running_trial()
    trial.finish(TrialStatus.COMPLETED, ended=1010.0, values={"loss": 0.2})
    with pytest.raises(RuntimeError, match="trial 0 is completed"):
        change(trial)  # type: ignore[operator]
    assert (trial.status, trial.values) == (TrialStatus.COMPLETED, {"loss": 0.2})


def test_only_pending_and_running_trials_finish_in_a_terminal_state() -> None:
    trial = Trial(index=0, id="1", assignments={})
    with pytest.raises(RuntimeError, match="trial 0 is pending: it cannot go back to pending"):
        trial.back_to_pending()
    with pytest.raises(ValueError, match="terminal status, not running"):
        trial.finish(TrialStatus.RUNNING, ended=0.0)
    trial.finish(TrialStatus.FAILED, ended=0.0, reason="deployment failed 3 times")
    assert trial.status is TrialStatus.FAILED


def test_a_new_trial_takes_its_suggestion_once() -> None:
    trial = Trial(index=3, id="", assignments={}, key="k")
    suggestion = Suggestion(
        id="9",
        experiment="1",
        state="open",
        created=0,
        assignments={"x": 0.5},
        metadata={},
        source="design",
        task="cheap",
    )
    trial.take(suggestion)
    assert (trial.id, trial.assignments, trial.source, trial.task) == (
        "9",
        {"x": 0.5},
        "design",
        "cheap",
    )
    assert (trial.status, trial.key) == (TrialStatus.PENDING, "k")
    with pytest.raises(RuntimeError, match="trial 3 already has suggestion 9"):
        trial.take(suggestion)


def test_a_rejected_result_fails_the_trial_until_it_is_stored() -> None:
    trial = running_trial()
    trial.finish(TrialStatus.COMPLETED, ended=1010.0, values={"loss": "bad"})  # type: ignore[dict-item]
    trial.reject_result("invalid result")
    assert (trial.status, trial.values, trial.reason) == (TrialStatus.FAILED, {}, "invalid result")
    with pytest.raises(RuntimeError, match="cannot be rejected"):
        trial.reject_result("again")  # a failure has no values to refuse
    stored = running_trial()
    stored.finish(TrialStatus.COMPLETED, ended=1010.0, values={"loss": 0.3})
    stored.observation_id = "9"
    with pytest.raises(RuntimeError, match="and stored"):
        stored.reject_result("too late")


class LosesTrials(ClockRunner):
    """Reports every trial it is asked about as LOST while ``lose`` is set."""

    lose = False

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        polled = super().poll(trials)
        return {tid: Poll(PollStatus.LOST) for tid in polled} if self.lose else polled


@pytest.mark.parametrize("how", ["lost", "interrupted"])
def test_a_trial_back_to_pending_was_not_started(
    client: Client, clock: FakeClock, how: str
) -> None:
    """Lost by its runner or interrupted, a trial goes back to PENDING as if it had never
    run, in memory and in the store: no start time (a TTL and ``start_time`` count from its
    next run), no runner metadata, no intermediate values of the run that ended."""
    # capacity=1: the runner still counts the lost trial, so it is not deployed again at
    # once and its PENDING state can be seen.
    runner = LosesTrials(
        clock, duration=lambda a: 100.0, progress=lambda t, s: {s: 1.0}, capacity=1
    )
    options = SchedulerOptions(total_trials=1, wait_for_running_trials=False)
    scheduler = Scheduler(EXPERIMENT, runner, options, client, clock=clock)
    scheduler.run_n_trials(1)
    clock.advance(5)
    scheduler.run_n_trials(0)  # one poll: the trial reports a step
    trial = scheduler.trials[0]
    assert trial.status is TrialStatus.RUNNING
    assert trial.started is not None
    assert trial.progress == {5.0: 1.0}
    if how == "lost":
        runner.lose = True
        clock.advance(5)
        scheduler.run_n_trials(0)
    else:
        scheduler.interrupt()
    for seen in (trial, Scheduler(scheduler.experiment.id, runner, options, client).trials[0]):
        assert seen.status is TrialStatus.PENDING
        assert (seen.started, seen.runner_metadata, seen.progress) == (None, {}, {})
    clock.advance(5)
    again = ClockRunner(clock)
    resumed = Scheduler.from_stored_experiment(
        scheduler.experiment.id, again, SchedulerOptions(total_trials=1), client, clock=clock
    )
    assert resumed.run_all_trials().completed == 1
    assert resumed.trials[0].started == again.started[trial.id]  # its second run's start
