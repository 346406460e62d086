"""Experiment use cases: create, read, update, soft delete, progress and best assignments."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import ExperimentUpdate
from honed.domain.metrics import Metric
from honed.domain.optimizer import OptimizerStatus
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.parameters import Parameter
from honed.domain.parameters import SearchSpace
from honed.domain.ranking import best_observations
from honed.domain.ranking import budget_consumed
from honed.domain.ranking import budget_of_counts
from honed.domain.records import Observation
from honed.domain.records import Progress
from honed.domain.records import Suggestion
from honed.domain.tenancy import Token
from honed.domain.validation import validate_metadata
from honed.domain.validation import validate_spec
from honed.engine.space import constraints_feasible
from honed.errors import InvalidRequestError
from honed.service.access import experiment_for
from honed.service.access import require_write
from honed.service.answered import answered_suggestions
from honed.service.ordering import check_marker_values
from honed.storage.experiments import ExperimentPatch
from honed.storage.experiments import ExperimentQuery
from honed.storage.experiments import ExperimentStore
from honed.storage.observations import ObservationStore
from honed.storage.optimizer import OptimizerSignals
from honed.storage.suggestions import SuggestionStore


class ExperimentRoles(
    ExperimentStore, ObservationStore, SuggestionStore, OptimizerSignals, Protocol
):
    """What experiment use cases touch: experiments, their observations for progress and
    best assignments (and the suggestions they answered, for the export), and the
    optimizer's status shown with one."""


@dataclass(frozen=True)
class ExperimentExport:
    experiment: Experiment
    progress: Progress
    optimizer: OptimizerStatus
    #: Oldest first.
    observations: tuple[Observation, ...]
    #: The suggestions the observations answered, by id (their source and curves).
    suggestions: Mapping[int, Suggestion]


class ExperimentService:
    def __init__(self, storage: ExperimentRoles) -> None:
        self._storage = storage

    def create(self, caller: Token, spec: ExperimentSpec) -> Experiment:
        require_write(caller)
        spec = replace(spec, development=caller.development)
        _validate(spec)
        return self._storage.create_experiment(caller.client_id, spec)

    def get(self, caller: Token, experiment_id: int) -> Experiment:
        return experiment_for(self._storage, caller, experiment_id)

    def list(
        self,
        caller: Token,
        page: PageRequest,
        states: Sequence[ExperimentState],
        project: str | None = None,
        runs_only: bool | None = False,
        query: ExperimentQuery | None = None,
        development: bool | None = None,
    ) -> Page[Experiment]:
        """``runs_only``: False for classic experiments, True for AI experiments, None both.

        A token sees only experiments of its own kind (development or not), so asking for
        the other kind with ``development`` lists none.
        """
        if development is not None and development != caller.development:
            return Page(items=[], count=0)
        check_marker_values(page, text=False)
        return self._storage.list_experiments(
            caller.client_id,
            page,
            states,
            development=caller.development,
            project=project,
            runs_only=runs_only,
            experiment_id=caller.experiment_id,
            query=query,
        )

    def update(self, caller: Token, experiment_id: int, change: ExperimentUpdate) -> Experiment:
        experiment = experiment_for(self._storage, caller, experiment_id, write=True)
        spec = experiment.spec
        if change.name is not None:
            spec = replace(spec, name=change.name)
        if change.set_observation_budget:
            spec = replace(spec, observation_budget=change.observation_budget)
        if change.set_parallel_bandwidth:
            spec = replace(spec, parallel_bandwidth=change.parallel_bandwidth)
        if change.set_metadata:
            spec = replace(spec, metadata=validate_metadata(change.metadata))
        if change.parameters is not None:
            spec = replace(spec, space=_updated_space(spec, change.parameters))
        if change.metrics is not None:
            spec = replace(spec, metrics=_updated_metrics(spec.metrics, change.metrics))
        if change.set_project:
            if spec.runs_only and change.project is None:
                raise InvalidRequestError("Invalid project: an AI experiment needs a project")
            spec = replace(spec, project=change.project)
        if change.set_suggestion_ttl:
            spec = replace(spec, suggestion_ttl_seconds=change.suggestion_ttl_seconds)
        _validate(spec)
        return self._storage.update_experiment(
            experiment_id, ExperimentPatch(name=change.name, state=change.state, spec=spec)
        )

    def delete(self, caller: Token, experiment_id: int) -> None:
        experiment_for(self._storage, caller, experiment_id, write=True)
        self._storage.update_experiment(
            experiment_id, ExperimentPatch(state=ExperimentState.DELETED)
        )

    def progress(self, experiment: Experiment) -> Progress:
        """From the stored figures (a few queries), not by reading every observation: a
        list renders one per experiment."""
        totals = self._storage.observation_totals(experiment)
        return Progress(
            observation_count=totals.count,
            first_observation=totals.first,
            last_observation=totals.last,
            best_observation=totals.best,
            budget_consumed=budget_of_counts(experiment.spec, dict(totals.per_task)),
        )

    def export(self, caller: Token, experiment_id: int) -> ExperimentExport:
        """The experiment as one reads it and all its observations, from one read of
        them, with the suggestions they answered: what the JSON export holds
        (honed.api.export)."""
        experiment = experiment_for(self._storage, caller, experiment_id)
        observations = self._storage.all_observations(experiment_id)
        return ExperimentExport(
            experiment,
            progress_of(experiment, observations),
            self._storage.optimizer_status(experiment_id),
            tuple(observations),
            answered_suggestions(self._storage, experiment_id, observations),
        )

    def optimizer_status(self, experiment: Experiment) -> OptimizerStatus:
        """What the optimizer did last for ``experiment`` (one the caller may read)."""
        return self._storage.optimizer_status(experiment.id)

    def best_assignments(self, caller: Token, experiment_id: int) -> builtins.list[Observation]:
        return self.best_of(experiment_for(self._storage, caller, experiment_id))

    def best_of(self, experiment: Experiment) -> builtins.list[Observation]:
        """Best assignments of ``experiment`` (one the caller may read). A Pareto front is
        found by the store, which reads only its observations: ``honed experiments list``
        asks for it for every experiment with two optimized metrics."""
        if len(experiment.spec.optimized_metrics) == 2:
            return self._storage.pareto_front(experiment)
        return best_observations(experiment.spec, self._storage.all_observations(experiment.id))


def progress_of(experiment: Experiment, observations: Sequence[Observation]) -> Progress:
    """``observations``: every one of the experiment's, oldest first."""
    best = None
    if len(experiment.spec.optimized_metrics) == 1:
        ranked = best_observations(experiment.spec, observations)
        best = ranked[0] if ranked else None
    return Progress(
        observation_count=len(observations),
        first_observation=observations[0] if observations else None,
        last_observation=observations[-1] if observations else None,
        best_observation=best,
        budget_consumed=budget_consumed(experiment.spec, observations),
    )


def _updated_space(spec: ExperimentSpec, parameters: tuple[Parameter, ...]) -> SearchSpace:
    """SigOpt's rule: the full list is sent; types and transformations cannot change."""
    old = {p.name: p for p in spec.space.parameters}
    for index, parameter in enumerate(parameters):
        previous = old.get(parameter.name)
        path = f"parameters[{index}] ({parameter.name})"
        if previous is None:
            if parameter.default_value is None:
                raise InvalidRequestError(
                    f"Invalid {path}: a parameter added to an experiment needs a default_value"
                )
        elif previous.type is not parameter.type:
            raise InvalidRequestError(f"Invalid {path}.type: a parameter's type cannot change")
        elif previous.transformation != parameter.transformation:
            raise InvalidRequestError(
                f"Invalid {path}.transformation: a parameter's transformation cannot change"
            )
    return replace(spec.space, parameters=parameters)


def _updated_metrics(old: tuple[Metric, ...], new: tuple[Metric, ...]) -> tuple[Metric, ...]:
    """Only thresholds may change, so the list must name the same metrics the same way."""
    by_name = {m.name: m for m in old}
    if sorted(str(m.name) for m in new) != sorted(str(m.name) for m in old):
        raise InvalidRequestError("Invalid metrics: the list must name the existing metrics")
    for index, metric in enumerate(new):
        previous = by_name[metric.name]
        if (metric.objective, metric.strategy) != (previous.objective, previous.strategy):
            raise InvalidRequestError(
                f"Invalid metrics[{index}]: only a metric's threshold can be updated"
            )
    return new


def _validate(spec: ExperimentSpec) -> None:
    """The definition's rules, and constraints that some point meets all together (each
    alone is checked by validate_spec): otherwise every suggestion would be a conflict."""
    validate_spec(spec)
    if not constraints_feasible(spec.space):
        raise InvalidRequestError(
            "Invalid linear_constraints: no point of the search space satisfies all of them "
            "together"
        )
