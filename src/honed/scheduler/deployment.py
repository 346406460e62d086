"""Deploying trials: new suggestions and pending trials out through the runner, as far as
``max_pending_trials`` and the runner's capacity allow; failed deployments retried with
backoff."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable

from honed.errors import ConflictError
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.scheduler.book import TrialBook
from honed.scheduler.clock import Clock
from honed.scheduler.errors import SchedulerError
from honed.scheduler.options import SchedulerOptions
from honed.scheduler.runner import Runner
from honed.scheduler.store import TrialStore
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus

logger = logging.getLogger("honed.scheduler")


class Deployer:
    """Creates trials in ``trials`` (shared with the scheduler) and launches them.

    ``time_left``: seconds to the run's timeout (None: none), read for every suggestion, which
    waits no longer for a fresh model point. ``exhausted``: the experiment refused a new
    suggestion because no free point is left.
    """

    def __init__(
        self,
        trials: TrialBook,
        runner: Runner,
        store: TrialStore,
        options: SchedulerOptions,
        clock: Clock,
        time_left: Callable[[], float | None],
    ) -> None:
        self.trials = trials
        self.runner = runner
        self.store = store
        self.options = options
        self.clock = clock
        self.time_left = time_left
        self.exhausted = False
        self._suggestion_failures = 0
        self._last_suggestion_error: Exception | None = None

    def deploy(self, room: int | None) -> int:
        """Deploy what capacity allows: pending trials first, then new ones (at most
        ``room``). Returns how many new trials were created."""
        options = self.options
        now = self.clock.monotonic()
        active = [t for t in self.trials.unsettled() if not t.status.terminal]
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
            # A trial's task is known once it is suggested: each new one may cost 1.
            used = self.trials.cost()
            fresh = min(fresh, math.ceil(options.total_trials - used))
        created = self.create(fresh) if fresh > 0 else []
        batch = ready + created
        if batch:
            self._launch(batch)
        return len(created)

    def give_up_if_optimizer_keeps_failing(self) -> None:
        """Nothing runs and suggestions keep failing: end instead of asking forever."""
        if self._suggestion_failures >= self.options.max_suggestion_failures:
            raise SchedulerError(
                f"no suggestion after {self._suggestion_failures} attempts in a row and no "
                f"trial running; last error: {self._last_suggestion_error}"
            )

    def create(self, count: int) -> list[Trial]:
        """Up to ``count`` new PENDING trials, each stored with its suggestion; fewer when
        the experiment has no free point left or the optimizer fails."""
        created: list[Trial] = []
        for _ in range(count):
            index = self.trials.next_index()
            # The key is stored with the suggestion, so a trial keeps its name for the runner
            # across crashes and ``run`` can recognise one it already launched.
            trial = Trial(index=index, id="", assignments={}, key=uuid.uuid4().hex)
            try:
                suggestion = self.store.suggest(trial, max_wait=self.time_left())
            except ConflictError as error:
                logger.info("no new suggestion: %s", error.message)
                self.exhausted = True
                break
            except InvalidRequestError:
                raise  # the experiment itself is wrong (deleted, no permission): say so now
            except HonedError as error:
                self._suggestion_failures += 1
                self._last_suggestion_error = error
                logger.warning("the optimizer could not suggest: %s", error)
                break
            self._suggestion_failures = 0
            trial.take(suggestion)
            self.trials[index] = trial
            created.append(trial)
        return created

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
                self._failed(trial, outcome)
                continue
            trial.start(outcome, started=self.clock.time(), now=self.clock.monotonic())
            self.store.save_open(trial)
            logger.info("trial %d running: %s", trial.index, trial.assignments)

    def _failed(self, trial: Trial, error: Exception) -> None:
        attempts = trial.deploy_attempts
        if attempts >= self.options.deploy_attempts:
            self.store.finish(
                trial,
                TrialStatus.FAILED,
                reason=f"deployment failed {attempts} times; last error: {error!r}",
            )
            return
        delay = self.options.deploy_backoff_seconds * 2 ** (attempts - 1)
        trial.retry_deployment_at(self.clock.monotonic() + delay)
        logger.warning(
            "trial %d: deployment failed (%r); retry %d in %.3g s",
            trial.index,
            error,
            attempts,
            delay,
        )
        self.store.save_open(trial)
