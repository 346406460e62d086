"""The closed loop: ``Scheduler`` deploys an experiment's trials through a ``Runner``."""

from __future__ import annotations

from honed.scheduler.clock import FakeClock
from honed.scheduler.clock import SystemClock
from honed.scheduler.errors import FailureRateExceededError
from honed.scheduler.errors import NotInTrialError
from honed.scheduler.errors import SchedulerError
from honed.scheduler.options import SchedulerOptions
from honed.scheduler.progress import report
from honed.scheduler.results import SchedulerResult
from honed.scheduler.runner import Runner
from honed.scheduler.scheduler import Scheduler
from honed.scheduler.stopping import EarlyStoppingRule
from honed.scheduler.stopping import GlobalStoppingRule
from honed.scheduler.stopping import NoImprovement
from honed.scheduler.stopping import PercentileEarlyStopping
from honed.scheduler.stopping import ThresholdEarlyStopping
from honed.scheduler.trial import Poll
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialSpec
from honed.scheduler.trial import TrialStatus

__all__ = [
    "EarlyStoppingRule",
    "FailureRateExceededError",
    "FakeClock",
    "GlobalStoppingRule",
    "NoImprovement",
    "NotInTrialError",
    "PercentileEarlyStopping",
    "Poll",
    "PollStatus",
    "Runner",
    "Scheduler",
    "SchedulerError",
    "SchedulerOptions",
    "SchedulerResult",
    "SystemClock",
    "ThresholdEarlyStopping",
    "Trial",
    "TrialSpec",
    "TrialStatus",
    "report",
]
