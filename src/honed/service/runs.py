"""Training run use cases.

A new run of an AI experiment gets its assignments from SuggestionService.create, the same
serialized, duplicate-free path as a classic suggestion; when the run finishes, its values
become the observation of that suggestion (checked as any observation is), and a run that
failed, or ended without a value for every metric, becomes a failed observation.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.projects import check_project_id
from honed.domain.records import MetricValue
from honed.domain.runs import MAX_BATCH
from honed.domain.runs import Checkpoint
from honed.domain.runs import RunState
from honed.domain.runs import TrainingRun
from honed.domain.runs import check_run_data
from honed.domain.runs import merge_json
from honed.domain.runs import replace_json
from honed.domain.tenancy import Token
from honed.domain.validation import validate_metadata
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import PermissionDeniedError
from honed.service.access import check_ai_experiment
from honed.service.access import live_experiment_for
from honed.service.access import project_for
from honed.service.access import require_write
from honed.service.access import sees_experiment
from honed.service.observations import checked_values
from honed.service.suggestions import SuggestionService
from honed.storage.experiments import ExperimentStore
from honed.storage.observations import NewObservation
from honed.storage.projects import ProjectStore
from honed.storage.runs import NewTrainingRun
from honed.storage.runs import RunUpdate
from honed.storage.runs import TrainingRunStore
from honed.storage.suggestions import SuggestionStore

MAX_CHECKPOINTS = 1000
# What sigopt-server calls the source of assignments the optimizer chose.
OPTIMIZED_SOURCE = "SigOpt"
# Keys of a run body that are not part of its reported data.
LIFECYCLE_FIELDS = ("state", "deleted", "project")


def _state(raw: Mapping[str, Any], default: RunState) -> RunState:
    if "state" not in raw:
        return default
    value = raw["state"]
    if value is None:
        raise InvalidRequestError("Invalid state: cannot be null")
    try:
        return RunState(value)
    except ValueError:
        raise InvalidRequestError(
            f"Invalid state: {value!r}; expected active, completed or failed"
        ) from None


def _reported(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k not in LIFECYCLE_FIELDS}


def run_observation(
    experiment: Experiment,
    state: RunState,
    data: Mapping[str, Any],
    suggestion_id: int | None = None,
    assignments: Mapping[str, Any] | None = None,
) -> NewObservation:
    """What a finished run tells the optimizer: its metric values, or a failure."""
    values = data.get("values") or {}
    metric_names = [m.name for m in experiment.spec.metrics]
    failed = state is RunState.FAILED or any(name not in values for name in metric_names)
    given: tuple[MetricValue, ...] = ()
    if not failed:
        given = tuple(
            MetricValue(name, values[name]["value"], values[name].get("value_stddev"))
            for name in metric_names
        )
    return NewObservation(
        suggestion_id=suggestion_id,
        assignments=assignments,
        values=checked_values(experiment, given, failed),
        failed=failed,
        metadata=None,
    )


class TrainingRunRoles(ExperimentStore, SuggestionStore, ProjectStore, TrainingRunStore, Protocol):
    """What training run use cases touch: runs and checkpoints, their projects and
    experiments, and the suggestion a failed create withdraws."""


class TrainingRunService:
    def __init__(self, storage: TrainingRunRoles, suggestions: SuggestionService) -> None:
        self._storage = storage
        self._suggestions = suggestions

    # --- create ---------------------------------------------------------------------------
    def create_in_experiment(
        self, caller: Token, experiment_id: int, raw: Mapping[str, Any]
    ) -> TrainingRun:
        experiment = check_ai_experiment(
            live_experiment_for(self._storage, caller, experiment_id, "training runs")
        )
        project = experiment.spec.project
        if project is None:
            raise PermissionDeniedError(
                f"Experiment {experiment_id} must belong to a project to create training runs"
            )
        state, data = self._new_run_data(raw)
        given = data.get("assignments") or {}
        space = experiment.spec.space
        names = {p.name for p in space.parameters} | {c.name for c in space.conditionals}
        relevant = {k: v for k, v in given.items() if k in names}
        if state.is_finished:
            # A run reported after the fact: its assignments must name a whole point.
            assignments = experiment.spec.space.check_assignments(relevant, "assignments")
            observation = run_observation(experiment, state, data, assignments=assignments)
            new = NewTrainingRun(project, state, data, experiment_id, observation=observation)
            return self._storage.create_training_runs(caller.client_id, [new])[0]
        suggestion = self._suggestions.create(
            caller, experiment_id, assignments=relevant or None, for_run=True
        )
        data["assignments"] = {**given, **suggestion.assignments}
        data["assignments_meta"] = {
            **data.get("assignments_meta", {}),
            **{name: {"source": OPTIMIZED_SOURCE} for name in suggestion.assignments},
        }
        data["assignments_sources"] = {
            **data.get("assignments_sources", {}),
            OPTIMIZED_SOURCE: {"sort": 1, "default_show": True},
        }
        new = NewTrainingRun(project, state, data, experiment_id, suggestion.id)
        try:
            return self._storage.create_training_runs(caller.client_id, [new])[0]
        except Exception:
            # No run holds the point: free it for other workers rather than leave it open.
            self._storage.delete_suggestions(experiment_id, suggestion.id)
            raise

    def create_in_project(
        self, caller: Token, project: str, raws: Sequence[Mapping[str, Any]]
    ) -> list[TrainingRun]:
        """Runs of no experiment (the sigopt client's create_run and upload_runs)."""
        project_for(self._storage, caller, project)  # 404 first: a project it cannot see
        require_write(caller)
        if not 1 <= len(raws) <= MAX_BATCH:
            raise InvalidRequestError(f"Invalid runs: send between 1 and {MAX_BATCH} runs")
        new = []
        for index, raw in enumerate(raws):
            try:
                state, data = self._new_run_data(raw)
            except InvalidRequestError as error:
                prefix = f"Error in run {index + 1}/{len(raws)}: " if len(raws) > 1 else ""
                raise InvalidRequestError(prefix + error.message) from None
            new.append(NewTrainingRun(project, state, data))
        return self._storage.create_training_runs(caller.client_id, new)

    def _new_run_data(self, raw: Mapping[str, Any]) -> tuple[RunState, dict[str, Any]]:
        if "project" in raw:
            raise InvalidRequestError("Unknown field project: the URL names the project")
        if not raw.get("name"):
            raise InvalidRequestError("Missing required field name")
        state = _state(raw, RunState.ACTIVE)
        reported = {k: v for k, v in _reported(raw).items() if v is not None}
        return state, check_run_data(replace_json({}, reported))

    # --- read -----------------------------------------------------------------------------
    def get(self, caller: Token, run_id: int) -> TrainingRun:
        run = self._storage.get_training_run(run_id)
        _check_run(caller, run)
        return run

    def list(
        self,
        caller: Token,
        project: str,
        page: PageRequest,
        experiment_id: int | None = None,
        deleted: bool | None = False,
    ) -> Page[TrainingRun]:
        project_for(self._storage, caller, project)
        if caller.experiment_id is not None:
            # A token bound to an experiment lists that experiment's runs only.
            if not sees_experiment(caller, experiment_id or caller.experiment_id):
                raise NotFoundError()
            experiment_id = caller.experiment_id
        return self._storage.list_training_runs(
            caller.client_id, project, page, experiment_id, deleted
        )

    # --- update ---------------------------------------------------------------------------
    def update(
        self, caller: Token, run_id: int, raw: Mapping[str, Any], merge: bool
    ) -> TrainingRun:
        """PUT (``merge`` False: each given field replaces the stored one) or SigOpt's MERGE
        (objects merge recursively, null removes a key). Finishing a run of an AI experiment
        stores its observation, once."""
        self.get(caller, run_id)
        require_write(caller)
        for field in ("state", "name", "project"):
            if field in raw and raw[field] is None:
                raise InvalidRequestError(f"Invalid {field}: cannot remove {field} from a run")
        deleted = raw.get("deleted")
        if deleted is not None and not isinstance(deleted, bool):
            raise InvalidRequestError("Invalid deleted: expected true or false")
        project = check_project_id(raw["project"], "project") if "project" in raw else None
        reported = _reported(raw)

        def change(run: TrainingRun, experiment: Experiment | None) -> RunUpdate:
            _check_run(caller, run)
            combine = merge_json if merge else replace_json
            data = check_run_data(combine(run.data, reported))
            state = _state(raw, run.state)
            observation = None
            if (
                state.is_finished
                and experiment is not None
                and run.observation_id is None
                and run.suggestion_id is not None
            ):
                observation = run_observation(experiment, state, data, run.suggestion_id)
            return RunUpdate(
                state=state,
                data=data,
                deleted=run.deleted if deleted is None else deleted,
                project=project or run.project,
                observation=observation,
            )

        return self._storage.update_training_run(run_id, change)

    def delete(self, caller: Token, run_id: int) -> TrainingRun:
        return self.update(caller, run_id, {"deleted": True}, merge=True)

    # --- checkpoints ----------------------------------------------------------------------
    def create_checkpoint(
        self,
        caller: Token,
        run_id: int,
        values: Sequence[MetricValue],
        metadata: object = None,
    ) -> Checkpoint:
        run = self.get(caller, run_id)
        require_write(caller)
        if run.checkpoint_count >= MAX_CHECKPOINTS:
            raise InvalidRequestError(
                f"Invalid checkpoint: a run takes at most {MAX_CHECKPOINTS} checkpoints"
            )
        names = [v.name for v in values]
        if len(set(names)) != len(names):
            raise InvalidRequestError("Invalid values: each metric may appear once")
        return self._storage.create_checkpoint(run_id, values, validate_metadata(metadata))

    def list_checkpoints(self, caller: Token, run_id: int, page: PageRequest) -> Page[Checkpoint]:
        self.get(caller, run_id)
        return self._storage.list_checkpoints(run_id, page)


def _check_run(caller: Token, run: TrainingRun) -> None:
    if run.client_id != caller.client_id or not sees_experiment(caller, run.experiment_id):
        raise NotFoundError()
