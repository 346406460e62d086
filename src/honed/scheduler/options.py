"""SchedulerOptions: every knob of the loop, validated so that none can make it spin or
wait forever. Each rule stands beside its field; a refused value raises ValueError naming
the option."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator
from pydantic import model_validator
from pydantic_core import ErrorDetails

from honed.scheduler.stopping import EarlyStoppingRule
from honed.scheduler.stopping import GlobalStoppingRule

# The longest a single wait may last: a run must notice its timeout, Ctrl-C and finished
# trials within this, whatever the backoff says.
LONGEST_POLL_SECONDS = 3600.0


class SchedulerOptions(BaseModel):
    """Options of ``honed.Scheduler``, given as keywords; times are in seconds. Each field's
    description says what it does (``SchedulerOptions.model_fields``)."""

    # Strict: a string or a float is not silently taken for a count.
    model_config = ConfigDict(
        frozen=True, strict=True, extra="forbid", arbitrary_types_allowed=True
    )

    total_trials: int | None = Field(
        None,
        ge=0,
        description="stop once the experiment has this many scheduler trials (failed ones "
        "included; a multitask experiment's count their tasks' costs, as its budget does); "
        "None: no limit (then give run_n_trials a count or a timeout)",
    )
    max_pending_trials: int = Field(
        10, ge=1, description="trials deployed and not finished at once (the parallelism)"
    )
    tolerated_trial_failure_rate: float = Field(
        0.5,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="failed / finished trials above this raises FailureRateExceededError, "
        "checked once min_failed_trials_for_failure_rate_check trials failed and always at "
        "the end of a run; of this scheduler's trials (those that ended before a resume "
        "do not count, as in Ax)",
    )
    min_failed_trials_for_failure_rate_check: int = Field(
        5, ge=1, description="failed trials before the failure rate is checked during a run"
    )
    ttl_seconds_for_trials: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="a RUNNING trial older than this is stopped and FAILED; None: no limit",
    )
    init_seconds_between_polls: float = Field(
        0.02,
        gt=0,
        allow_inf_nan=False,
        description="first wait after a change; each quiet poll multiplies it by "
        "seconds_between_polls_backoff_factor, up to max_seconds_between_polls (0 would "
        "poll in a busy loop; use e.g. 0.01)",
    )
    min_seconds_before_poll: float = Field(
        0.0,
        ge=0,
        le=LONGEST_POLL_SECONDS,
        allow_inf_nan=False,
        description="a trial is first polled this long after its deployment (deployments "
        "themselves are never throttled)",
    )
    seconds_between_polls_backoff_factor: float = Field(
        1.5,
        ge=1,
        allow_inf_nan=False,
        description="what each quiet poll multiplies the wait by",
    )
    max_seconds_between_polls: float = Field(
        10.0,
        le=LONGEST_POLL_SECONDS,
        allow_inf_nan=False,
        description="the longest wait between polls, at least init_seconds_between_polls",
    )
    run_trials_in_batches: bool = Field(
        False, description="deploy each round's new trials in one Runner.run_many call"
    )
    wait_for_running_trials: bool = Field(
        True,
        description="False makes run_n_trials deploy and return at once (one step for "
        "cron-style drivers)",
    )
    deploy_attempts: int = Field(
        3,
        ge=1,
        description="a failing Runner.run is tried this many times, waiting "
        "deploy_backoff_seconds * 2**k between tries, then the trial fails",
    )
    deploy_backoff_seconds: float = Field(
        1.0,
        gt=0,
        le=LONGEST_POLL_SECONDS,
        allow_inf_nan=False,
        description="the first wait before a failed deployment is tried again",
    )
    poll_attempts: int = Field(
        3,
        ge=1,
        description="a failing bulk poll is tried this many times, then trials are polled "
        "one by one; a trial whose own poll keeps failing for this many rounds fails",
    )
    fetch_attempts: int = Field(
        3,
        ge=1,
        description="polls on which fetching a completed trial's result may fail before "
        "the trial fails",
    )
    max_suggestion_failures: int = Field(
        5,
        ge=1,
        description="consecutive errors from the optimizer (suggestion creation) tolerated "
        "while no trial runs; then SchedulerError",
    )
    global_stopping: GlobalStoppingRule | None = Field(
        None,
        description="a GlobalStoppingRule that ends the run, e.g. NoImprovement(window=5)",
    )
    early_stopping: EarlyStoppingRule | None = Field(
        None,
        description="an EarlyStoppingRule for trials that report intermediate values",
    )
    log_filepath: str | None = Field(
        None, description="a file the honed.scheduler logger also writes to"
    )
    logging_level: int | str = Field(
        logging.INFO, description="the level of the honed.scheduler logger"
    )

    if not TYPE_CHECKING:
        # Hidden from mypy, whose pydantic plugin then checks keyword arguments by field.
        def __init__(self, **options: Any) -> None:
            try:
                super().__init__(**options)
            except ValidationError as error:
                raise ValueError(_explain(error)) from None

    @field_validator("global_stopping", mode="before")
    @classmethod
    def _global_rule(cls, rule: object) -> object:
        if rule is not None and not isinstance(rule, GlobalStoppingRule):
            raise ValueError(
                f"must be a GlobalStoppingRule such as NoImprovement(window=5), not {rule!r}"
            )
        return rule

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _early_rule(cls, rule: object) -> object:
        if rule is not None and not isinstance(rule, EarlyStoppingRule):
            raise ValueError(
                "must be an EarlyStoppingRule such as PercentileEarlyStopping(percentile=50), "
                f"not {rule!r}"
            )
        return rule

    @field_validator("logging_level")
    @classmethod
    def _level(cls, level: int | str) -> int | str:
        if not isinstance(level, int) and not isinstance(logging.getLevelName(level), int):
            raise ValueError(f"must be a logging level such as 'INFO' or 20, not {level!r}")
        return level

    @model_validator(mode="after")
    def _polls_back_off_upwards(self) -> SchedulerOptions:
        if self.max_seconds_between_polls < self.init_seconds_between_polls:
            raise ValueError(
                "max_seconds_between_polls must be between init_seconds_between_polls "
                f"({self.init_seconds_between_polls:g}) and {LONGEST_POLL_SECONDS:g}, "
                f"not {self.max_seconds_between_polls:g}"
            )
        return self


def _explain(error: ValidationError) -> str:
    """pydantic's errors as sentences that name each option, its rule and its doc."""
    return "; ".join(_sentence(detail) for detail in error.errors(include_url=False))


def _sentence(detail: ErrorDetails) -> str:
    name = str(detail["loc"][0]) if detail["loc"] else ""
    if detail["type"] == "extra_forbidden":
        return f"SchedulerOptions has no option {name}"
    if detail["type"] == "value_error":
        message = str(detail.get("ctx", {}).get("error", detail["msg"]))
        return f"SchedulerOptions.{name} {message}" if name else f"SchedulerOptions.{message}"
    rule = detail["msg"].replace("Input should be", "must be")
    field = SchedulerOptions.model_fields.get(name)
    doc = f": {field.description}" if field and field.description else ""
    return f"SchedulerOptions.{name} {rule}, not {detail['input']!r}{doc}"
