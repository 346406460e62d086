"""Observation use cases: values are checked against the experiment's metrics."""

from __future__ import annotations

import math
from collections.abc import Callable
from collections.abc import Sequence
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.records import ObservationInput
from honed.domain.tenancy import Token
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.service import idempotency
from honed.service.access import check_classic
from honed.service.access import check_live_experiment
from honed.service.access import experiment_for
from honed.service.ordering import check_marker_values
from honed.service.ordering import observation_order
from honed.storage.experiments import ExperimentStore
from honed.storage.observations import NewObservation
from honed.storage.observations import ObservationPatch
from honed.storage.observations import ObservationStore

MAX_BATCH = 2500


class ObservationRoles(ExperimentStore, ObservationStore, Protocol):
    """What observation use cases touch: observations, and experiments to check
    access."""


class ObservationService:
    def __init__(self, storage: ObservationRoles) -> None:
        self._storage = storage
        self._purger = idempotency.KeyPurger(storage)

    def create(
        self,
        caller: Token,
        experiment_id: int,
        given: ObservationInput,
        idempotency_key: str | None = None,
    ) -> tuple[Experiment, Observation]:
        experiment, created = self.create_batch(
            caller, experiment_id, [given], batch=False, idempotency_key=idempotency_key
        )
        return experiment, created[0]

    def create_batch(
        self,
        caller: Token,
        experiment_id: int,
        given: Sequence[ObservationInput],
        batch: bool = True,
        idempotency_key: str | None = None,
    ) -> tuple[Experiment, list[Observation]]:
        """Checked and stored in one transaction; returns the experiment as it was then.

        A retry with the same ``idempotency_key`` returns the first result (see
        honed.service.idempotency)."""
        if batch and not 1 <= len(given) <= MAX_BATCH:
            raise InvalidRequestError(
                f"Invalid observations: send between 1 and {MAX_BATCH} observations"
            )

        def prepare(experiment: Experiment) -> list[NewObservation]:
            check_live_experiment(caller, experiment, "observations")
            check_classic(experiment)
            checked = []
            for index, item in enumerate(given):
                prefix = f"Error in observation {index + 1}/{len(given)}: " if batch else ""
                try:
                    checked.append(_checked(experiment, item))
                except InvalidRequestError as error:
                    raise InvalidRequestError(prefix + error.message) from error
            return checked

        # Known before the experiment is read: the store reads them with it.
        named = [item.suggestion_id for item in given]
        if idempotency_key is None:
            return self._storage.observe(experiment_id, prepare, named=named)
        return self._idempotent(
            caller, experiment_id, given, batch, idempotency_key, prepare, named
        )

    def _idempotent(
        self,
        caller: Token,
        experiment_id: int,
        given: Sequence[ObservationInput],
        batch: bool,
        key: str,
        prepare: Callable[[Experiment], list[NewObservation]],
        named: Sequence[int | None],
    ) -> tuple[Experiment, list[Observation]]:
        check = idempotency.idempotency_for(caller.client_id, key, experiment_id, given, batch)
        self._purger.maybe_purge()
        try:
            return self._storage.observe(experiment_id, prepare, check, named)
        except ConflictError:
            # The same key arrived twice at once and the other request stored it first:
            # asked again, the store returns what that one stored.
            return self._storage.observe(experiment_id, prepare, check, named)

    def get(self, caller: Token, experiment_id: int, observation_id: int) -> Observation:
        experiment_for(self._storage, caller, experiment_id)
        return self._storage.get_observation(experiment_id, observation_id)

    def list(
        self,
        caller: Token,
        experiment_id: int,
        page: PageRequest,
        deleted: bool = False,
        sort: str = "id",
    ) -> tuple[Experiment, Page[Observation]]:
        """``sort`` is one of SigOpt's (honed.service.ordering), then id."""
        experiment = experiment_for(self._storage, caller, experiment_id)
        order = observation_order(experiment, sort)
        check_marker_values(page, order.text)
        return experiment, self._storage.list_observations(experiment_id, page, deleted, order)

    def update(
        self,
        caller: Token,
        experiment_id: int,
        observation_id: int,
        given: ObservationInput,
        fields: set[str],
    ) -> Observation:
        """Change only ``fields`` (the keys the client sent); the result is re-checked whole."""
        experiment = experiment_for(self._storage, caller, experiment_id, write=True)
        current = self._storage.get_observation(experiment_id, observation_id)
        if "suggestion" in fields and "assignments" in fields:
            raise InvalidRequestError("Send either suggestion or assignments, not both")
        failed = given.failed if "failed" in fields else current.failed
        values = _merged_values(current, given) if "values" in fields else current.values
        if "failed" in fields and failed and "values" not in fields:
            values = ()
        values = checked_values(experiment, values, failed)
        assignments = None
        if "assignments" in fields:
            assignments = experiment.spec.space.check_assignments(given.assignments)
        set_task = _task_update(experiment, current, given, fields)
        patch = ObservationPatch(
            values=values,
            failed=failed,
            metadata=given.metadata,
            set_metadata="metadata" in fields,
            suggestion_id=given.suggestion_id if "suggestion" in fields else None,
            assignments=assignments,
            task=given.task,
            set_task=set_task,
        )
        return self._storage.update_observation(experiment_id, observation_id, patch)

    def delete(self, caller: Token, experiment_id: int, observation_id: int | None = None) -> int:
        experiment_for(self._storage, caller, experiment_id, write=True)
        return self._storage.delete_observations(experiment_id, observation_id)


def _merged_values(current: Observation, given: ObservationInput) -> tuple[MetricValue, ...]:
    """SigOpt keeps a stored value_stddev when an update leaves it out; an explicit null
    clears it."""
    if given.values is None:
        return ()
    # Without stddev_sent (an input not parsed from JSON), a given stddev counts as sent.
    sent = given.stddev_sent or tuple(v.value_stddev is not None for v in given.values)
    old: dict[str | None, MetricValue] = {v.name: v for v in current.values}
    if len(current.values) == 1:
        # A single-metric experiment: an unnamed value (top-level ``value``) is that metric's.
        old[None] = current.values[0]
    return tuple(
        MetricValue(v.name, v.value, old[v.name].value_stddev)
        if not was_sent and v.name in old
        else v
        for v, was_sent in zip(given.values, sent, strict=True)
    )


def _task_update(
    experiment: Experiment, current: Observation, given: ObservationInput, fields: set[str]
) -> bool:
    """Whether an update sets the observation's task (to ``given.task``), or
    InvalidRequestError. As in SigOpt: the task of an observation of a suggestion is the
    suggestion's, so a task is given only with assignments, or for an observation that
    has none; one that gives up its suggestion for assignments needs its task then."""
    spec = experiment.spec
    sent = "task" in fields
    if not spec.tasks:
        if sent and given.task is not None:
            spec.check_task(given.task)
        return False
    if "suggestion" in fields and given.suggestion_id is not None:
        if sent:
            raise InvalidRequestError(
                "Invalid task: an observation of a suggestion is of the suggestion's task; "
                "send task only with assignments"
            )
        return False
    unlinked = "assignments" in fields and given.assignments is not None
    if current.suggestion_id is not None and not unlinked:
        if sent:
            raise InvalidRequestError(
                "Invalid task: this observation is of a suggestion, and of its task; send "
                "task with assignments to unlink it"
            )
        return False
    if unlinked and current.suggestion_id is not None and not sent:
        raise InvalidRequestError(
            "Invalid task: an observation that gives up its suggestion for assignments needs "
            "its task too"
        )
    if sent:
        spec.check_task(given.task)
    return sent


def _checked(experiment: Experiment, given: ObservationInput) -> NewObservation:
    if (given.suggestion_id is None) == (given.assignments is None):
        raise InvalidRequestError(
            "Invalid observation: send exactly one of suggestion or assignments"
        )
    spec = experiment.spec
    assignments = None
    task = None
    if given.assignments is not None:
        assignments = spec.space.check_assignments(given.assignments)
        task = spec.check_task(given.task)
    elif given.task_sent:
        spec.check_task(given.task)  # a plain experiment's refusal first
        raise InvalidRequestError(
            "Invalid task: an observation of a suggestion is of the suggestion's task; send "
            "task only with assignments"
        )
    values = checked_values(experiment, given.values or (), given.failed)
    return NewObservation(
        suggestion_id=given.suggestion_id,
        assignments=assignments,
        values=values,
        failed=given.failed,
        metadata=given.metadata,
        task=task,
    )


def checked_values(
    experiment: Experiment, values: tuple[MetricValue, ...], failed: bool
) -> tuple[MetricValue, ...]:
    """``values`` as an observation of ``experiment`` stores them, or InvalidRequestError."""
    metrics = experiment.spec.metrics
    if failed:
        if values:
            raise InvalidRequestError("Invalid values: a failed observation takes no values")
        return ()
    if not values:
        raise InvalidRequestError(
            "Invalid values: an observation that did not fail needs a value for each metric "
            f"({', '.join(str(m.name) for m in metrics)})"
        )
    if len(metrics) == 1 and len(values) == 1 and values[0].name is None:
        # A single unnamed value belongs to the single metric, whatever its name.
        values = (MetricValue(metrics[0].name, values[0].value, values[0].value_stddev),)
    known = {m.name for m in metrics}
    seen: set[str | None] = set()
    for value in values:
        if value.name not in known:
            raise InvalidRequestError(
                f"Invalid values: {value.name!r} is not a metric of this experiment "
                f"(metrics: {', '.join(str(m.name) for m in metrics)})"
            )
        if value.name in seen:
            raise InvalidRequestError(f"Invalid values: {value.name!r} is given twice")
        seen.add(value.name)
        if not math.isfinite(value.value):
            raise InvalidRequestError(f"Invalid values: the value of {value.name!r} is not finite")
        if value.value_stddev is not None and not (
            math.isfinite(value.value_stddev) and value.value_stddev >= 0
        ):
            raise InvalidRequestError(
                f"Invalid values: value_stddev of {value.name!r} must be a finite number >= 0"
            )
    missing = known - seen
    if missing:
        names = ", ".join(sorted(str(name) for name in missing))
        raise InvalidRequestError(f"Invalid values: missing a value for metric(s) {names}")
    return tuple(sorted(values, key=lambda v: str(v.name)))
