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
      pid, a directory). The scheduler stores it with the trial right after, and every
      later call gets it back as ``trial.metadata``. Its ``hostname``, when the runner
      knows where the trial runs, becomes the observation's ``hostname`` metadata, which
      the dashboard's timeline and workers panel group by (a runner that learns it only
      once the trial is placed, as on a cluster, sets ``Poll.hostname`` instead).
      Raising means the trial did not start; the scheduler retries with backoff, then
      fails the trial. Name what you launch after
      ``trial.key`` (unique across experiments and stores, stable across crashes), not
      ``trial.id`` (suggestion ids repeat across databases).
    - ``run`` is idempotent by ``trial.key``: if the scheduler dies between launching a
      trial and storing its metadata, the trial is still PENDING in the store and a resumed
      scheduler calls ``run`` for it again. A trial already launched that is running or has
      finished must be adopted (return its metadata) rather than started a second time. A
      trial ``stop`` ended is started afresh (Ctrl-C returns running trials to PENDING).
    - ``poll(trials)`` returns a ``Poll`` for every trial it is given, quickly and without
      waiting for them. It must work from ``trial.id``, ``trial.key``,
      ``trial.assignments`` and ``trial.metadata`` alone: a scheduler resumed in a new
      process polls trials another process started. A trial it cannot find any more and
      that is not running is ``PollStatus.LOST`` (it is deployed again); raising means
      "ask again later". Trials that should survive a crash of the scheduler therefore live
      outside its process (their own sessions, a cluster's detached actors, files).
    - ``Poll.progress`` carries the intermediate values the trial reported so far, the
      whole curve on every poll (``{step: {metric: value}}``, or ``{step: value}`` for the
      objective); the scheduler's ``early_stopping`` rule reads it, and the store keeps it.
      Keep them where the trial runs, so that a runner in a new process polls them too. A
      trial function calls ``honed.scheduler.report(step, value)``: a runner that calls
      Python functions wraps each call in ``honed.scheduler.progress.reporting(sink)``,
      whose ``sink(step, value)`` gets the checked values. A runner that cannot pass them on
      leaves ``progress`` None, and early stopping never applies to its trials.
    - ``fetch(trial)`` returns the metric values of a trial polled COMPLETED: ``{metric:
      value}``, or one number for a single-metric experiment. Raising is retried on later
      polls, then fails the trial with the error as its reason. The scheduler has stored
      the outcome of a trial it fetched, or was told FAILED, before it next calls ``run``,
      ``poll`` or ``close``: from then on a runner may drop what it keeps for the trial
      (before, a crash would leave the trial running in the store with nothing to poll).
    - ``release(trials)`` says so explicitly: each trial's outcome (completed, failed, early
      stopped) is stored, so no resumed scheduler will poll, fetch or run it again, and the
      runner removes what it keeps for it (files, published data). It comes after the
      outcome is stored, never before; again, for every finished trial, when a resumed
      scheduler starts its first run (a crash may have come between the two); and for
      trials the runner never launched (a deployment that kept failing). So it is
      idempotent and quiet about what it does not find.
    - ``stop(trial, reason)`` ends a running trial (TTL, early stopping, Ctrl-C), also one
      another process launched, and must not raise for a trial that has already ended.

    Optional: ``prepare`` (told the experiment's parameter names before any trial runs;
    raises ValueError, naming what to fix, for a runner that cannot run them), ``run_many``
    (launch several at once; per-trial errors are returned, not raised),
    ``available_capacity`` (how many more trials the system takes now; None: no
    limit), ``wait`` (block until some trial may have changed, so short trials are noticed
    at once rather than after a poll interval), ``release``, ``close``.
    """

    @abstractmethod
    def run(self, trial: TrialSpec) -> Mapping[str, Any]: ...

    @abstractmethod
    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]: ...

    @abstractmethod
    def fetch(self, trial: TrialSpec) -> Mapping[str, float] | float: ...

    @abstractmethod
    def stop(self, trial: TrialSpec, reason: str) -> None: ...

    def prepare(self, parameters: Sequence[str]) -> None:
        """The names an experiment's assignments may hold (its conditionals' and its
        parameters'): a trial's assignments lack the parameters whose conditions do not
        hold for it. Called before the experiment is created."""
        return None

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

    def release(self, trials: Sequence[TrialSpec]) -> None:
        """Drop what the runner keeps for ``trials``, whose outcomes are stored."""
        return None

    def close(self) -> None:
        """Release what the runner holds (pools, connections). Trials that live outside
        this process (subprocesses, cluster jobs) keep running for a later scheduler."""
        return None
