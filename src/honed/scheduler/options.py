"""SchedulerOptions: every knob of the loop, validated so that none can make it spin or
wait forever."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from honed.scheduler.stopping import EarlyStoppingRule
from honed.scheduler.stopping import GlobalStoppingRule

# The longest a single wait may last: a run must notice its timeout, Ctrl-C and finished
# trials within this, whatever the backoff says.
LONGEST_POLL_SECONDS = 3600.0


@dataclass(frozen=True)
class SchedulerOptions:
    """Options of ``honed.Scheduler``. Times are in seconds.

    - ``total_trials``: stop once the experiment has this many scheduler trials (failed
      ones included); None: no limit (then give ``run_n_trials`` a count or a timeout).
    - ``max_pending_trials``: trials deployed and not finished at once (the parallelism).
    - ``tolerated_trial_failure_rate``: failed / finished trials above this raises
      ``FailureRateExceededError``, checked once ``min_failed_trials_for_failure_rate_check``
      trials failed and always at the end of a run.
    - ``ttl_seconds_for_trials``: a RUNNING trial older than this is stopped and FAILED.
    - ``init_seconds_between_polls``: first wait after a change; each quiet poll multiplies
      it by ``seconds_between_polls_backoff_factor``, up to ``max_seconds_between_polls``.
    - ``min_seconds_before_poll``: a trial is first polled this long after its deployment
      (deployments themselves are never throttled).
    - ``run_trials_in_batches``: deploy each round's new trials in one ``run_many`` call.
    - ``wait_for_running_trials``: False makes ``run_n_trials`` deploy and return at once
      (one step for cron-style drivers).
    - ``deploy_attempts`` / ``deploy_backoff_seconds``: a failing ``run`` is tried this many
      times, waiting ``backoff * 2**k`` between tries, then the trial fails.
    - ``poll_attempts``: a failing bulk poll is tried this many times, then trials are polled
      one by one; a trial whose own poll keeps failing for ``poll_attempts`` rounds fails.
    - ``fetch_attempts``: polls on which fetching a completed trial's result may fail
      before the trial fails.
    - ``max_suggestion_failures``: consecutive errors from the optimizer (suggestion
      creation) tolerated while no trial runs; then ``SchedulerError``.
    - ``global_stopping``: a GlobalStoppingRule (e.g. ``NoImprovement(window=5)``).
    - ``early_stopping``: an EarlyStoppingRule for trials that report intermediate values.
    - ``log_filepath``, ``logging_level``: the ``honed.scheduler`` logger only.
    """

    total_trials: int | None = None
    max_pending_trials: int = 10
    tolerated_trial_failure_rate: float = 0.5
    min_failed_trials_for_failure_rate_check: int = 5
    ttl_seconds_for_trials: float | None = None
    init_seconds_between_polls: float = 0.02
    min_seconds_before_poll: float = 0.0
    seconds_between_polls_backoff_factor: float = 1.5
    max_seconds_between_polls: float = 10.0
    run_trials_in_batches: bool = False
    wait_for_running_trials: bool = True
    deploy_attempts: int = 3
    deploy_backoff_seconds: float = 1.0
    poll_attempts: int = 3
    fetch_attempts: int = 3
    max_suggestion_failures: int = 5
    global_stopping: GlobalStoppingRule | None = None
    early_stopping: EarlyStoppingRule | None = None
    log_filepath: str | None = None
    logging_level: int | str = logging.INFO

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ValueError(f"SchedulerOptions.{message}")

        def finite(value: float) -> bool:
            return isinstance(value, int | float) and math.isfinite(value)

        need(
            self.total_trials is None or self.total_trials >= 0,
            f"total_trials must be None or >= 0, not {self.total_trials}",
        )
        need(
            self.max_pending_trials >= 1,
            f"max_pending_trials must be at least 1, not {self.max_pending_trials}",
        )
        need(
            finite(self.tolerated_trial_failure_rate)
            and 0 <= self.tolerated_trial_failure_rate <= 1,
            "tolerated_trial_failure_rate must be between 0 and 1, "
            f"not {self.tolerated_trial_failure_rate}",
        )
        need(
            self.min_failed_trials_for_failure_rate_check >= 1,
            "min_failed_trials_for_failure_rate_check must be at least 1",
        )
        need(
            self.ttl_seconds_for_trials is None
            or (finite(self.ttl_seconds_for_trials) and self.ttl_seconds_for_trials > 0),
            f"ttl_seconds_for_trials must be None or > 0, not {self.ttl_seconds_for_trials}",
        )
        need(
            finite(self.init_seconds_between_polls) and self.init_seconds_between_polls > 0,
            "init_seconds_between_polls must be > 0 (0 would poll in a busy loop; "
            f"use e.g. 0.01), not {self.init_seconds_between_polls}",
        )
        need(
            finite(self.max_seconds_between_polls)
            and self.init_seconds_between_polls
            <= self.max_seconds_between_polls
            <= LONGEST_POLL_SECONDS,
            "max_seconds_between_polls must be between init_seconds_between_polls and "
            f"{LONGEST_POLL_SECONDS:g}, not {self.max_seconds_between_polls}",
        )
        need(
            finite(self.seconds_between_polls_backoff_factor)
            and self.seconds_between_polls_backoff_factor >= 1,
            "seconds_between_polls_backoff_factor must be >= 1, "
            f"not {self.seconds_between_polls_backoff_factor}",
        )
        need(
            finite(self.min_seconds_before_poll)
            and 0 <= self.min_seconds_before_poll <= LONGEST_POLL_SECONDS,
            f"min_seconds_before_poll must be between 0 and {LONGEST_POLL_SECONDS:g}",
        )
        for name in ("deploy_attempts", "poll_attempts", "fetch_attempts"):
            need(getattr(self, name) >= 1, f"{name} must be at least 1")
        need(self.max_suggestion_failures >= 1, "max_suggestion_failures must be at least 1")
        need(
            finite(self.deploy_backoff_seconds)
            and 0 < self.deploy_backoff_seconds <= LONGEST_POLL_SECONDS,
            f"deploy_backoff_seconds must be > 0 and <= {LONGEST_POLL_SECONDS:g}",
        )
        need(
            self.global_stopping is None or isinstance(self.global_stopping, GlobalStoppingRule),
            "global_stopping must be a GlobalStoppingRule such as NoImprovement(window=5), "
            f"not {self.global_stopping!r}",
        )
        need(
            self.early_stopping is None or isinstance(self.early_stopping, EarlyStoppingRule),
            "early_stopping must be an EarlyStoppingRule such as "
            f"PercentileEarlyStopping(percentile=50), not {self.early_stopping!r}",
        )
        level = self.logging_level
        need(
            isinstance(level, int) or isinstance(logging.getLevelName(level), int),
            f"logging_level {level!r} is not a logging level",
        )
