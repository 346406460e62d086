"""The Runner contract: how the scheduler launches trials on a system and asks about them."""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from honed.scheduler.trial import Poll
from honed.scheduler.trial import TrialSpec


class Runner(ABC):
    """Launches trials somewhere and reports on them. Contract:

    - ``run(trial)`` starts the trial and returns JSON-serializable metadata (a job id, a
      pid, a directory). The scheduler stores it with the trial before anything else
      happens, and every later call gets it back as ``trial.metadata``. Raising means the
      trial did not start; the scheduler retries with backoff, then fails the trial.
    - ``poll(trials)`` returns a ``Poll`` for every trial it is given, quickly and without
      waiting for them. It must work from ``trial.id``, ``trial.assignments`` and
      ``trial.metadata`` alone: a scheduler resumed in a new process polls trials another
      process started. A trial it cannot know any more and that is not running is
      ``PollStatus.LOST`` (it is deployed again); raising means "ask again later".
    - ``fetch(trial)`` returns the metric values of a trial polled COMPLETED: ``{metric:
      value}``, or one number for a single-metric experiment. Raising is retried on later
      polls, then fails the trial with the error as its reason.
    - ``stop(trial, reason)`` ends a running trial (TTL, early stopping, Ctrl-C) and must
      not raise for a trial that has already ended.
    - ``run(trial)`` may be called again for a trial whose deployment was interrupted by a
      crash between launching and recording it. Runners that can recognise the trial id
      should return the running job's metadata instead of starting a second one.

    Optional: ``run_many`` (launch several at once; per-trial errors are returned, not
    raised), ``available_capacity`` (how many more trials the system takes now; None: no
    limit), ``wait`` (block until some trial may have changed, so short trials are noticed
    at once rather than after a poll interval), ``close``.
    """

    @abstractmethod
    def run(self, trial: TrialSpec) -> Mapping[str, Any]: ...

    @abstractmethod
    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]: ...

    @abstractmethod
    def fetch(self, trial: TrialSpec) -> Mapping[str, float] | float: ...

    @abstractmethod
    def stop(self, trial: TrialSpec, reason: str) -> None: ...

    def run_many(self, trials: Sequence[TrialSpec]) -> dict[str, Mapping[str, Any] | Exception]:
        results: dict[str, Mapping[str, Any] | Exception] = {}
        for trial in trials:
            try:
                results[trial.id] = self.run(trial)
            except Exception as error:
                results[trial.id] = error
        return results

    def available_capacity(self) -> int | None:
        return None

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds, returning early when a trial may have finished.
        Return False at once if this runner cannot tell (the scheduler then sleeps)."""
        return False

    def close(self) -> None:
        """Release what the runner holds (pools, connections). Trials that live outside
        this process (subprocesses, cluster jobs) keep running for a later scheduler."""
        return None
