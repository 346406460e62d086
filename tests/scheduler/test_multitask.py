"""The Scheduler on a multitask experiment, on a fake clock: each trial's runner is told
the task of its suggestion, the budget (``total_trials``) is spent in task costs, and the
trials' table and the client show each trial's task. For real: a trial function that
takes ``task`` evaluates each trial at its task in a CallableRunner's worker processes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest

from honed.client import Client
from honed.client import TaskDef
from honed.scheduler import FakeClock
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialSpec
from honed.scheduler.runners import CallableRunner
from honed.scheduler.runners import SubprocessRunner
from tests.scheduler.conftest import EXPERIMENT
from tests.scheduler.conftest import ClockRunner
from tests.scheduler.conftest import loss

TASKS = [{"name": "quarter", "cost": 0.25}, {"name": "full", "cost": 1}]
COST = {"quarter": 0.25, "full": 1.0}
MULTITASK = {**EXPERIMENT, "tasks": TASKS, "observation_budget": 4}
# What the cheap evaluation adds to the loss: a trial's value tells which task it ran at.
BIAS = {"quarter": 0.5, "full": 0.0}


@dataclass
class TaskRunner(ClockRunner):
    """A ClockRunner that notes the task each trial was launched at."""

    tasks: dict[str, str | None] = field(default_factory=dict)

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        self.tasks[trial.id] = trial.task
        return super().run(trial)


def test_trials_run_at_their_tasks_until_the_budget_is_spent_in_cost(
    client: Client, clock: FakeClock
) -> None:
    runner = TaskRunner(clock)
    options = SchedulerOptions(total_trials=4, max_pending_trials=2)
    with Scheduler(MULTITASK, runner, options, client, clock=clock) as scheduler:
        result = scheduler.run_all_trials()
        trials = sorted(scheduler.trials.values(), key=lambda t: t.index)
        experiment_id = scheduler.experiment.id
        frame = scheduler.to_dataframe()
        assert scheduler.report_results()["budget_consumed"] == math.fsum(
            COST[str(t.task)] for t in trials
        )
    assert result.stop_reason == "total_trials=4 reached (in task costs)"
    costs = [COST[str(t.task)] for t in trials]
    # Spent, and by no more than the last round could add: two trials at most of cost 1.
    assert 4 <= math.fsum(costs) < 4 + 2
    assert len(trials) > 4  # the cheap design points cost less than a trial each
    # The design cycles through the tasks, the cheapest first.
    assert [t.task for t in trials[:2]] == ["quarter", "full"]
    assert runner.tasks == {t.id: t.task for t in trials}

    assert list(frame.columns[:5]) == [
        "trial_index",
        "trial_id",
        "status",
        "generation_method",
        "task",
    ]
    assert list(frame["task"]) == [t.task for t in trials]

    fetched = client.fetch_experiment(experiment_id)
    assert fetched.tasks == [TaskDef("full", 1.0), TaskDef("quarter", 0.25)]
    assert fetched.observation_budget_consumed == math.fsum(costs)
    observations = client.list_observations(experiment_id)
    assert sorted((o.suggestion, o.task) for o in observations) == sorted(
        (t.id, t.task) for t in trials
    )
    assert {s.id: s.task for s in client.list_suggestions(experiment_id)} == {
        t.id: t.task for t in trials
    }
    best = client.best_assignments(experiment_id)
    assert [b.task for b in best] == ["full"]


def test_a_plain_experiments_trials_have_no_task(client: Client, clock: FakeClock) -> None:
    runner = TaskRunner(clock)
    options = SchedulerOptions(total_trials=3, max_pending_trials=2)
    with Scheduler(EXPERIMENT, runner, options, client, clock=clock) as scheduler:
        result = scheduler.run_all_trials()
        frame = scheduler.to_dataframe()
    assert result.stop_reason == "total_trials=3 reached"
    assert len(frame) == 3
    assert "task" not in frame.columns
    assert set(runner.tasks.values()) == {None}


def test_a_command_is_given_its_task(tmp_path: Path) -> None:
    runner = SubprocessRunner("echo {task} {x}", workdir=tmp_path)
    runner.prepare(["x"])
    spec = TrialSpec("7", 0, {"x": 0.5}, task="full")
    assert runner.command_for(spec) == "echo full 0.5"
    assert runner.command_for(TrialSpec("8", 1, {"x": 0.5})) == "echo '' 0.5"
    # A parameter of that name wins: a plain experiment's command means the parameter.
    named = SubprocessRunner("echo {task}", workdir=tmp_path)
    named.prepare(["task"])
    assert named.command_for(TrialSpec("9", 2, {"task": 3})) == "echo 3"


def loss_at_task(assignments: dict[str, Any], task: str | None) -> float:
    """A trial function that asks for its task: the quarter evaluation is biased."""
    return loss(assignments) + BIAS[str(task)]


def test_a_function_that_takes_the_task_is_evaluated_at_each_trials_task(
    client: Client, tmp_path: Path
) -> None:
    runner = CallableRunner(loss_at_task, max_workers=2, workdir=tmp_path / "trials")
    options = SchedulerOptions(total_trials=2, max_pending_trials=2)
    with Scheduler(MULTITASK, runner, options, client) as scheduler:
        result = scheduler.run_all_trials()
        trials = list(scheduler.trials.values())
    assert result.completed == len(trials)
    assert {t.task for t in trials} == {"quarter", "full"}
    for trial in trials:
        expected = loss(trial.assignments) + BIAS[str(trial.task)]
        assert trial.values["loss"] == pytest.approx(expected)
