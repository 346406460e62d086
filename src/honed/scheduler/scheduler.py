"""The closed loop: suggest, deploy through a Runner, poll, record, until a stop criterion.

Every state change is written to the store as it happens (see ``record``), so a scheduler
killed at any point resumes with ``Scheduler.from_stored_experiment``: running trials are
polled again through their stored runner metadata, pending ones are deployed.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from honed.client import Client
from honed.client import Experiment
from honed.client import NewObservation
from honed.errors import ConflictError
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.scheduler import record
from honed.scheduler.clock import Clock
from honed.scheduler.clock import SystemClock
from honed.scheduler.errors import FailureRateExceededError
from honed.scheduler.errors import SchedulerError
from honed.scheduler.options import SchedulerOptions
from honed.scheduler.runner import Runner
from honed.scheduler.trial import Poll
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("honed.scheduler")

# The shortest wait between two rounds, whatever else is due: the loop never spins.
MIN_WAIT_SECONDS = 0.001
# Early wake-ups from Runner.wait in a row that found nothing new, before the loop sleeps.
MAX_IDLE_WAKES = 3


@dataclass(frozen=True)
class SchedulerResult:
    """What ``run_n_trials`` / ``summarize_final_result`` return."""

    best_trial: Trial | None
    completed: int
    failed: int
    early_stopped: int
    running: int
    pending: int
    stop_reason: str | None
    seconds: float


def _token(token: str | None) -> str | None:
    return token or os.environ.get("HONED_API_TOKEN") or os.environ.get("SIGOPT_API_TOKEN")


class Scheduler:
    """Run an experiment's trials through ``runner``.

    ``experiment``: a dict describing a new experiment as for ``POST /v1/experiments``, or
    the id of a stored one (then its trials are resumed, as ``from_stored_experiment``).
    ``connection``: a honed server URL (token from ``token``, ``HONED_API_TOKEN`` or
    ``SIGOPT_API_TOKEN``), a database (SQLite path or PostgreSQL URL, served in-process), or
    a ``honed.client.Client``. An embedded database gets ``optimizers`` model processes (0:
    Sobol only), which end with this process.

    Trials end as observations: COMPLETED with the runner's values, FAILED as a failed
    observation whose metadata holds the reason, EARLY_STOPPED with the last intermediate
    value of the objective (a failed observation on multi-metric experiments). A trial that
    is interrupted (Ctrl-C, ``interrupt()``) goes back to PENDING and is deployed again.
    """

    def __init__(
        self,
        experiment: Mapping[str, Any] | str,
        runner: Runner,
        options: SchedulerOptions | None = None,
        connection: str | Client = "honed.db",
        *,
        token: str | None = None,
        clock: Clock | None = None,
        optimizers: int = 1,
    ) -> None:
        self.options = options or SchedulerOptions()
        self.runner = runner
        self.clock: Clock = clock or SystemClock()
        self._owns_client = not isinstance(connection, Client)
        self.client = (
            connection
            if isinstance(connection, Client)
            else Client(connection, _token(token), optimizers=optimizers)
        )
        self._handler: logging.Handler | None = None
        self._configure_logging()
        if isinstance(experiment, Mapping):
            self.experiment = self.client.create_experiment(experiment)
            self.trials: dict[int, Trial] = {}
        else:
            self.experiment = self.client.fetch_experiment(str(experiment))
            self.trials = self._load_trials()
        optimized = self.experiment.optimized_metrics
        self._objective = optimized[0].name if optimized else None
        self._sign = -1.0 if optimized and optimized[0].objective == "minimize" else 1.0
        self._unrecorded: list[Trial] = []
        self._suggestion_failures = 0
        self._last_suggestion_error: Exception | None = None
        self._exhausted = False
        self._global_stop: str | None = None
        self._stop_reason: str | None = None
        self._run_started: float | None = None
        #: The running loop's timeout, on self.clock (None: no timeout, or no run).
        self._deadline: float | None = None
        self._run_seconds = 0.0
        logger.info(
            "experiment %s (%s): %d trials loaded",
            self.experiment.id,
            self.experiment.name,
            len(self.trials),
        )

    @classmethod
    def from_stored_experiment(
        cls,
        experiment_id: str,
        runner: Runner,
        options: SchedulerOptions | None = None,
        connection: str | Client = "honed.db",
        *,
        token: str | None = None,
        clock: Clock | None = None,
        optimizers: int = 1,
    ) -> Scheduler:
        """Resume a scheduler's experiment: finished trials are kept, running ones polled
        through their stored runner metadata, pending ones deployed."""
        return cls(
            str(experiment_id),
            runner,
            options,
            connection,
            token=token,
            clock=clock,
            optimizers=optimizers,
        )

    def close(self) -> None:
        self.runner.close()
        if self._owns_client:
            self.client.close()
        if self._handler is not None:
            logger.removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public loop ----------------------------------------------------------------------
    def run_n_trials(
        self, max_trials: int | None = None, timeout: float | None = None
    ) -> SchedulerResult:
        """Deploy up to ``max_trials`` new trials (None: as ``total_trials`` allows) and wait
        for them; stop at ``timeout`` seconds, within one poll interval (running trials are
        left running in the store, for a later run to pick up)."""
        for _ in self.run_trials_and_yield_results(max_trials, timeout):
            pass
        return self.summarize_final_result()

    def run_all_trials(self, timeout: float | None = None) -> SchedulerResult:
        if self.options.total_trials is None:
            raise ValueError("run_all_trials needs SchedulerOptions.total_trials")
        return self.run_n_trials(None, timeout)

    def run_trials_and_yield_results(
        self, max_trials: int | None = None, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """The loop; yields ``report_results()`` after every round in which trials finished,
        and once at the end."""
        _check_limits(max_trials, timeout, self.options)
        clock = self.clock
        start = clock.monotonic()
        self._run_started = start
        deadline = start + timeout if timeout is not None else None
        self._deadline = deadline
        self._stop_reason = None
        self._global_stop = None
        new_trials = idle_wakes = 0
        interval = self.options.init_seconds_between_polls
        try:
            while True:
                changed = self._poll_and_process()
                self._record()
                self._check_failure_rate(force=False)
                if changed:
                    interval = self.options.init_seconds_between_polls
                    yield self.report_results()
                now = clock.monotonic()
                if deadline is not None and now >= deadline:
                    self._stop_reason = f"timeout of {timeout:g} s reached"
                    break
                # Pending trials (deploy retries, resumed ones) go out even when no new
                # trial may be created.
                reason = self._completion_reason(max_trials, new_trials)
                room = 0 if reason is not None else max_trials and max_trials - new_trials
                new_trials += self._deploy(room)
                self._record()
                reason = self._completion_reason(max_trials, new_trials)
                active = [t for t in self.trials.values() if not t.status.terminal]
                if not self.options.wait_for_running_trials:
                    self._stop_reason = "deployed; not waiting (wait_for_running_trials=False)"
                    break
                if not active:
                    if reason is not None:
                        self._stop_reason = reason
                        break
                    self._give_up_if_optimizer_keeps_failing()
                wait = self._next_wait(interval, deadline)
                # The runner may wake the loop early when a trial ends; if its wake-ups bring
                # nothing new (e.g. a trial that ended is not due for polling yet), sleep
                # instead, so that no runner can make the loop spin.
                idle_wakes = 0 if changed else idle_wakes
                if idle_wakes >= MAX_IDLE_WAKES:
                    clock.sleep(wait)
                    idle_wakes = 0
                else:
                    began = clock.monotonic()
                    if not self.runner.wait(wait):
                        clock.sleep(wait)
                    elif clock.monotonic() - began < wait / 2:
                        idle_wakes += 1
                interval = min(
                    interval * self.options.seconds_between_polls_backoff_factor,
                    self.options.max_seconds_between_polls,
                )
        except KeyboardInterrupt:
            self.interrupt("interrupted (Ctrl-C)")
            raise
        finally:
            self._run_seconds = clock.monotonic() - start
            if self._unrecorded:
                self._record()
        self._check_failure_rate(force=True)
        logger.info("run ended: %s", self._stop_reason)
        yield self.report_results()

    def report_results(self) -> dict[str, Any]:
        """Hook called after every round with finished trials; its return value is what
        ``run_trials_and_yield_results`` yields. Override it for progress reporting."""
        counts = {status.value: 0 for status in TrialStatus}
        for trial in self.trials.values():
            counts[trial.status.value] += 1
        best = self._local_best()
        return {
            "trials": len(self.trials),
            **counts,
            "best_value": best.values.get(self._objective or "") if best else None,
            "best_trial": best.index if best else None,
            "elapsed": self.clock.monotonic() - (self._run_started or self.clock.monotonic()),
        }

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop running trials and return them to PENDING: the next run deploys them again,
        with the same assignments. Nothing finished is touched."""
        for trial in self.trials.values():
            if trial.status is TrialStatus.RUNNING:
                self._stop_quietly(trial, reason)
                trial.status = TrialStatus.PENDING
                trial.runner_metadata = {}
                trial.started = None
                self._save_open(trial)
        self._stop_reason = reason

    # --- results --------------------------------------------------------------------------
    def best_trial(self) -> Trial | None:
        """The server's best observation (its view of constraints and objectives) as a
        trial; the best completed trial by the objective if the server names none of ours."""
        by_observation = {t.observation_id: t for t in self.trials.values() if t.observation_id}
        for best in self.client.best_assignments(self.experiment.id):
            if best.id in by_observation:
                return by_observation[best.id]
        return self._local_best()

    def summarize_final_result(self) -> SchedulerResult:
        statuses = [t.status for t in self.trials.values()]
        return SchedulerResult(
            best_trial=self.best_trial(),
            completed=statuses.count(TrialStatus.COMPLETED),
            failed=statuses.count(TrialStatus.FAILED),
            early_stopped=statuses.count(TrialStatus.EARLY_STOPPED),
            running=statuses.count(TrialStatus.RUNNING),
            pending=statuses.count(TrialStatus.PENDING),
            stop_reason=self._stop_reason,
            seconds=self._run_seconds,
        )

    def to_dataframe(self) -> pd.DataFrame:
        """One row per trial: index, id, status, assignments, values, reason, runner
        metadata, start and end times (UTC), then who chose the point (``source``:
        engine for the initial design, optimizer, fallback) and, for optimizer points,
        what the model knew: the observations it was fitted on, ``batch`` or ``pool``, and
        whether it accounted for every result stored when the trial was created."""
        import pandas as pd

        rows = []
        for trial in sorted(self.trials.values(), key=lambda t: t.index):
            model = trial.model
            rows.append(
                {
                    "trial_index": trial.index,
                    "trial_id": trial.id,
                    "status": trial.status.value,
                    **{f"{name}": value for name, value in trial.assignments.items()},
                    **{f"{name}": value for name, value in trial.values.items()},
                    "reason": trial.reason,
                    "runner_metadata": dict(trial.runner_metadata),
                    "start_time": _timestamp(trial.started),
                    "end_time": _timestamp(trial.ended),
                    "source": trial.source,
                    "model_observations": model.observations if model else None,
                    "model_candidate": model.candidate if model else None,
                    "model_fresh": model.fresh if model else None,
                }
            )
        return pd.DataFrame(rows)

    # --- loading and saving ---------------------------------------------------------------
    def _load_trials(self) -> dict[int, Trial]:
        experiment_id = self.experiment.id
        observations = {
            o.suggestion: o
            for o in self.client.list_observations(experiment_id)
            if o.suggestion is not None
        }
        trials: dict[int, Trial] = {}
        for suggestion in self.client.list_suggestions(experiment_id):
            if not record.is_trial(suggestion):
                continue
            trial = record.trial_from_records(suggestion, observations.get(suggestion.id))
            if suggestion.state != "open" and trial.observation_id is None:
                continue  # deleted before it finished: not a trial any more
            trials[trial.index] = trial
            if trial.status is TrialStatus.RUNNING:
                trial.running_since = self.clock.monotonic()
        return trials

    def _save_open(self, trial: Trial) -> None:
        self.client.update_suggestion(
            self.experiment.id, trial.id, record.suggestion_metadata(trial)
        )

    def _finish(
        self,
        trial: Trial,
        status: TrialStatus,
        values: Mapping[str, float] | None = None,
        reason: str | None = None,
    ) -> None:
        """Mark a terminal state; ``_record`` stores it as the trial's observation (failed
        ones too: failures are data the optimizer learns from)."""
        trial.status = status
        trial.reason = reason
        trial.ended = self.clock.time()
        trial.values = dict(values or {})
        self._unrecorded.append(trial)
        logger.info(
            "trial %d %s%s", trial.index, trial.status.value, f": {reason}" if reason else ""
        )

    def _observation(self, trial: Trial) -> NewObservation:
        failed = trial.status is TrialStatus.FAILED or not trial.values
        return NewObservation(
            suggestion=trial.id,
            values=None if failed else trial.values,
            failed=failed,
            metadata=record.observation_metadata(trial),
        )

    def _record(self) -> None:
        """Store the trials finished since the last call: one batch request for a round's
        completions. A trial finished but not yet stored when the process dies is still
        RUNNING in the store, so a resumed scheduler polls it again."""
        pending, self._unrecorded = self._unrecorded, []
        if len(pending) > 1:
            key = f"honed-trials-{self.experiment.id}-" + "-".join(t.id for t in pending)
            try:
                created = self.client.create_observations(
                    self.experiment.id, [self._observation(t) for t in pending], key[:200]
                )
            except InvalidRequestError:
                pass  # one result does not fit the experiment: store them one by one
            else:
                for trial, observation in zip(pending, created, strict=True):
                    trial.observation_id = observation.id
                return
        for trial in pending:
            self._record_one(trial)

    def _record_one(self, trial: Trial) -> None:
        key = f"honed-trial-{self.experiment.id}-{trial.id}"
        observation = self._observation(trial)
        try:
            created = self.client.create_observation(self.experiment.id, observation, key)
        except InvalidRequestError as error:
            if observation.failed:
                raise
            # The runner's result does not fit the experiment (a metric missing, a string
            # value): keep the trial as a failure that says why.
            trial.reason = f"invalid result {trial.values!r}: {error.message}"
            trial.status, trial.values = TrialStatus.FAILED, {}
            logger.info("trial %d failed: %s", trial.index, trial.reason)
            created = self.client.create_observation(
                self.experiment.id, self._observation(trial), key + "-f"
            )
        trial.observation_id = created.id

    # --- deploying ------------------------------------------------------------------------
    def _completion_reason(self, max_trials: int | None, new_trials: int) -> str | None:
        options = self.options
        if max_trials is not None and new_trials >= max_trials:
            return f"{max_trials} trials deployed"
        if options.total_trials is not None and len(self.trials) >= options.total_trials:
            return f"total_trials={options.total_trials} reached"
        if self._exhausted:
            return "the search space has no free point left"
        if self._global_stop is None and options.global_stopping is not None:
            done = sorted(
                (t for t in self.trials.values() if t.status is TrialStatus.COMPLETED),
                key=lambda t: (t.ended or 0.0, t.index),
            )
            name = self._objective or ""
            values = [self._sign * t.values[name] for t in done if self._has_value(t)]
            self._global_stop = options.global_stopping.should_stop(values)
        if self._global_stop is not None:
            return f"global stopping: {self._global_stop}"
        return None

    def _has_value(self, trial: Trial) -> bool:
        return self._objective is not None and self._objective in trial.values

    def _deploy(self, room: int | None) -> int:
        """Deploy what capacity allows: pending trials first, then new ones (at most
        ``room``). Returns how many new trials were created."""
        options = self.options
        now = self.clock.monotonic()
        active = [t for t in self.trials.values() if not t.status.terminal]
        capacity = options.max_pending_trials - sum(
            t.status is TrialStatus.RUNNING for t in active
        )
        system = self.runner.available_capacity()
        if system is not None:
            capacity = min(capacity, system)
        ready = sorted(
            (t for t in active if t.status is TrialStatus.PENDING and t.retry_at <= now),
            key=lambda t: t.index,
        )[: max(capacity, 0)]
        waiting = sum(t.status is TrialStatus.PENDING for t in active) - len(ready)
        fresh = capacity - len(ready) - waiting
        if room is not None:
            fresh = min(fresh, room)
        if options.total_trials is not None:
            fresh = min(fresh, options.total_trials - len(self.trials))
        created = self._create_trials(fresh) if fresh > 0 else []
        batch = ready + created
        if batch:
            self._launch(batch)
        return len(created)

    def _create_trials(self, count: int) -> list[Trial]:
        created: list[Trial] = []
        for _ in range(count):
            index = max(self.trials, default=-1) + 1
            # The key is stored with the suggestion, so a trial keeps its name for the runner
            # across crashes and ``run`` can recognise one it already launched.
            trial = Trial(index=index, id="", assignments={}, key=uuid.uuid4().hex)
            try:
                suggestion = self.client.create_suggestion(
                    self.experiment.id,
                    metadata=record.suggestion_metadata(trial),
                    max_wait=self._time_left(),
                )
            except ConflictError as error:
                logger.info("no new suggestion: %s", error.message)
                self._exhausted = True
                break
            except InvalidRequestError:
                raise  # the experiment itself is wrong (deleted, no permission): say so now
            except HonedError as error:
                self._suggestion_failures += 1
                self._last_suggestion_error = error
                logger.warning("the optimizer could not suggest: %s", error)
                break
            self._suggestion_failures = 0
            trial.id, trial.assignments = suggestion.id, dict(suggestion.assignments)
            trial.source, trial.model = suggestion.source, suggestion.model
            self.trials[index] = trial
            created.append(trial)
        return created

    def _time_left(self) -> float | None:
        """Seconds until this run's timeout: a suggestion waits no longer for a fresh model
        point (it takes the newest one, or Sobol), so the timeout holds."""
        if self._deadline is None:
            return None
        return max(self._deadline - self.clock.monotonic(), 0.0)

    def _give_up_if_optimizer_keeps_failing(self) -> None:
        """Nothing runs and suggestions keep failing: end instead of asking forever."""
        if self._suggestion_failures >= self.options.max_suggestion_failures:
            raise SchedulerError(
                f"no suggestion after {self._suggestion_failures} attempts in a row and no "
                f"trial running; last error: {self._last_suggestion_error}"
            )

    def _launch(self, batch: list[Trial]) -> None:
        specs = [t.spec() for t in batch]
        if self.options.run_trials_in_batches:
            outcomes = self.runner.run_many(specs)
        else:
            outcomes = {}
            for spec in specs:
                try:
                    outcomes[spec.id] = self.runner.run(spec)
                except Exception as error:
                    outcomes[spec.id] = error
        for trial in batch:
            outcome = outcomes.get(trial.id, RuntimeError("the runner did not report on it"))
            trial.deploy_attempts += 1
            if isinstance(outcome, Exception):
                self._deploy_failed(trial, outcome)
                continue
            trial.status = TrialStatus.RUNNING
            trial.runner_metadata = dict(outcome)
            trial.started = self.clock.time()
            trial.running_since = self.clock.monotonic()
            trial.poll_failures = trial.fetch_failures = 0
            self._save_open(trial)
            logger.info("trial %d running: %s", trial.index, trial.assignments)

    def _deploy_failed(self, trial: Trial, error: Exception) -> None:
        attempts = trial.deploy_attempts
        if attempts >= self.options.deploy_attempts:
            self._finish(
                trial,
                TrialStatus.FAILED,
                reason=f"deployment failed {attempts} times; last error: {error!r}",
            )
            return
        delay = self.options.deploy_backoff_seconds * 2 ** (attempts - 1)
        trial.retry_at = self.clock.monotonic() + delay
        logger.warning(
            "trial %d: deployment failed (%r); retry %d in %.3g s",
            trial.index,
            error,
            attempts,
            delay,
        )
        self._save_open(trial)

    # --- polling --------------------------------------------------------------------------
    def _poll_and_process(self) -> bool:
        """Poll running trials; record what finished; apply TTL and early stopping."""
        now = self.clock.monotonic()
        running = [t for t in self.trials.values() if t.status is TrialStatus.RUNNING]
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
                self._stop_quietly(trial, reason)
                self._finish(trial, TrialStatus.FAILED, reason=reason)
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
                    self._stop_quietly(trial, reason)
                    self._finish(trial, TrialStatus.FAILED, reason=reason)
        return results

    def _apply(self, trial: Trial, poll: Poll) -> bool:
        if poll.progress:
            self._merge_progress(trial, poll.progress)
        if poll.status is PollStatus.RUNNING:
            return False
        if poll.status is PollStatus.FAILED:
            self._finish(trial, TrialStatus.FAILED, reason=poll.reason or "the runner failed it")
            return True
        if poll.status is PollStatus.LOST:
            logger.warning("trial %d was lost by the runner; deploying it again", trial.index)
            trial.status = TrialStatus.PENDING
            trial.runner_metadata = {}
            self._save_open(trial)
            return True
        try:
            values = _values(self.runner.fetch(trial.spec()), self._objective, self.experiment)
        except Exception as error:
            trial.fetch_failures += 1
            if trial.fetch_failures < self.options.fetch_attempts:
                logger.warning("trial %d: fetching its result failed: %r", trial.index, error)
                return False
            values, failed_fetch = None, f"its result could not be fetched: {error!r}"
            self._finish(trial, TrialStatus.FAILED, reason=failed_fetch)
            return True
        self._finish(trial, TrialStatus.COMPLETED, values=values)
        return True

    def _merge_progress(
        self, trial: Trial, progress: Mapping[float, float | Mapping[str, float]]
    ) -> None:
        before = dict(trial.progress)
        for step, value in progress.items():
            if isinstance(value, Mapping):
                if self._objective is not None and self._objective in value:
                    trial.progress[float(step)] = float(value[self._objective])
            else:
                trial.progress[float(step)] = float(value)
        if trial.progress != before:
            self._save_open(trial)

    def _early_stop(self) -> bool:
        rule = self.options.early_stopping
        if rule is None:
            return False
        sign = self._sign
        curves = {
            t.index: {s: sign * v for s, v in t.progress.items()}
            for t in self.trials.values()
            if t.progress
        }
        changed = False
        for trial in list(self.trials.values()):
            if trial.status is not TrialStatus.RUNNING or not trial.progress:
                continue
            others = [c for index, c in curves.items() if index != trial.index]
            reason = rule.should_stop(curves[trial.index], others)
            if reason is None:
                continue
            self._stop_quietly(trial, f"early stopping: {reason}")
            last = trial.progress[max(trial.progress)]
            single = len(self.experiment.metrics) == 1 and self._objective is not None
            values = {self._objective: last} if single and self._objective else None
            self._finish(trial, TrialStatus.EARLY_STOPPED, values=values, reason=reason)
            changed = True
        return changed

    def _stop_quietly(self, trial: Trial, reason: str) -> None:
        try:
            self.runner.stop(trial.spec(), reason)
        except Exception as error:
            logger.warning("trial %d: stop failed: %r", trial.index, error)

    def _check_failure_rate(self, force: bool) -> None:
        options = self.options
        failed = [t for t in self.trials.values() if t.status is TrialStatus.FAILED]
        if not failed:
            return
        if not force and len(failed) < options.min_failed_trials_for_failure_rate_check:
            return
        deployed = [t for t in self.trials.values() if t.status is not TrialStatus.PENDING]
        rate = len(failed) / max(len(deployed), 1)
        if rate > options.tolerated_trial_failure_rate:
            raise FailureRateExceededError(
                rate,
                options.tolerated_trial_failure_rate,
                [(t.index, t.id, t.reason or "no reason given") for t in failed],
            )

    def _next_wait(self, interval: float, deadline: float | None) -> float:
        """The poll interval, shortened to what falls due first: the run's deadline, a
        deployment retry, a trial's first poll or its TTL."""
        now = self.clock.monotonic()
        due = [interval]
        if deadline is not None:
            due.append(deadline - now)
        for trial in self.trials.values():
            if trial.status is TrialStatus.PENDING and trial.retry_at > now:
                due.append(trial.retry_at - now)
            if trial.status is TrialStatus.RUNNING and trial.running_since is not None:
                first = trial.running_since + self.options.min_seconds_before_poll - now
                if first > 0:
                    due.append(first)
                ttl = self.options.ttl_seconds_for_trials
                if ttl is not None and trial.started is not None:
                    due.append(trial.started + ttl - self.clock.time())
        return max(min(due), MIN_WAIT_SECONDS)

    def _local_best(self) -> Trial | None:
        done = [
            t
            for t in self.trials.values()
            if t.status is TrialStatus.COMPLETED and self._has_value(t)
        ]
        if not done or self._objective is None:
            return None
        objective = self._objective
        return max(done, key=lambda t: self._sign * t.values[objective])

    def _configure_logging(self) -> None:
        level = self.options.logging_level
        logger.setLevel(level if isinstance(level, int) else logging.getLevelName(level))
        if self.options.log_filepath:
            self._handler = logging.FileHandler(self.options.log_filepath)
            self._handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logger.addHandler(self._handler)


def _check_limits(
    max_trials: int | None, timeout: float | None, options: SchedulerOptions
) -> None:
    if max_trials is not None and max_trials < 0:
        raise ValueError(f"max_trials must be >= 0, not {max_trials}")
    if timeout is not None and not (timeout >= 0 and not math.isnan(timeout)):
        raise ValueError(f"timeout must be >= 0 seconds, not {timeout}")
    if (
        max_trials is None
        and timeout is None
        and options.total_trials is None
        and options.global_stopping is None
    ):
        raise ValueError(
            "nothing would end this run: give max_trials, a timeout, "
            "SchedulerOptions.total_trials or a global stopping rule"
        )


def _values(
    raw: Mapping[str, float] | float, objective: str | None, experiment: Experiment
) -> dict[str, float]:
    if isinstance(raw, Mapping):
        return {str(k): float(v) for k, v in raw.items()}
    if len(experiment.metrics) != 1:
        raise ValueError(
            f"the runner returned one number, but the experiment has {len(experiment.metrics)}"
            " metrics: return a {metric: value} mapping"
        )
    return {experiment.metrics[0].name: float(raw)}


def _timestamp(epoch: float | None) -> Any:
    import pandas as pd

    return pd.Timestamp(epoch, unit="s", tz="UTC") if epoch is not None else pd.NaT
