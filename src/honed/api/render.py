"""Domain objects to SigOpt v1 JSON (ids as strings, timestamps as integer seconds)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

from honed.api import markers
from honed.domain.experiment import Experiment
from honed.domain.experiment import Task
from honed.domain.files import RunFile
from honed.domain.metrics import Metric
from honed.domain.optimizer import OptimizerStatus
from honed.domain.paging import Page
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.projects import Project
from honed.domain.records import ModelBasis
from honed.domain.records import Observation
from honed.domain.records import Progress
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.runs import Checkpoint
from honed.domain.runs import RunProgress
from honed.domain.runs import TrainingRun
from honed.domain.tags import Tag
from honed.domain.tenancy import Client
from honed.domain.tenancy import Token

JSON = dict[str, Any]
T = TypeVar("T")
#: How one kind of record renders (for lists of it).
Render = Callable[[T], JSON]


def _id(value: int | None) -> str | None:
    return str(value) if value is not None else None


def _number(parameter: Parameter, value: float) -> float | int:
    return int(value) if parameter.type is ParameterType.INT else float(value)


def parameter_json(parameter: Parameter) -> JSON:
    data: JSON = {
        "object": "parameter",
        "name": parameter.name,
        "type": parameter.type.value,
        "bounds": None,
        "categorical_values": None,
        "conditions": {name: list(values) for name, values in parameter.conditions},
        "default_value": parameter.default_value,
        "prior": None,
        "transformation": parameter.transformation,
    }
    if parameter.type is ParameterType.CATEGORICAL:
        data["categorical_values"] = [
            {"object": "categorical_value", "name": name, "enum_index": index}
            for index, name in enumerate(parameter.categorical_values, start=1)
        ]
    else:
        data["bounds"] = {
            "object": "bounds",
            "min": _number(parameter, parameter.low),
            "max": _number(parameter, parameter.high),
        }
    if parameter.grid is not None:
        data["grid"] = [_number(parameter, v) for v in parameter.grid]
    if parameter.prior is not None:
        kind = parameter.prior.get("name")
        data["prior"] = {"object": f"{kind}_prior", **parameter.prior}
    return data


def metric_json(metric: Metric) -> JSON:
    return {
        "object": "metric",
        "name": metric.name,
        "objective": metric.objective.value,
        "strategy": metric.strategy.value,
        "threshold": metric.threshold,
    }


def experiment_json(experiment: Experiment, progress: Progress | None) -> JSON:
    spec = experiment.spec
    single = len(spec.metrics) == 1
    last = progress.last_observation if progress is not None else None
    return {
        "object": "experiment",
        "id": str(experiment.id),
        "name": spec.name,
        "type": spec.type.value,
        "state": experiment.state.value,
        "created": experiment.created,
        # Observations do not write the experiment row (that would contend with the lock
        # suggestion creation takes), so the newest observation counts here.
        "updated": max(experiment.updated, last.created if last is not None else 0),
        "client": str(experiment.client_id),
        "user": None,
        "project": spec.project,
        "development": spec.development,
        "runs_only": spec.runs_only,
        "observation_budget": spec.observation_budget,
        "parallel_bandwidth": spec.parallel_bandwidth,
        "num_solutions": spec.num_solutions,
        "metadata": dict(spec.metadata) if spec.metadata is not None else None,
        "metrics": [metric_json(m) for m in sorted(spec.metrics, key=lambda m: str(m.name))],
        "parameters": [
            parameter_json(p) for p in sorted(spec.space.parameters, key=lambda p: p.name)
        ],
        "conditionals": [
            {"object": "conditional", "name": c.name, "values": list(c.values)}
            for c in spec.space.conditionals
        ],
        "linear_constraints": [
            {
                "object": "linear_constraint",
                "type": c.type,
                "terms": [
                    {"object": "constraint_term", "name": name, "weight": weight}
                    for name, weight in c.terms
                ],
                "threshold": c.threshold,
            }
            for c in spec.space.linear_constraints
        ],
        "progress": progress_json(progress, single, spec.tasks) if progress is not None else None,
        # honed's extension: open suggestions expire after this long without news (null:
        # never, as in SigOpt).
        "suggestion_ttl_seconds": spec.suggestion_ttl_seconds,
        # Multitask only (the key is absent otherwise, as sigopt-server renders it).
        **({"tasks": tasks_json(spec.tasks)} if spec.tasks else {}),
    }


def fetched_experiment_json(
    experiment: Experiment, progress: Progress, optimizer: OptimizerStatus
) -> JSON:
    """An experiment as GET /v1/experiments/{id} answers it: as in lists, and the
    optimizer's state (not in lists: a query each)."""
    return {**experiment_json(experiment, progress), "optimizer": optimizer_json(optimizer)}


def task_json(task: Task) -> JSON:
    return {"object": "task", "name": task.name, "cost": task.cost}


def tasks_json(tasks: Sequence[Task]) -> list[JSON]:
    """An experiment's tasks, the most costly (the target) first."""
    return [task_json(t) for t in sorted(tasks, key=lambda t: t.cost, reverse=True)]


def _with_task(data: JSON, tasks: Sequence[Task], name: str | None) -> JSON:
    """``data`` with the record's ``task`` object: only for a multitask experiment (its
    ``tasks``), as sigopt-server renders records."""
    if tasks:
        task = next((t for t in tasks if t.name == name), None)
        data["task"] = task_json(task) if task is not None else None
    return data


def progress_json(progress: Progress, single_metric: bool, tasks: Sequence[Task] = ()) -> JSON:
    def one(observation: Observation | None) -> JSON | None:
        return observation_json(observation, single_metric, tasks) if observation else None

    return {
        "object": "progress",
        "observation_count": progress.observation_count,
        # The tasks' costs summed: the count for a plain experiment.
        "observation_budget_consumed": float(progress.budget_consumed),
        "first_observation": one(progress.first_observation),
        "last_observation": one(progress.last_observation),
        "best_observation": one(progress.best_observation),
    }


def optimizer_json(status: OptimizerStatus) -> JSON:
    """honed's own field on a fetched experiment: what the Bayesian optimizer last did,
    and its last error, if any (Sobol serves meanwhile)."""
    return {
        "object": "optimizer_status",
        "fitted_observation_count": status.fitted_count,
        "fitted": int(status.fitted_at) if status.fitted_at is not None else None,
        "fit_seconds": status.fit_seconds,
        "ready_candidates": status.ready_candidates,
        "fitting": status.fitting,
        "error": status.error,
        "error_time": int(status.error_at) if status.error_at is not None else None,
    }


def suggestion_json(suggestion: Suggestion, tasks: Sequence[Task] = ()) -> JSON:
    """``tasks``: the experiment's, which render a multitask suggestion's ``task``."""
    data: JSON = {
        "object": "suggestion",
        "id": str(suggestion.id),
        "experiment": str(suggestion.experiment_id),
        "state": suggestion.state.value,
        "created": suggestion.created,
        "assignments": dict(suggestion.assignments),
        "metadata": _metadata(suggestion.metadata),
        "deleted": suggestion.deleted,
        # honed's own field (clients ignore unknown keys): engine (initial design, random,
        # grid), optimizer, fallback (Sobol while the optimizer had nothing ready),
        # manual or queued.
        "source": suggestion.source.value,
        # honed's own field, with a suggestion TTL: when the suggestion expires unless its
        # worker updates it (an expired one shows deleted: true).
        "lease_until": suggestion.lease_until,
        # honed's own field, for optimizer suggestions: what the model knew when it chose
        # the point (the observations it was fitted on; from the optimised batch or the
        # Thompson pool; stored observations it neither saw nor had pending, and whether
        # that was within the tolerance for the workers in flight).
        "model": model_json(suggestion.model),
    }
    return _with_task(data, tasks, suggestion.task)


def model_json(model: ModelBasis | None) -> JSON | None:
    if model is None:
        return None
    return {
        "observations": model.observations,
        "candidate": "pool" if model.pool else "batch",
        "unaccounted": model.unaccounted,
        "fresh": model.fresh,
    }


def queued_suggestion_json(queued: QueuedSuggestion, tasks: Sequence[Task] = ()) -> JSON:
    data: JSON = {
        "object": "queued_suggestion",
        "id": str(queued.id),
        "experiment": str(queued.experiment_id),
        "created": queued.created,
        "assignments": dict(queued.assignments),
    }
    return _with_task(data, tasks, queued.task)


def _values_json(observation: Observation) -> list[JSON]:
    return [
        {
            "object": "metric_evaluation",
            "name": v.name,
            "value": v.value,
            "value_stddev": v.value_stddev,
        }
        for v in observation.values
    ]


def observation_json(
    observation: Observation, single_metric: bool, tasks: Sequence[Task] = ()
) -> JSON:
    """For single-metric experiments ``value``/``value_stddev`` are echoed at the top level
    too, as the older hosted API did, so legacy scripts keep working. ``tasks``: the
    experiment's, which render a multitask observation's ``task``."""
    data: JSON = {
        "object": "observation",
        "id": str(observation.id),
        "experiment": str(observation.experiment_id),
        "suggestion": _id(observation.suggestion_id),
        "created": observation.created,
        "assignments": dict(observation.assignments),
        "failed": observation.failed,
        "metadata": _metadata(observation.metadata),
        "values": _values_json(observation),
        "deleted": observation.deleted,
    }
    if single_metric:
        first = observation.values[0] if observation.values else None
        data["value"] = first.value if first else None
        data["value_stddev"] = first.value_stddev if first else None
    return _with_task(data, tasks, observation.task)


def observation_renderer(experiment: Experiment) -> Render[Observation]:
    """How the experiment's observations render: top-level ``value`` for a single metric,
    ``task`` for a multitask experiment."""
    single = len(experiment.spec.metrics) == 1
    tasks = experiment.spec.tasks
    return lambda o: observation_json(o, single, tasks)


def best_assignments_json(observation: Observation, tasks: Sequence[Task] = ()) -> JSON:
    data: JSON = {
        "object": "best_assignments",
        "id": str(observation.id),
        "assignments": dict(observation.assignments),
        "metadata": _metadata(observation.metadata),
        "values": _values_json(observation),
    }
    return _with_task(data, tasks, observation.task)


def _metadata(metadata: Any) -> JSON | None:
    return dict(metadata) if metadata is not None else None


def pagination_json(page: Page[T], render: Callable[[T], JSON], sort: str = "id") -> JSON:
    """``sort``: what the list is ordered by, which its paging markers carry."""
    return {
        "object": "pagination",
        "count": page.count,
        "data": [render(item) for item in page.items],
        "paging": {
            "before": markers.encode(sort, page.before, page.before_value),
            "after": markers.encode(sort, page.after, page.after_value),
        },
    }


def list_json(items: Sequence[T], render: Callable[[T], JSON]) -> JSON:
    return {
        "object": "pagination",
        "count": len(items),
        "data": [render(item) for item in items],
        "paging": {"before": None, "after": None},
    }


def token_json(token: Token, secret: str | None) -> JSON:
    return {
        "object": "token",
        "token": secret,
        "token_type": token.token_type.value,
        "client": str(token.client_id),
        "user": None,
        "organization": None,
        "development": token.development,
        "all_experiments": token.all_experiments,
        "permissions": "write" if token.can_write else "read",
        # SigOpt's scope for a token that reaches one experiment only.
        "scope": "all_endpoints" if token.all_experiments else "shared_experiment",
        "experiment": None if token.experiment_id is None else str(token.experiment_id),
        "training_run": None,
        "expires": None,
        "lease_length": None,
    }


def client_json(client: Client) -> JSON:
    return {
        "object": "client",
        "id": str(client.id),
        "name": client.name,
        "organization": None,
        "created": client.created,
        "client_security": {"allow_users_to_see_experiments_by_others": True},
    }


def aiexperiment_json(experiment: Experiment, progress: RunProgress) -> JSON:
    """An experiment as SigOpt renders AI experiments: ``budget`` instead of
    ``observation_budget``, no ``development``, and run counts as progress."""
    data = experiment_json(experiment, None)
    del data["observation_budget"], data["development"]
    data["object"] = "aiexperiment"
    data["budget"] = experiment.spec.observation_budget
    data["progress"] = {
        "object": "progress",
        "active_run_count": progress.counts.active,
        "finished_run_count": progress.counts.finished,
        "total_run_count": progress.counts.total,
        "remaining_budget": progress.remaining_budget,
    }
    return data


def project_json(project: Project) -> JSON:
    return {
        "object": "project",
        "id": project.reference,
        "name": project.name,
        "client": str(project.client_id),
        "user": None,
        "created": project.created,
        "updated": project.updated,
        "metadata": _metadata(project.metadata),
        "deleted": project.deleted,
    }


def _evaluation(name: str | None, value: float, value_stddev: float | None) -> JSON:
    return {
        "object": "metric_evaluation",
        "name": name,
        "value": value,
        "value_stddev": value_stddev,
    }


def training_run_json(run: TrainingRun) -> JSON:
    data = run.data
    model = data.get("model") or {}
    source_code = data.get("source_code") or {}
    return {
        "object": "training_run",
        "id": str(run.id),
        "name": data.get("name"),
        "state": run.state.value,
        "client": str(run.client_id),
        "project": run.project,
        "experiment": _id(run.experiment_id),
        "suggestion": _id(run.suggestion_id),
        "observation": _id(run.observation_id),
        "user": None,
        "assignments": dict(data.get("assignments") or {}),
        "assignments_meta": {
            name: {"object": "assignments_meta", **meta}
            for name, meta in (data.get("assignments_meta") or {}).items()
        },
        "assignments_sources": {
            name: {"object": "assignments_sources", **source}
            for name, source in (data.get("assignments_sources") or {}).items()
        },
        "values": {
            name: _evaluation(name, v.value, v.value_stddev)
            for name, v in run.metric_values().items()
        },
        "metadata": _metadata(data.get("metadata")),
        # As sigopt-server: these two are objects even when nothing was logged.
        "dev_metadata": dict(data.get("dev_metadata") or {}),
        "sys_metadata": dict(data.get("sys_metadata") or {}),
        "datasets": {name: {"object": "dataset"} for name in data.get("datasets") or {}},
        "logs": {name: {"object": "log", **log} for name, log in (data.get("logs") or {}).items()},
        "model": {"object": "model", "type": model.get("type")},
        "source_code": {
            "object": "source_code",
            "content": source_code.get("content"),
            "hash": source_code.get("hash"),
        },
        "favorite": bool(data.get("favorite", False)),
        "tags": [str(t) for t in run.tag_ids],
        "files": [str(f) for f in run.file_ids],
        "checkpoint_count": run.checkpoint_count,
        "best_checkpoint": None,
        "created": run.created,
        "updated": run.updated,
        "completed": run.completed,
        "finished": run.observation_id is not None or run.completed is not None,
        "deleted": run.deleted,
    }


def checkpoint_json(checkpoint: Checkpoint) -> JSON:
    return {
        "object": "checkpoint",
        "id": str(checkpoint.id),
        "training_run": str(checkpoint.training_run_id),
        "created": checkpoint.created,
        "values": [_evaluation(v.name, v.value, v.value_stddev) for v in checkpoint.values],
        "metadata": _metadata(checkpoint.metadata),
        "should_stop": False,
        "stopping_reasons": {},
    }


def file_json(file: RunFile, upload: JSON | None = None, download_url: str | None = None) -> JSON:
    """sigopt-server's file; ``upload`` (url, method, headers) right after it is created,
    ``download`` once its content arrived. ``training_run`` and ``uploaded`` are honed's."""
    declared = file.declared
    data: JSON = {
        "object": "file",
        "id": str(file.id),
        "name": declared.name,
        "filename": declared.filename,
        "client": str(file.client_id),
        "user": None,
        "created": file.created,
        "content_length": declared.content_length,
        "content_type": declared.content_type,
        "content_md5": declared.content_md5,
        "training_run": str(file.training_run_id),
        "uploaded": file.is_uploaded,
    }
    # sigopt-server's object names, whatever store holds the bytes.
    if upload is not None:
        data["upload"] = {"object": "s3_upload", **upload}
    if download_url is not None:
        data["download"] = {"object": "s3_download", "url": download_url}
    return data


def tag_json(tag: Tag) -> JSON:
    return {
        "object": "tag",
        "id": str(tag.id),
        "name": tag.name,
        "color": tag.color,
        "client": str(tag.client_id),
        "created": tag.created,
    }
