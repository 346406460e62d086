"""Early stopping of real trials: a CallableRunner's trial functions report their loss with
``honed.scheduler.report``, and the scheduler's rule stops the bad ones in their worker
processes, records them EARLY_STOPPED with their last value, and keeps their curves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from honed.client import Client
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import ThresholdEarlyStopping
from honed.scheduler import TrialStatus
from honed.scheduler import report
from honed.scheduler.runners import CallableRunner
from honed.scheduler.runners.durable import alive

EPOCHS = 3
PLATEAU = 10.0
EXPERIMENT = {
    "name": "early stopping",
    "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
    "metrics": [{"name": "loss", "objective": "minimize"}],
}


def bad(x: float) -> bool:
    return x > 0.5


def loss_curve(x: float) -> dict[float, float]:
    """Losses by epoch: falling towards ``x``; runs with ``bad(x)`` plateau far above."""
    return {
        float(epoch): x + 1 / (epoch + 1) + (PLATEAU if bad(x) else 0.0) for epoch in range(EPOCHS)
    }


def train(assignments: dict[str, Any]) -> dict[str, float]:
    """A training run. Bad runs would go on for ten minutes: only early stopping ends
    them within the test."""
    x = assignments["x"]
    for epoch, loss in loss_curve(x).items():
        report(epoch, loss)  # the objective's value, as a bare number
    if bad(x):
        time.sleep(600)
    return {"loss": x}


def test_a_rule_stops_real_trials_that_report_a_bad_curve(tmp_path: Path) -> None:
    database = str(tmp_path / "honed.db")
    runner = CallableRunner(train, max_workers=4, workdir=tmp_path / "trials")
    options = SchedulerOptions(
        total_trials=4,
        max_pending_trials=4,
        max_seconds_between_polls=1,
        # In the metric's units: a loss above 5 at epoch 2 or later.
        early_stopping=ThresholdEarlyStopping(threshold=5.0, min_step=2),
    )
    with Client(database, optimizers=0) as client:
        scheduler = Scheduler(EXPERIMENT, runner, options, client)
        result = scheduler.run_all_trials(timeout=120)
        runner.close()
        trials = list(scheduler.trials.values())
        stopped = [t for t in trials if t.status is TrialStatus.EARLY_STOPPED]
        completed = [t for t in trials if t.status is TrialStatus.COMPLETED]
        # The centre (0.5, good) and the next three points of the experiment's scrambled
        # Sobol' sequence: two bad runs, two good ones.
        assert (len(stopped), len(completed)) == (2, 2)
        assert result.early_stopped == 2
        assert all(bad(t.assignments["x"]) for t in stopped)
        for trial in stopped:
            curve = loss_curve(trial.assignments["x"])
            assert trial.progress == pytest.approx(curve)
            assert trial.values == {"loss": pytest.approx(curve[EPOCHS - 1])}
            assert "at step 2" in (trial.reason or "")
            # Stopped where it ran: its worker process was killed, not left to sleep.
            metadata = trial.runner_metadata
            assert not alive(metadata["pid"], metadata["pid_started"])
        for trial in completed:
            assert trial.values == {"loss": pytest.approx(trial.assignments["x"])}
            assert trial.progress == pytest.approx(loss_curve(trial.assignments["x"]))
        experiment_id = scheduler.experiment.id
        observations = client.list_observations(experiment_id)
        statuses = sorted(o.metadata["honed_status"] for o in observations)
        assert statuses == ["completed", "completed", "early_stopped", "early_stopped"]

    # The store keeps the curves: a scheduler in a new process sees what the runs reported.
    stored = Scheduler.from_stored_experiment(
        experiment_id,
        CallableRunner(train, workdir=tmp_path / "trials"),
        options,
        database,
        optimizers=0,
    )
    with stored:
        for trial in stored.trials.values():
            assert trial.progress == pytest.approx(loss_curve(trial.assignments["x"]))
