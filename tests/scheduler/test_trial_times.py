"""A trial's end is when it ended, not when the scheduler next looked: the dashboard's
timeline draws trials from their start to their end, to show stragglers and idle workers."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from honed.client import Client
from honed.client import Suggestion
from honed.scheduler import PollStatus
from honed.scheduler import Runner
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialStatus
from honed.scheduler.runners import CallableRunner
from honed.scheduler.runners import SubprocessRunner
from honed.testing.runner import COMMAND
from honed.testing.runner import fresh_x
from honed.testing.runner import launched
from honed.testing.runner import poll_until_done
from honed.testing.runner import spec
from honed.testing.trial_task import task
from tests.scheduler.conftest import EXPERIMENT

SLOW_SUGGESTION_SECONDS = 5.0


class SlowSuggestions(Client):
    """Past the first two, a suggestion takes a while, as one waiting for a fresh model
    point does (up to --candidate-wait); the scheduler polls nothing meanwhile."""

    handed_out = 0

    def create_suggestion(self, *args: Any, **kwargs: Any) -> Suggestion:
        self.handed_out += 1
        if self.handed_out > 2:
            time.sleep(SLOW_SUGGESTION_SECONDS)
        return super().create_suggestion(*args, **kwargs)


def test_a_trial_that_ends_while_the_scheduler_waits_keeps_its_own_end(
    sqlite_url: str, tmp_path: Path
) -> None:
    # Trial 0 sleeps 0.1 s, trial 1 1 s: trial 0's end starts the slow third suggestion, and
    # trial 1 ends while the scheduler waits for it.
    command = (
        f'{sys.executable} -c "import time; time.sleep(0.1 + 0.9 * {{trial_index}}); '
        'print(\'{{\\"loss\\": 1}}\')"'
    )
    runner = SubprocessRunner(command, workdir=tmp_path / "trials")
    options = SchedulerOptions(total_trials=3, max_pending_trials=2)
    with (
        SlowSuggestions(sqlite_url, optimizers=0) as client,
        Scheduler(EXPERIMENT, runner, options, client) as scheduler,
    ):
        scheduler.run_all_trials(timeout=120)
        trial = scheduler.trials[1]
        assert trial.status is TrialStatus.COMPLETED
        assert trial.started is not None
        assert trial.ended is not None
        # About 1 s (and the interpreter's start), not the 5 s the suggestion took.
        assert trial.ended - trial.started < SLOW_SUGGESTION_SECONDS - 1.5
        stored = client.list_observations(scheduler.experiment.id)
        ended = {o.metadata["honed_trial"]: o.metadata["honed_ended"] for o in stored}
        assert ended[1] == trial.ended


@pytest.mark.parametrize("kind", ["subprocess", "callable"])
def test_the_local_runners_say_when_a_trial_ended(kind: str, tmp_path: Path) -> None:
    runner: Runner = (
        SubprocessRunner(COMMAND, workdir=tmp_path / "trials")
        if kind == "subprocess"
        else CallableRunner(task, max_workers=1, workdir=tmp_path / "trials")
    )
    try:
        trial = launched(runner, spec(0, fresh_x()))
        first = poll_until_done(runner, trial)
        time.sleep(2)  # a scheduler busy elsewhere polls again later
        again = runner.poll([trial])[trial.id]
    finally:
        runner.close()
    assert again.status is PollStatus.COMPLETED
    assert first.ended is not None
    assert again.ended == first.ended
    assert again.ended < time.time() - 1.5
