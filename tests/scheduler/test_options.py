"""Every SchedulerOption (issue point 4), and Ax's timing faults that honed avoids."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Any

import pytest

from honed.client import Client
from honed.scheduler import EarlyStoppingRule
from honed.scheduler import FakeClock
from honed.scheduler import NoImprovement
from honed.scheduler import PercentileEarlyStopping
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import ThresholdEarlyStopping
from honed.scheduler import TrialStatus
from honed.scheduler.options import LONGEST_POLL_SECONDS
from tests.scheduler.conftest import EXPERIMENT
from tests.scheduler.conftest import ClockRunner


def make(client: Client, runner: ClockRunner, clock: FakeClock, **options: Any) -> Scheduler:
    return Scheduler(EXPERIMENT, runner, SchedulerOptions(**options), client, clock=clock)


def never_ends(assignments: Any) -> None:
    return None


def test_total_trials_counts_failed_trials(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, fail=lambda t: "bad luck" if t.index % 2 else None)
    scheduler = make(client, runner, clock, total_trials=6, tolerated_trial_failure_rate=0.6)
    result = scheduler.run_all_trials()
    assert (result.completed, result.failed) == (3, 3)
    assert len(runner.runs) == 6


def test_max_pending_trials_bounds_parallelism(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    make(client, runner, clock, total_trials=7, max_pending_trials=1).run_all_trials()
    assert runner.max_running == 1
    runner = ClockRunner(clock)
    make(client, runner, clock, total_trials=7, max_pending_trials=3).run_all_trials()
    assert runner.max_running == 3


def test_runner_capacity_is_respected(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, capacity=2)
    make(client, runner, clock, total_trials=6, max_pending_trials=5).run_all_trials()
    assert runner.max_running == 2


def test_ttl_fails_running_trials(client: Client, clock: FakeClock) -> None:
    """Ax 1.3.1 leaves RUNNING trials RUNNING past their TTL (reference fault b)."""
    runner = ClockRunner(clock, duration=never_ends)
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=2,
        ttl_seconds_for_trials=30,
        tolerated_trial_failure_rate=1.0,
    )
    result = scheduler.run_all_trials()
    assert result.failed == 2
    for trial in scheduler.trials.values():
        assert trial.status is TrialStatus.FAILED
        assert "ttl_seconds_for_trials=30" in (trial.reason or "")
        assert trial.id in runner.stopped
        assert trial.ended is not None
        assert trial.started is not None
        assert 30 < trial.ended - trial.started <= 30 + 1


def test_poll_intervals_back_off_and_are_capped(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, duration=lambda a: 1000.0)
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=1,
        init_seconds_between_polls=1,
        seconds_between_polls_backoff_factor=2,
        max_seconds_between_polls=60,
    )
    scheduler.run_all_trials()
    sleeps = clock.sleeps
    assert sleeps[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert max(sleeps) == 60
    assert sum(sleeps) >= 1000


def test_finished_trials_reset_the_backoff(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, duration=lambda a: 100.0 if a["x"] < 0.5 else 7.0)
    make(
        client,
        runner,
        clock,
        total_trials=6,
        max_pending_trials=1,
        init_seconds_between_polls=1,
        seconds_between_polls_backoff_factor=2,
        max_seconds_between_polls=64,
    ).run_all_trials()
    assert clock.sleeps.count(1) >= 6  # every completion starts the backoff again


def test_min_seconds_before_poll(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, duration=lambda a: 1.0)
    make(
        client,
        runner,
        clock,
        total_trials=1,
        min_seconds_before_poll=5,
        init_seconds_between_polls=0.5,
    ).run_all_trials()
    assert len(runner.polls) == 1  # not polled until 5 s after deployment, then done
    assert sum(clock.sleeps) >= 5


def test_deployments_are_not_paced(client: Client, clock: FakeClock) -> None:
    """Ax's default min_seconds_before_poll=1 paces deployments to ~1/s; here ten trials go
    out in one round with no sleep in between."""
    runner = ClockRunner(clock, duration=lambda a: 0.0)
    make(client, runner, clock, total_trials=20, max_pending_trials=10).run_all_trials()
    assert len(runner.runs) == 20
    assert sum(clock.sleeps) < 1.0


def test_run_trials_in_batches_uses_run_many(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock, capacity=2)
    make(
        client, runner, clock, total_trials=3, max_pending_trials=3, run_trials_in_batches=True
    ).run_all_trials()
    assert runner.run_many_calls == 2  # ceil(3 / 2), as in Ax's test_run_trials_in_batches


def test_without_waiting_for_running_trials(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=10,
        max_pending_trials=2,
        wait_for_running_trials=False,
    )
    scheduler.run_n_trials(1)
    assert len(runner.runs) == 1
    assert clock.sleeps == []
    clock.advance(11)
    scheduler.run_n_trials(1)  # polls (trial 0 completes), deploys one more, returns
    assert scheduler.trials[0].status is TrialStatus.COMPLETED
    assert scheduler.trials[1].status is TrialStatus.RUNNING


def test_log_file_and_level(client: Client, clock: FakeClock, tmp_path: Path) -> None:
    log = tmp_path / "scheduler.log"
    runner = ClockRunner(clock)
    with make(
        client, runner, clock, total_trials=1, log_filepath=str(log), logging_level="INFO"
    ) as scheduler:
        scheduler.run_all_trials()
    text = log.read_text()
    assert "trial 0 running" in text
    assert "trial 0 completed" in text
    log.unlink()
    with make(
        client,
        ClockRunner(clock),
        clock,
        total_trials=1,
        log_filepath=str(log),
        logging_level=logging.WARNING,
    ) as scheduler:
        scheduler.run_all_trials()
    assert "trial 0 running" not in log.read_text()


def test_global_stopping_without_improvement(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    runner.fetch = lambda trial: 1.0  # type: ignore[method-assign]  # a flat objective
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=50,
        max_pending_trials=1,
        global_stopping=NoImprovement(window=3, min_trials=6),
    )
    result = scheduler.run_all_trials()
    assert result.completed == 6
    assert (result.stop_reason or "").startswith("global stopping: no improvement")


def test_global_stopping_lets_improving_runs_go_on(client: Client, clock: FakeClock) -> None:
    runner = ClockRunner(clock)
    runner.fetch = lambda trial: 100.0 - trial.index  # type: ignore[method-assign]
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=12,
        max_pending_trials=1,
        global_stopping=NoImprovement(window=3, min_trials=6),
    )
    assert scheduler.run_all_trials().completed == 12


def test_early_stopping_of_trials_reporting_intermediate_values(
    client: Client, clock: FakeClock
) -> None:
    # Loss curves: trial quality is fixed by x (lower is better), 1 step per second.
    def curve(trial: Any, elapsed: float) -> dict[float, float]:
        return {float(s): trial.assignments["x"] + 1 / (s + 1) for s in range(int(elapsed) + 1)}

    runner = ClockRunner(clock, duration=lambda a: 20.0, progress=curve)
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=10,
        max_pending_trials=10,
        init_seconds_between_polls=1,
        seconds_between_polls_backoff_factor=1,
        max_seconds_between_polls=1,
        early_stopping=PercentileEarlyStopping(percentile=50, min_step=5, min_curves=3),
    )
    result = scheduler.run_all_trials()
    stopped = [t for t in scheduler.trials.values() if t.status is TrialStatus.EARLY_STOPPED]
    kept = [t for t in scheduler.trials.values() if t.status is TrialStatus.COMPLETED]
    assert result.early_stopped == len(stopped) >= 3
    assert max(t.assignments["x"] for t in kept) < min(t.assignments["x"] for t in stopped) + 1e-9
    for trial in stopped:
        assert trial.id in runner.stopped
        assert "percentile" in (trial.reason or "")
        assert trial.values["loss"] == trial.progress[max(trial.progress)]
    # Stored as the trial's observation, with its last intermediate value.
    observation = next(
        o
        for o in client.list_observations(scheduler.experiment.id)
        if o.suggestion == stopped[0].id
    )
    assert observation.metadata["honed_status"] == "early_stopped"


def test_the_percentile_reason_reads_right_for_a_minimized_metric() -> None:
    """The rule sees a minimized loss negated; its reason, shown on the dashboard, must not
    say the loss was "below" the others' when it was above them."""
    loss_is_higher = {5.0: -0.13}
    peers = [{5.0: -0.05}, {5.0: -0.06}, {5.0: -0.07}]
    reason = PercentileEarlyStopping(min_step=5).should_stop(loss_is_higher, peers)
    assert reason == (
        "at step 5 its value is worse than the 50th percentile (counted from the worst) "
        "of 3 other trials' values"
    )


def test_a_threshold_is_in_the_metrics_own_units() -> None:
    """``threshold: 0.5`` on a loss stops a trial whose loss rose above 0.5, not every
    trial (the scheduler hands the rule a minimized loss negated)."""
    rule = ThresholdEarlyStopping(threshold=0.5, min_step=1).oriented(-1.0)
    assert rule.should_stop({1.0: -0.3, 2.0: -0.2}, []) is None  # loss 0.2: good
    reason = rule.should_stop({1.0: -0.3, 2.0: -0.8}, [])  # loss 0.8
    assert reason == "at step 2 its value 0.8 is above 0.5"
    maximized = ThresholdEarlyStopping(threshold=0.5, min_step=1).oriented(1.0)
    assert maximized.should_stop({2.0: 0.8}, []) is None
    assert maximized.should_stop({2.0: 0.2}, []) == "at step 2 its value 0.2 is below 0.5"


def test_a_trial_that_reached_max_step_is_left_to_finish() -> None:
    """A trial first polled at its last step has run every epoch: stopping it would throw
    away a complete run and count it as stopped early. ``max_step`` leaves it to finish."""
    last_step_bad = {0.0: -3.0, 1.0: -2.5, 2.0: -2.0}
    peers = [{0.0: 0.0, 1.0: 0.0, 2.0: 0.0}] * 3
    assert (
        ThresholdEarlyStopping(threshold=-1.0, max_step=2).should_stop(last_step_bad, []) is None
    )
    assert PercentileEarlyStopping(max_step=2).should_stop(last_step_bad, peers) is None
    # The same curve before its last step is stopped.
    assert ThresholdEarlyStopping(threshold=-1.0, max_step=3).should_stop(last_step_bad, [])
    assert PercentileEarlyStopping(max_step=3).should_stop(last_step_bad, peers)
    with pytest.raises(ValueError, match=r"max_step \(3\) must exceed min_step \(3\)"):
        ThresholdEarlyStopping(threshold=0.0, min_step=3, max_step=3)


def test_timeout_is_honoured_within_one_poll_interval(client: Client, clock: FakeClock) -> None:
    """Ax checks its timeout only between waiting rounds (overshoot up to ~22 min)."""
    runner = ClockRunner(clock, duration=never_ends)
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=3,
        init_seconds_between_polls=1,
        max_seconds_between_polls=600,
    )
    start = clock.now
    result = scheduler.run_n_trials(timeout=1800)
    assert clock.now - start == pytest.approx(1800)
    assert result.stop_reason == "timeout of 1800 s reached"
    assert result.running == 3  # left running in the store, for a later run to pick up


def test_timeout_zero_runs_nothing(client: Client, runner: ClockRunner, clock: FakeClock) -> None:
    result = make(client, runner, clock, total_trials=3).run_n_trials(timeout=0)
    assert runner.runs == []
    assert result.completed == 0


def test_smallest_poll_interval_never_busy_loops(client: Client, clock: FakeClock) -> None:
    """Ax with init_seconds_between_polls=0 spins forever and ignores its timeout (fault a):
    0 is refused, and the smallest allowed interval still backs off and ends on time."""
    runner = ClockRunner(clock, duration=never_ends)
    scheduler = make(client, runner, clock, total_trials=1, init_seconds_between_polls=1e-6)
    scheduler.run_n_trials(timeout=60)
    assert len(runner.polls) < 60  # backoff grows the waits to max_seconds_between_polls
    assert max(clock.sleeps) == 10.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"init_seconds_between_polls": 0}, "busy loop"),
        ({"init_seconds_between_polls": math.nan}, "init_seconds_between_polls"),
        ({"max_seconds_between_polls": math.inf}, "max_seconds_between_polls"),
        ({"max_seconds_between_polls": LONGEST_POLL_SECONDS + 1}, "max_seconds_between_polls"),
        ({"seconds_between_polls_backoff_factor": 0.5}, "backoff_factor"),
        ({"max_pending_trials": 0}, "max_pending_trials"),
        ({"tolerated_trial_failure_rate": 1.5}, "tolerated_trial_failure_rate"),
        ({"ttl_seconds_for_trials": 0}, "ttl_seconds_for_trials"),
        ({"total_trials": -1}, "total_trials"),
        ({"deploy_attempts": 0}, "deploy_attempts"),
        ({"deploy_backoff_seconds": 0}, "deploy_backoff_seconds"),
        ({"min_seconds_before_poll": -1}, "min_seconds_before_poll"),
        ({"logging_level": "LOUD"}, "logging_level"),
        ({"early_stopping": {"percentile": 50}}, "early_stopping must be an EarlyStoppingRule"),
        ({"global_stopping": 5}, "global_stopping must be a GlobalStoppingRule"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SchedulerOptions(**options)


def test_run_arguments_are_checked(client: Client, runner: ClockRunner, clock: FakeClock) -> None:
    scheduler = make(client, runner, clock)
    with pytest.raises(ValueError, match="nothing would end this run"):
        scheduler.run_n_trials()
    with pytest.raises(ValueError, match="timeout"):
        scheduler.run_n_trials(1, timeout=-1)
    with pytest.raises(ValueError, match="max_trials"):
        scheduler.run_n_trials(-1)
    with pytest.raises(ValueError, match="total_trials"):
        scheduler.run_all_trials()


def test_a_runner_that_always_wakes_cannot_make_the_loop_spin(
    client: Client, clock: FakeClock
) -> None:
    class Restless(ClockRunner):
        def wait(self, timeout: float) -> bool:
            return True  # "something changed", at once, every time

    runner = Restless(clock, duration=never_ends)
    scheduler = make(
        client,
        runner,
        clock,
        total_trials=1,
        init_seconds_between_polls=1,
        max_seconds_between_polls=1,
    )
    scheduler.run_n_trials(timeout=30)
    assert clock.now - 1_700_000_000.0 == pytest.approx(30)
    assert len(runner.polls) <= 4 * 31  # at most 3 idle wake-ups per poll interval


@pytest.mark.parametrize("seed", range(6))
def test_judging_every_running_trial_at_once_gives_each_ones_own_verdict(seed: int) -> None:
    """The Scheduler asks a rule for all running trials at once; the percentile rule reads
    the other curves once per step there. Its verdicts must be the ones each trial gets on
    its own against every other curve (ties, curves that start late or stopped early, and
    steps between others' steps included)."""
    rng = random.Random(seed)
    curves: dict[int, dict[float, float]] = {}
    for index in range(rng.randint(5, 60)):
        first, last = rng.randint(0, 4), rng.randint(0, 12)
        steps = [float(s) for s in range(first, last + 1, rng.choice((1, 1, 2)))]
        curves[index] = {s: round(rng.gauss(-s / 4, 1), 1) for s in steps}
    curves = {index: curve for index, curve in curves.items() if curve}
    judged = rng.sample(sorted(curves), k=len(curves) // 2)
    for rule in (
        PercentileEarlyStopping(percentile=rng.choice((25, 50, 90)), min_step=2, min_curves=3),
        PercentileEarlyStopping(percentile=50, min_step=1, min_curves=1, max_step=10),
        ThresholdEarlyStopping(threshold=-1, min_step=3).oriented(-1.0),
    ):
        one_by_one = EarlyStoppingRule.stop_reasons(rule, judged, curves)
        assert rule.stop_reasons(judged, curves) == one_by_one
        assert one_by_one or seed > 0  # seed 0 stops some: the comparison is not vacuous
