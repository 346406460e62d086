"""Errors the scheduler raises (under honed's one HonedError tree)."""

from __future__ import annotations

from collections.abc import Sequence

from honed.errors import HonedError


class SchedulerError(HonedError):
    """The loop cannot go on: e.g. the optimizer failed to suggest too many times in a row."""


class NotInTrialError(SchedulerError):
    """``honed.scheduler.report()`` was called where no runner runs a trial."""


class FailureRateExceededError(SchedulerError):
    """More trials failed than ``tolerated_trial_failure_rate`` allows.

    ``failures`` lists ``(trial index, trial id, reason)`` of every failed trial.
    """

    def __init__(self, rate: float, tolerated: float, failures: Sequence[tuple[int, str, str]]):
        lines = "\n".join(
            f"  trial {index} (id {tid}): {reason}" for index, tid, reason in failures
        )
        super().__init__(
            f"{len(failures)} failed trials, a failure rate of {rate:.0%} (tolerated: "
            f"{tolerated:.0%}; raise tolerated_trial_failure_rate to tolerate more). "
            f"Failed trials:\n{lines}"
        )
        self.rate = rate
        self.tolerated = tolerated
        self.failures = list(failures)
