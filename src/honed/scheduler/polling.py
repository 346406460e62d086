"""Polling running trials: their state and intermediate values from the runner, results
fetched for the completed ones, and the rules that end a trial early (its TTL, an early
stopping rule)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Sequence

from honed.client import Experiment
from honed.scheduler.book import TrialBook
from honed.scheduler.clock import Clock
from honed.scheduler.options import SchedulerOptions
from honed.scheduler.record import HOSTNAME
from honed.scheduler.results import Objective
from honed.scheduler.results import runner_values
from honed.scheduler.runner import Runner
from honed.scheduler.store import TrialStore
from honed.scheduler.trial import Poll
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus

logger = logging.getLogger("honed.scheduler")


def stop_quietly(runner: Runner, trial: Trial, reason: str) -> None:
    """Ask the runner to stop ``trial``; a failure to stop is logged, not raised (the trial
    is ended in the store all the same)."""
    try:
        runner.stop(trial.spec(), reason)
    except Exception as error:
        logger.warning("trial %d: stop failed: %r", trial.index, error)


class Poller:
    """Polls the RUNNING trials of ``trials`` (shared with the scheduler) and ends them."""

    def __init__(
        self,
        trials: TrialBook,
        runner: Runner,
        store: TrialStore,
        options: SchedulerOptions,
        clock: Clock,
        experiment: Experiment,
        objective: Objective,
    ) -> None:
        self.trials = trials
        self.runner = runner
        self.store = store
        self.options = options
        self.clock = clock
        self.experiment = experiment
        self.objective = objective
        self._curves = _Curves(objective.sign)

    def poll(self) -> bool:
        """Poll the running trials that are due; end what finished; apply TTL and early
        stopping. True if any trial changed state."""
        now = self.clock.monotonic()
        running = [t for t in self.trials.unsettled() if t.status is TrialStatus.RUNNING]
        changed = self._expire(running)
        due = [
            t
            for t in running
            if t.status is TrialStatus.RUNNING
            and now - (t.running_since or now) >= self.options.min_seconds_before_poll
        ]
        if not due:
            return changed
        for trial, poll in self._poll(due):
            changed |= self._apply(trial, poll)
        return self._early_stop() or changed

    def _expire(self, running: Sequence[Trial]) -> bool:
        ttl = self.options.ttl_seconds_for_trials
        if ttl is None:
            return False
        changed = False
        for trial in running:
            if trial.started is not None and self.clock.time() - trial.started > ttl:
                reason = f"ran longer than ttl_seconds_for_trials={ttl:g}"
                stop_quietly(self.runner, trial, reason)
                self.store.finish(trial, TrialStatus.FAILED, reason=reason)
                changed = True
        return changed

    def _poll(self, trials: Sequence[Trial]) -> list[tuple[Trial, Poll]]:
        """Bulk poll, retried; then trial by trial, so one broken trial cannot blind the
        scheduler to the others. A trial that cannot be polled for ``poll_attempts`` rounds
        in a row fails."""
        specs = [t.spec() for t in trials]
        error: Exception | None = None
        for attempt in range(self.options.poll_attempts):
            try:
                polls = self.runner.poll(specs)
                if all(t.id in polls for t in trials):
                    for trial in trials:
                        trial.poll_failures = 0
                    return [(t, polls[t.id]) for t in trials]
                error = RuntimeError("the runner's poll left out some trials")
            except Exception as caught:
                error = caught
            logger.warning("poll failed (%r), attempt %d", error, attempt + 1)
            if attempt + 1 < self.options.poll_attempts:
                self.clock.sleep(self.options.init_seconds_between_polls * 2**attempt)
        results = []
        for trial, spec in zip(trials, specs, strict=True):
            try:
                results.append((trial, self.runner.poll([spec])[trial.id]))
                trial.poll_failures = 0
            except Exception as single:
                trial.poll_failures += 1
                if trial.poll_failures >= self.options.poll_attempts:
                    reason = f"could not be polled {trial.poll_failures} times: {single!r}"
                    stop_quietly(self.runner, trial, reason)
                    self.store.finish(trial, TrialStatus.FAILED, reason=reason)
        return results

    def _apply(self, trial: Trial, poll: Poll) -> bool:
        if poll.hostname and HOSTNAME not in trial.runner_metadata:
            trial.runner_metadata[HOSTNAME] = poll.hostname
        if poll.progress:
            self._merge_progress(trial, poll.progress)
        if poll.status is PollStatus.RUNNING:
            return False
        if poll.status is PollStatus.FAILED:
            reason = poll.reason or "the runner failed it"
            self.store.finish(trial, TrialStatus.FAILED, reason=reason, ended=poll.ended)
            return True
        if poll.status is PollStatus.LOST:
            logger.warning("trial %d was lost by the runner; deploying it again", trial.index)
            trial.back_to_pending()
            self.store.save_open(trial)
            return True
        try:
            values = runner_values(self.runner.fetch(trial.spec()), self.experiment)
        except Exception as error:
            trial.fetch_failures += 1
            if trial.fetch_failures < self.options.fetch_attempts:
                logger.warning("trial %d: fetching its result failed: %r", trial.index, error)
                return False
            reason = f"its result could not be fetched: {error!r}"
            self.store.finish(trial, TrialStatus.FAILED, reason=reason, ended=poll.ended)
            return True
        self.store.finish(trial, TrialStatus.COMPLETED, values=values, ended=poll.ended)
        return True

    def _merge_progress(
        self, trial: Trial, progress: Mapping[float, float | Mapping[str, float]]
    ) -> None:
        objective = self.objective.name
        before = dict(trial.progress)
        for step, value in progress.items():
            if isinstance(value, Mapping):
                if objective is not None and objective in value:
                    trial.progress[float(step)] = float(value[objective])
            else:
                trial.progress[float(step)] = float(value)
        if trial.progress != before:
            self.store.save_open(trial)

    def _early_stop(self) -> bool:
        if self.options.early_stopping is None:
            return False
        objective = self.objective.name
        rule = self.options.early_stopping.oriented(self.objective.sign)
        unsettled = self.trials.unsettled()
        curves = self._curves.of(self.trials, unsettled)
        judged = [t.index for t in unsettled if t.status is TrialStatus.RUNNING and t.progress]
        changed = False
        for index, reason in rule.stop_reasons(judged, curves).items():
            trial = self.trials[index]
            stop_quietly(self.runner, trial, f"early stopping: {reason}")
            last = trial.progress[max(trial.progress)]
            single = len(self.experiment.metrics) == 1 and objective is not None
            values = {objective: last} if single and objective else None
            self.store.finish(trial, TrialStatus.EARLY_STOPPED, values=values, reason=reason)
            changed = True
        return changed


class _Curves:
    """Every trial's intermediate objective by trial index, signed (larger is better) for
    the early stopping rule. A settled trial's curve no longer changes: it is built once,
    when the trial settles; the others' every round."""

    def __init__(self, sign: float) -> None:
        self._sign = sign
        self._settled: dict[int, dict[float, float]] = {}
        #: The unsettled trials of the last round; None before the first.
        self._watched: set[int] | None = None

    def of(self, trials: TrialBook, unsettled: Sequence[Trial]) -> dict[int, dict[float, float]]:
        now = {t.index for t in unsettled}
        if self._watched is None:
            newly = [t for t in trials.values() if t.index not in now]
        else:
            newly = [trials[index] for index in self._watched - now]
        for trial in newly:
            if trial.progress:
                self._settled[trial.index] = self._signed(trial)
        self._watched = now
        curves = dict(self._settled)
        curves.update((t.index, self._signed(t)) for t in unsettled if t.progress)
        return curves

    def _signed(self, trial: Trial) -> dict[float, float]:
        return {step: self._sign * value for step, value in trial.progress.items()}
