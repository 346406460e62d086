"""The scheduler's trials in the experiment's store, through the client: loaded on resume,
saved on every change while open, recorded as observations once finished (``record``
holds the metadata format)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from honed.client import Client
from honed.client import Experiment
from honed.client import NewObservation
from honed.client import Suggestion
from honed.errors import InvalidRequestError
from honed.scheduler import record
from honed.scheduler.clock import Clock
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus

logger = logging.getLogger("honed.scheduler")


class TrialStore:
    """One experiment's trials as suggestions and observations.

    ``finish`` ends a trial in memory and queues it; ``record`` stores the queue. A trial
    finished but not yet recorded when the process dies is still RUNNING in the store, so a
    resumed scheduler polls it again.
    """

    def __init__(self, client: Client, experiment: Experiment, clock: Clock) -> None:
        self.client = client
        self.experiment = experiment
        self.clock = clock
        self._unrecorded: list[Trial] = []

    def load(self) -> dict[int, Trial]:
        """The experiment's scheduler trials by index, as a resumed scheduler sees them."""
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

    def suggest(self, trial: Trial, max_wait: float | None) -> Suggestion:
        """A new suggestion for ``trial``, stored with its metadata (its key among them)."""
        return self.client.create_suggestion(
            self.experiment.id, metadata=record.suggestion_metadata(trial), max_wait=max_wait
        )

    def save_open(self, trial: Trial) -> None:
        self.client.update_suggestion(
            self.experiment.id, trial.id, record.suggestion_metadata(trial)
        )

    def finish(
        self,
        trial: Trial,
        status: TrialStatus,
        values: Mapping[str, float] | None = None,
        reason: str | None = None,
        ended: float | None = None,
    ) -> None:
        """End ``trial`` in ``status``; ``record`` stores it as its observation (failed ones
        too: failures are data the optimizer learns from). ``ended``: when it ended, as its
        runner saw it (kept between its start and now), else now."""
        now = self.clock.time()
        if ended is not None:
            ended = min(max(ended, trial.started or ended), now)
        trial.finish(status, now if ended is None else ended, values, reason)
        self._unrecorded.append(trial)
        logger.info("trial %d %s%s", trial.index, status.value, f": {reason}" if reason else "")

    @property
    def unrecorded(self) -> bool:
        return bool(self._unrecorded)

    def record(self) -> list[Trial]:
        """Store the trials finished since the last call: one batch request for a round's
        completions. Returns the trials stored."""
        pending, self._unrecorded = self._unrecorded, []
        if len(pending) > 1:
            key = f"honed-trials-{self.experiment.id}-" + "-".join(t.id for t in pending)
            try:
                created = self.client.create_observations(
                    self.experiment.id, [_observation(t) for t in pending], key[:200]
                )
            except InvalidRequestError:
                pass  # one result does not fit the experiment: store them one by one
            else:
                for trial, observation in zip(pending, created, strict=True):
                    trial.observation_id = observation.id
                return pending
        for trial in pending:
            self._record_one(trial)
        return pending

    def _record_one(self, trial: Trial) -> None:
        key = f"honed-trial-{self.experiment.id}-{trial.id}"
        observation = _observation(trial)
        try:
            created = self.client.create_observation(self.experiment.id, observation, key)
        except InvalidRequestError as error:
            if observation.failed:
                raise
            # The runner's result does not fit the experiment (a metric missing, a string
            # value): keep the trial as a failure that says why.
            trial.reject_result(f"invalid result {trial.values!r}: {error.message}")
            logger.info("trial %d failed: %s", trial.index, trial.reason)
            created = self.client.create_observation(
                self.experiment.id, _observation(trial), key + "-f"
            )
        trial.observation_id = created.id


def _observation(trial: Trial) -> NewObservation:
    failed = trial.status is TrialStatus.FAILED or not trial.values
    return NewObservation(
        suggestion=trial.id,
        values=None if failed else trial.values,
        failed=failed,
        metadata=record.observation_metadata(trial),
    )
