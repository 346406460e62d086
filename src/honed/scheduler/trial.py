"""Trials: what the scheduler tracks, and the plain data a Runner sees."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum
from typing import Any

from honed.client.models import Suggestion
from honed.client.models import SuggestionModel


class TrialStatus(StrEnum):
    """A trial's life: PENDING (to be deployed; also after an interrupted deployment) ->
    RUNNING -> COMPLETED | FAILED | EARLY_STOPPED. RUNNING goes back to PENDING when the run
    is interrupted or lost; terminal states never change once stored. ``Trial``'s methods
    are the transitions."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    EARLY_STOPPED = "early_stopped"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.EARLY_STOPPED})
#: Terminal states that carry values the store may still refuse.
REJECTABLE = frozenset({TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED})


class PollStatus(StrEnum):
    """What a runner can say about a trial it was asked about.

    LOST: the runner has no trace of the trial and it is not running (e.g. the local Ray or
    Dask cluster that ran it ended with the previous scheduler); the scheduler deploys it
    again.
    """

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    LOST = "lost"


@dataclass(frozen=True)
class TrialSpec:
    """The plain data a runner gets: enough to launch, poll or stop the trial from any
    process, including a scheduler resumed after a crash.

    ``key``: a name for the trial that no other trial of any experiment or store shares
    (suggestion ids repeat across databases); runners name what they launch with it, so
    that ``run`` can recognise a trial it launched before. Defaults to ``id``. ``task``:
    multitask, the task to evaluate the assignments at (None for a plain experiment).
    """

    id: str
    index: int
    assignments: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""
    task: str | None = None

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.id)


@dataclass(frozen=True)
class Poll:
    """One trial's state as its runner reports it.

    ``reason``: why it failed (e.g. the tail of stderr). ``progress``: intermediate values
    so far, ``{step: {metric: value}}`` (or ``{step: value}`` for the objective), used by
    early stopping: what the trial passed to ``honed.scheduler.report`` or printed as
    ``{"step": ...}`` lines. ``hostname``: the machine the trial runs on, from a runner
    that learns it only once the trial is placed (a cluster's node); the trial's
    observation carries it like a ``hostname`` in ``run``'s metadata. ``ended``: when an
    ended trial ended (epoch seconds), from a runner that knows it; else the trial ends
    when the scheduler sees it end, which may be much later (a scheduler waiting for a
    suggestion polls nothing).
    """

    status: PollStatus
    reason: str | None = None
    progress: Mapping[float, float | Mapping[str, float]] | None = None
    hostname: str | None = None
    ended: float | None = None


@dataclass
class Trial:
    """The scheduler's record of one trial (a suggestion of the experiment)."""

    index: int
    id: str
    assignments: dict[str, Any]
    key: str = ""
    status: TrialStatus = TrialStatus.PENDING
    runner_metadata: dict[str, Any] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    started: float | None = None
    ended: float | None = None
    deploy_attempts: int = 0
    poll_failures: int = 0
    fetch_failures: int = 0
    progress: dict[float, float] = field(default_factory=dict)
    observation_id: str | None = None
    #: Who chose the point (the suggestion's ``source``) and what the optimizer's model
    #: knew then (its ``model``: None for design and fallback points).
    source: str | None = None
    model: SuggestionModel | None = None
    #: Multitask: the suggestion's task, which the trial evaluates.
    task: str | None = None
    # Monotonic times, this process only.
    retry_at: float = 0.0
    running_since: float | None = None

    def spec(self) -> TrialSpec:
        return TrialSpec(
            self.id,
            self.index,
            dict(self.assignments),
            dict(self.runner_metadata),
            self.key,
            self.task,
        )

    def take(self, suggestion: Suggestion) -> None:
        """A new PENDING trial (created before its suggestion, whose metadata carries its
        index and key) takes the suggestion stored for it: its id, point, source, model
        and task."""
        self._require(TrialStatus.PENDING, "take a suggestion")
        if self.id:
            raise RuntimeError(f"trial {self.index} already has suggestion {self.id}")
        self.id, self.assignments = suggestion.id, dict(suggestion.assignments)
        self.source, self.model, self.task = suggestion.source, suggestion.model, suggestion.task

    # --- transitions: the only code that changes ``status`` -------------------------------
    def start(self, runner_metadata: Mapping[str, Any], started: float, now: float) -> None:
        """PENDING -> RUNNING: the runner launched it (``started``: epoch seconds,
        ``now``: this process's monotonic clock)."""
        self._require(TrialStatus.PENDING, "start")
        self.status = TrialStatus.RUNNING
        self.runner_metadata = dict(runner_metadata)
        self.started = started
        self.running_since = now
        self.poll_failures = self.fetch_failures = 0

    def retry_deployment_at(self, when: float) -> None:
        """Stays PENDING after a failed deployment; deployed again from ``when``
        (monotonic)."""
        self._require(TrialStatus.PENDING, "retry its deployment")
        self.retry_at = when

    def back_to_pending(self) -> None:
        """RUNNING -> PENDING (interrupted, or lost by its runner): to be deployed again with
        the same assignments and key. Whatever the aborted run left is cleared, as if it had
        never started: its start time (else a TTL or ``start_time`` would count from the
        aborted run), runner metadata, and intermediate values (the next run reports its
        own curve from its first step)."""
        self._require(TrialStatus.RUNNING, "go back to pending")
        self.status = TrialStatus.PENDING
        self.runner_metadata = {}
        self.started = None
        self.running_since = None
        self.progress = {}
        self.poll_failures = self.fetch_failures = 0

    def finish(
        self,
        status: TrialStatus,
        ended: float,
        values: Mapping[str, float] | None = None,
        reason: str | None = None,
    ) -> None:
        """PENDING | RUNNING -> a terminal ``status`` (a trial whose deployment keeps
        failing ends from PENDING)."""
        if not status.terminal:
            raise ValueError(f"finish needs a terminal status, not {status.value}")
        self._require(TrialStatus.PENDING, "finish", also=TrialStatus.RUNNING)
        self.status = status
        self.ended = ended
        self.values = dict(values or {})
        self.reason = reason

    def reject_result(self, reason: str) -> None:
        """COMPLETED | EARLY_STOPPED -> FAILED before it is stored: the store refused its
        values (a metric missing, a string value). The only change of a terminal state, and
        only while its observation is not yet written."""
        if self.status not in REJECTABLE or self.observation_id is not None:
            raise RuntimeError(
                f"trial {self.index} is {self.status.value}"
                f"{' and stored' if self.observation_id else ''}: its result cannot be rejected"
            )
        self.status = TrialStatus.FAILED
        self.values = {}
        self.reason = reason

    def _require(self, status: TrialStatus, action: str, also: TrialStatus | None = None) -> None:
        if self.status is not status and self.status is not also:
            raise RuntimeError(f"trial {self.index} is {self.status.value}: it cannot {action}")
