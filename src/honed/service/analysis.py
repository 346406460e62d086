"""The model analysis as people read it: the stored one with where it stands, or why there
is none. Read-only; optimizer processes compute and store analyses (service/optimizer.py),
so the API process never needs the model (nor torch)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace
from enum import Enum
from typing import Protocol

from honed.domain.analysis import ModelAnalysis
from honed.domain.experiment import Experiment
from honed.domain.tenancy import Token
from honed.engine.design import initial_design_size
from honed.service.access import experiment_for
from honed.service.choice import uses_optimizer
from honed.storage.analyses import ModelAnalyses
from honed.storage.experiments import ExperimentStore
from honed.storage.observations import ObservationStore
from honed.storage.optimizer import OptimizerSignals


class AnalysisStatus(Enum):
    READY = "ready"
    #: The model has not taken over yet: the initial design is still being observed.
    MODEL_NOT_READY = "model_not_ready"
    #: The model is due, but no optimizer process has analysed a fit of it yet (or, for a
    #: multitask experiment, its target task has no result to base the analysis at yet).
    NOT_COMPUTED = "not_computed"
    #: Random, grid and development experiments, or none with an optimized metric.
    NO_MODEL = "no_model"


@dataclass(frozen=True)
class AnalysisView:
    status: AnalysisStatus
    #: One sentence for the page: where the analysis stands, or why there is none.
    message: str
    #: Observations stored now (not deleted), against the analysis's own count.
    observation_count: int
    analysis: ModelAnalysis | None
    #: Multitask: the task the analysis is (or will be) of, the target (cost 1): the model
    #: is analysed with its cost at the target's, based at that task's best result.
    task: str | None = None


class AnalysisRoles(ExperimentStore, ObservationStore, OptimizerSignals, ModelAnalyses, Protocol):
    """What the analysis view reads: the experiment, how many observations it has, the
    stored analysis, and whether the optimizer fitted it."""


class AnalysisService:
    def __init__(self, storage: AnalysisRoles) -> None:
        self._storage = storage

    def view(self, caller: Token, experiment_id: int) -> AnalysisView:
        experiment = experiment_for(self._storage, caller, experiment_id)
        target = experiment.spec.target_task
        return replace(self._view(experiment), task=target.name if target else None)

    def _view(self, experiment: Experiment) -> AnalysisView:
        experiment_id = experiment.id
        target = experiment.spec.target_task
        analysis = self._storage.model_analysis(experiment_id)
        count = self._storage.count_observations(experiment_id)
        if analysis is not None:
            behind = count - analysis.observation_count
            message = f"From the model fitted on {analysis.observation_count} observations"
            message += f"; {behind} newer ones are in the next fit." if behind > 0 else "."
            return AnalysisView(AnalysisStatus.READY, message, count, analysis)
        if not uses_optimizer(experiment):
            return AnalysisView(
                AnalysisStatus.NO_MODEL,
                "This experiment is not served by honed's model (random, grid or development "
                "experiments, or no optimized metric), so there is no model to analyse.",
                count,
                None,
            )
        design = initial_design_size(experiment.spec)
        # No read of the observations themselves: this is polled by every open page.
        if count < design:
            return AnalysisView(
                AnalysisStatus.MODEL_NOT_READY,
                f"Model not ready: an optimizer process fits it once the initial design "
                f"({design} successful observations) is in; {count} observations so far.",
                count,
                None,
            )
        # Multitask: the analysis is based at the target task's best result, so there is
        # none before its first. (The observations are read only while no analysis is
        # stored: from the first on, the first answer above is given.)
        if target is not None and not self._has_result_at(experiment, target.name):
            return AnalysisView(
                AnalysisStatus.NOT_COMPUTED,
                f"Waiting for a first result at the target task {target.name} (cost 1): the "
                f"model's analyses are of that task, and none of the {count} observations so "
                "far is a result there.",
                count,
                None,
            )
        fitted = self._storage.optimizer_status(experiment_id).fitted_at is not None
        return AnalysisView(
            AnalysisStatus.NOT_COMPUTED,
            "Not computed yet: an optimizer process analyses the model after its next fit."
            if fitted
            else "Not computed yet: no optimizer process has fitted this experiment's model "
            "(honed serve runs them unless started with --optimizers 0).",
            count,
            None,
        )

    def _has_result_at(self, experiment: Experiment, task: str) -> bool:
        """Whether a successful observation of the optimized metric evaluated ``task``."""
        metric = experiment.spec.optimized_metrics[0].name
        return any(
            o.task == task and not o.failed and o.value_of(metric) is not None
            for o in self._storage.all_observations(experiment.id)
        )
