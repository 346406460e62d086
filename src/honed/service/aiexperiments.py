"""AI experiment use cases: experiments that live in a project and are evaluated through
training runs. They are experiments underneath (same store, optimizer and suggestion
path), so this service adds only what differs: the project, the run-based progress and
budget, and deleting with runs."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import ExperimentUpdate
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.ranking import best_observations
from honed.domain.runs import RunProgress
from honed.domain.runs import TrainingRun
from honed.domain.tenancy import Token
from honed.errors import InvalidRequestError
from honed.service.access import check_ai_experiment
from honed.service.access import experiment_for
from honed.service.access import project_for
from honed.service.experiments import ExperimentService
from honed.storage.experiments import ExperimentPatch
from honed.storage.experiments import ExperimentStore
from honed.storage.observations import ObservationStore
from honed.storage.projects import ProjectStore
from honed.storage.runs import TrainingRunStore


class AiExperimentRoles(
    ExperimentStore, ObservationStore, ProjectStore, TrainingRunStore, Protocol
):
    """What AI experiment use cases touch: experiments, their projects and runs, and
    observations for the best runs."""


class AiExperimentService:
    def __init__(self, storage: AiExperimentRoles, experiments: ExperimentService) -> None:
        self._storage = storage
        self._experiments = experiments

    def create(self, caller: Token, project: str, spec: ExperimentSpec) -> Experiment:
        project_for(self._storage, caller, project)  # NotFoundError if missing
        with _budget_named_budget():
            return self._experiments.create(caller, replace(spec, runs_only=True, project=project))

    def get(self, caller: Token, experiment_id: int, write: bool = False) -> Experiment:
        return check_ai_experiment(experiment_for(self._storage, caller, experiment_id, write))

    def list(
        self,
        caller: Token,
        page: PageRequest,
        states: Sequence[ExperimentState],
        project: str | None = None,
    ) -> Page[Experiment]:
        if project is not None:
            project_for(self._storage, caller, project)
        return self._experiments.list(caller, page, states, project=project, runs_only=True)

    def update(self, caller: Token, experiment_id: int, change: ExperimentUpdate) -> Experiment:
        self.get(caller, experiment_id, write=True)
        with _budget_named_budget():
            return self._experiments.update(caller, experiment_id, change)

    def delete(self, caller: Token, experiment_id: int, include_runs: bool) -> None:
        self.get(caller, experiment_id, write=True)
        self._storage.update_experiment(
            experiment_id, ExperimentPatch(state=ExperimentState.DELETED)
        )
        if include_runs:
            self._storage.delete_experiment_runs(experiment_id)

    def progress(self, experiment: Experiment) -> RunProgress:
        counts = self._storage.run_counts(experiment.id)
        budget = experiment.spec.observation_budget
        return RunProgress(counts, budget - counts.total if budget is not None else None)

    def best_runs(self, caller: Token, experiment_id: int) -> builtins.list[TrainingRun]:
        """The runs behind the experiment's best observations (best_assignments semantics)."""
        experiment = self.get(caller, experiment_id)
        best = best_observations(experiment.spec, self._storage.all_observations(experiment_id))
        return self._storage.runs_for_observations(experiment_id, [o.id for o in best])


@contextmanager
def _budget_named_budget() -> Iterator[None]:
    """An AI experiment's budget is its observation budget, but users call it ``budget``."""
    try:
        yield
    except InvalidRequestError as error:
        raise InvalidRequestError(error.message.replace("observation_budget", "budget")) from None
