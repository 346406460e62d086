"""The closed loop: suggest, deploy through a Runner, poll, record, until a stop criterion.

The loop and its stop criteria live here; ``deployment`` launches trials, ``polling``
follows them, ``store`` keeps them in the experiment, ``results`` sums them up. Every state
change is written to the store as it happens, so a scheduler killed at any point resumes
with ``Scheduler.from_stored_experiment``: running trials are polled again through their
stored runner metadata, pending ones are deployed.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from honed.client import Client
from honed.scheduler.book import TrialBook
from honed.scheduler.clock import Clock
from honed.scheduler.clock import SystemClock
from honed.scheduler.deployment import Deployer
from honed.scheduler.errors import FailureRateExceededError
from honed.scheduler.options import SchedulerOptions
from honed.scheduler.polling import Poller
from honed.scheduler.polling import stop_quietly
from honed.scheduler.results import Objective
from honed.scheduler.results import SchedulerResult
from honed.scheduler.results import trials_frame
from honed.scheduler.runner import Runner
from honed.scheduler.store import TrialStore
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    import pandas as pd

logger = logging.getLogger("honed.scheduler")

# The shortest wait between two rounds, whatever else is due: the loop never spins.
MIN_WAIT_SECONDS = 0.001
# Early wake-ups from Runner.wait in a row that found nothing new, before the loop sleeps.
MAX_IDLE_WAKES = 3


def _parameter_names(experiment: Mapping[str, Any]) -> list[str]:
    """The names an experiment's assignments may hold: its conditionals' and parameters'.
    The server reports the rest of a malformed definition."""
    names: list[str] = []
    for key in ("conditionals", "parameters"):
        given = experiment.get(key)
        if isinstance(given, list):
            names += [
                g["name"]
                for g in given
                if isinstance(g, Mapping) and isinstance(g.get("name"), str)
            ]
    return names


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
        self._metrics: WSGIServer | None = None
        self._configure_logging()
        try:
            if isinstance(experiment, Mapping):
                # Checked first: a runner that cannot run these parameters (a command
                # naming one that does not exist) leaves no experiment behind.
                runner.prepare(_parameter_names(experiment))
                self.experiment = self.client.create_experiment(experiment)
            else:
                self.experiment = self.client.fetch_experiment(str(experiment))
                runner.prepare(_parameter_names(self.experiment.raw))
        except BaseException:
            self._close_own()  # the client and log file it opened; the runner is the caller's
            raise
        self._store = TrialStore(self.client, self.experiment, self.clock)
        self._objective = Objective.of(self.experiment)
        self.trials = TrialBook(
            {} if isinstance(experiment, Mapping) else self._store.load(),
            self._objective,
            self.experiment.task_cost,
        )
        # Trials that had ended before this scheduler loaded them are history: the failure
        # rate is of this scheduler's trials, as Ax's is, so a command fixed after it
        # crashed resumes instead of stopping at once on the old failures.
        self._ended_before = {i for i, t in self.trials.items() if t.status.terminal}
        self._failed_before = sum(
            1 for i in self._ended_before if self.trials[i].status is TrialStatus.FAILED
        )
        self._deployer = Deployer(
            self.trials, runner, self._store, self.options, self.clock, self._time_left
        )
        self._poller = Poller(
            self.trials,
            runner,
            self._store,
            self.options,
            self.clock,
            self.experiment,
            self._objective,
        )
        self._global_stop: str | None = None
        #: Whether the finished trials loaded from the store were released to the runner.
        self._released_loaded = False
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

    def serve_metrics(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve this scheduler's trials by state for Prometheus at
        ``http://host:port/metrics`` (``honed_scheduler_trials{state=...}``, counted when
        scraped) until ``close()``."""
        from honed.scheduler.metrics import serve_trial_metrics

        if self._metrics is not None:
            raise RuntimeError("this scheduler serves its metrics already")
        self._metrics = serve_trial_metrics(self.experiment.id, self.trials, host, port)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.shutdown()
            self._metrics.server_close()
            self._metrics = None
        self.runner.close()
        self._close_own()

    def _close_own(self) -> None:
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
        if not self._released_loaded:
            # A crash may have come between storing a trial and releasing it.
            self._released_loaded = True
            self._release([t for t in self.trials.values() if t.status.terminal])
        new_trials = idle_wakes = 0
        interval = self.options.init_seconds_between_polls
        try:
            while True:
                changed = self._poller.poll()
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
                new_trials += self._deployer.deploy(room)
                self._record()
                reason = self._completion_reason(max_trials, new_trials)
                active = [t for t in self.trials.unsettled() if not t.status.terminal]
                if not self.options.wait_for_running_trials:
                    self._stop_reason = "deployed; not waiting (wait_for_running_trials=False)"
                    break
                if not active:
                    if reason is not None:
                        self._stop_reason = reason
                        break
                    self._deployer.give_up_if_optimizer_keeps_failing()
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
            if self._store.unrecorded:
                self._record()
        self._check_failure_rate(force=True)
        logger.info("run ended: %s", self._stop_reason)
        yield self.report_results()

    def report_results(self) -> dict[str, Any]:
        """Hook called after every round with finished trials; its return value is what
        ``run_trials_and_yield_results`` yields. Override it for progress reporting."""
        counts = self.trials.counts()
        best = self.trials.best()
        return {
            "trials": len(self.trials),
            **{status.value: counts[status] for status in TrialStatus},
            # What the finished trials cost of the budget: their tasks' costs (multitask).
            "budget_consumed": self.trials.cost(terminal_only=True),
            "best_value": best.values.get(self._objective.name or "") if best else None,
            "best_trial": best.index if best else None,
            "elapsed": self.clock.monotonic() - (self._run_started or self.clock.monotonic()),
        }

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop running trials and return them to PENDING: the next run deploys them again,
        with the same assignments. Nothing finished is touched."""
        for trial in self.trials.values():
            if trial.status is TrialStatus.RUNNING:
                stop_quietly(self.runner, trial, reason)
                trial.back_to_pending()
                self._store.save_open(trial)
        self._stop_reason = reason

    # --- results --------------------------------------------------------------------------
    def best_trial(self) -> Trial | None:
        """The server's best observation (its view of constraints and objectives) as a
        trial; the best completed trial by the objective if the server names none of ours."""
        by_observation = {t.observation_id: t for t in self.trials.values() if t.observation_id}
        for best in self.client.best_assignments(self.experiment.id):
            if best.id in by_observation:
                return by_observation[best.id]
        return self._objective.best(self.trials.values())

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
        """One row per trial: index, id, status, ``generation_method`` (what chose the
        point, as in Ax's exp_to_df: design, optimizer, fallback or manual), the ``task``
        it evaluated (multitask experiments only), assignments,
        values, reason, runner metadata, start and end times (UTC), then the suggestion's own
        ``source`` (engine for the design, optimizer, fallback, manual, queued) and, for
        optimizer points, what the model knew: the observations it was fitted on, ``batch``
        or ``pool``, and whether it accounted for every result stored when the trial was
        created."""
        return trials_frame(self.trials.values())

    # --- the loop's decisions -------------------------------------------------------------
    def _record(self) -> None:
        """Store the trials that finished, then let the runner drop what it keeps for them:
        from now on no resumed scheduler needs it."""
        self._release(self._store.record())

    def _release(self, trials: list[Trial]) -> None:
        if not trials:
            return
        try:
            self.runner.release([t.spec() for t in trials])
        except Exception as error:
            # Their outcomes are stored: a leftover costs disk, not results, and a later
            # scheduler's first run releases them again.
            logger.warning(
                "the runner could not release %d finished trials: %r", len(trials), error
            )

    def _completion_reason(self, max_trials: int | None, new_trials: int) -> str | None:
        options = self.options
        if max_trials is not None and new_trials >= max_trials:
            return f"{max_trials} trials deployed"
        if options.total_trials is not None and self.trials.cost() >= options.total_trials:
            costs = " (in task costs)" if self.experiment.tasks else ""
            return f"total_trials={options.total_trials} reached{costs}"
        if self._deployer.exhausted:
            return "the search space has no free point left"
        if self._global_stop is None and options.global_stopping is not None:
            done = sorted(
                (t for t in self.trials.values() if t.status is TrialStatus.COMPLETED),
                key=lambda t: (t.ended or 0.0, t.index),
            )
            objective = self._objective
            values = [objective.signed(t) for t in done if objective.has_value(t)]
            self._global_stop = options.global_stopping.should_stop(values)
        if self._global_stop is not None:
            return f"global stopping: {self._global_stop}"
        return None

    def _time_left(self) -> float | None:
        """Seconds until this run's timeout: a suggestion waits no longer for a fresh model
        point (it takes the newest one, or Sobol), so the timeout holds."""
        if self._deadline is None:
            return None
        return max(self._deadline - self.clock.monotonic(), 0.0)

    def _check_failure_rate(self, force: bool) -> None:
        options = self.options
        counts = self.trials.counts()
        failures = counts[TrialStatus.FAILED] - self._failed_before
        if failures <= 0:
            return
        if not force and failures < options.min_failed_trials_for_failure_rate_check:
            return
        deployed = len(self.trials) - counts[TrialStatus.PENDING] - len(self._ended_before)
        rate = failures / max(deployed, 1)
        if rate > options.tolerated_trial_failure_rate:
            failed = [
                t
                for t in self.trials.values()
                if t.status is TrialStatus.FAILED and t.index not in self._ended_before
            ]
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
        for trial in self.trials.unsettled():
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
