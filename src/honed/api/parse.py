"""Wire bodies and query values to domain objects, with SigOpt-style 400 messages."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError

from honed.api.schemas import AiExperimentCreate
from honed.api.schemas import AiExperimentUpdateIn
from honed.api.schemas import ConditionalIn
from honed.api.schemas import ExperimentCreate
from honed.api.schemas import ExperimentUpdateIn
from honed.api.schemas import LinearConstraintIn
from honed.api.schemas import MetricIn
from honed.api.schemas import MetricValueIn
from honed.api.schemas import ObservationIn
from honed.api.schemas import ParameterIn
from honed.api.schemas import TaskIn
from honed.api.schemas import TaskRef
from honed.api.schemas import TrainingRunIn
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import ExperimentType
from honed.domain.experiment import ExperimentUpdate
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.metrics import Strategy
from honed.domain.parameters import Conditional
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.projects import check_project_id
from honed.domain.records import MetricValue
from honed.domain.records import ObservationInput
from honed.domain.validation import NOT_AN_OBJECT
from honed.domain.validation import describe
from honed.domain.validation import validate_metadata
from honed.errors import InvalidRequestError

M = TypeVar("M", bound=BaseModel)

MAX_ID = 2**63 - 1


def body(model: type[M], data: object) -> M:
    """Validate ``data`` as ``model``; the first problem becomes an InvalidRequestError."""
    if not isinstance(data, dict):
        raise InvalidRequestError(NOT_AN_OBJECT)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InvalidRequestError(describe(error.errors(include_url=False)[0])) from None


def is_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes '¹', which int() refuses, and '٣'."""
    return text.isascii() and text.isdigit()


def object_id(text: str | int, what: str) -> int:
    """Ids are strings of digits on the wire; anything else names no object."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str) and is_digits(text) and len(text) < 20:
        value = int(text)
    else:
        raise InvalidRequestError(f"Invalid {what}: {text!r} is not an id")
    if not 0 < value <= MAX_ID:
        raise InvalidRequestError(f"Invalid {what}: {text!r} is not an id")
    return value


def experiment_spec(data: ExperimentCreate) -> ExperimentSpec:
    if data.runs_only:
        raise InvalidRequestError(
            "Invalid runs_only: create AI experiments with "
            "/v1/clients/{client}/projects/{project}/aiexperiments"
        )
    # Omitted: SigOpt's one unnamed metric. An empty list is the validator's to refuse.
    metrics = data.metrics if data.metrics is not None else [MetricIn()]
    return ExperimentSpec(
        name=data.name,
        space=SearchSpace(
            parameters=tuple(parameter(p) for p in data.parameters),
            linear_constraints=tuple(linear_constraint(c) for c in data.linear_constraints or []),
            conditionals=tuple(conditional(c) for c in data.conditionals or []),
        ),
        metrics=tuple(metric(m) for m in metrics),
        type=ExperimentType(data.type or "offline"),
        observation_budget=data.observation_budget,
        parallel_bandwidth=data.parallel_bandwidth,
        metadata=validate_metadata(data.metadata),
        project=project_reference(data.project) if data.project is not None else None,
        suggestion_ttl_seconds=_float(data.suggestion_ttl_seconds),
        num_solutions=data.num_solutions,
        tasks=tuple(task(t) for t in data.tasks or []),
    )


def task(data: TaskIn) -> Task:
    return Task(data.name, float(data.cost))


def task_name(ref: TaskRef | None, path: str = "task") -> str | None:
    """The task a suggestion or observation names: a name, or a task object as the client
    renders it (only its ``name`` counts). Whether the experiment has it is the service's
    to check."""
    if ref is None or isinstance(ref, str):
        return ref
    name = ref.get("name")
    if not isinstance(name, str):
        raise InvalidRequestError(
            f'Invalid {path}: give the task\'s name, or an object with its name ({{"name": ...}})'
        )
    unknown = sorted(set(ref) - {"name", "cost", "object"})
    if unknown:
        raise InvalidRequestError(f"Unknown field {path}.{unknown[0]}")
    return name


def experiment_update(
    update: ExperimentUpdateIn | AiExperimentUpdateIn, budget: int | None, set_budget: bool
) -> ExperimentUpdate:
    """The change an experiment update or AI experiment update asks for (their budget
    fields differ in name: ``observation_budget`` and ``budget``)."""
    given = update.model_fields_set
    if "name" in given and update.name is None:
        raise InvalidRequestError("Invalid name: cannot be null")
    return ExperimentUpdate(
        name=update.name,
        state=ExperimentState(update.state) if update.state is not None else None,
        observation_budget=budget,
        set_observation_budget=set_budget,
        parallel_bandwidth=update.parallel_bandwidth,
        set_parallel_bandwidth="parallel_bandwidth" in given,
        metadata=update.metadata,
        set_metadata="metadata" in given,
        parameters=tuple(parameter(p) for p in update.parameters)
        if update.parameters is not None
        else None,
        metrics=tuple(metric(m) for m in update.metrics) if update.metrics is not None else None,
    )


def project_reference(reference: str) -> str:
    return check_project_id(reference, "project")


def ai_experiment_spec(data: AiExperimentCreate) -> ExperimentSpec:
    """The same definition as a classic experiment's, with ``budget`` for the budget."""
    # The validated fields as they are (nested models stay models): model_dump would turn
    # nested ones such as linear constraints into dicts that model_construct never checks.
    fields = {name: getattr(data, name) for name in data.model_fields_set - {"budget"}}
    classic = ExperimentCreate.model_construct(
        **{**fields, "parameters": data.parameters, "metrics": data.metrics},
        observation_budget=data.budget,
    )
    return replace(experiment_spec(classic), runs_only=True)


def training_run(run: TrainingRunIn) -> dict[str, Any]:
    """A run body's fields as sent, explicit nulls included (MERGE removes keys with them)."""
    return run.model_dump(exclude_unset=True)


def metric_values(values: list[MetricValueIn]) -> tuple[MetricValue, ...]:
    return tuple(MetricValue(v.name, float(v.value), _float(v.value_stddev)) for v in values)


def conditional(data: ConditionalIn) -> Conditional:
    return Conditional(data.name, tuple(data.values))


def parameter(data: ParameterIn) -> Parameter:
    return Parameter(
        name=data.name,
        type=ParameterType(data.type),
        bounds=(data.bounds.min, data.bounds.max) if data.bounds is not None else None,
        categorical_values=tuple(v.name for v in data.categorical_values or []),
        grid=tuple(data.grid) if data.grid is not None else None,
        transformation=None if data.transformation in (None, "none") else data.transformation,
        default_value=data.default_value,
        prior=_prior(data.prior),
        # One value or a list of them, per conditional (SigOpt takes both).
        conditions=tuple(
            (name, (values,) if isinstance(values, str) else tuple(values))
            for name, values in (data.conditions or {}).items()
        ),
    )


def _prior(prior: dict[str, Any] | None) -> dict[str, Any] | None:
    if prior is None:
        return None
    return {k: v for k, v in prior.items() if k != "object"}


def metric(data: MetricIn) -> Metric:
    return Metric(
        name=data.name,
        objective=Objective(data.objective or "maximize"),
        strategy=Strategy(data.strategy or "optimize"),
        threshold=data.threshold,
    )


def linear_constraint(data: LinearConstraintIn) -> LinearConstraint:
    return LinearConstraint(
        type=data.type,
        terms=tuple((t.name, float(t.weight)) for t in data.terms),
        threshold=float(data.threshold),
    )


def observation_input(data: ObservationIn) -> ObservationInput:
    values: tuple[MetricValue, ...] | None = None
    stddev_sent: tuple[bool, ...] = ()
    if data.value is not None:
        if data.values is not None:
            raise InvalidRequestError("Invalid value: send either value or values, not both")
        values = (MetricValue(None, float(data.value), _float(data.value_stddev)),)
        stddev_sent = ("value_stddev" in data.model_fields_set,)
    elif data.value_stddev is not None:
        raise InvalidRequestError("Invalid value_stddev: it goes with a top-level value")
    elif data.values is not None:
        values = tuple(
            MetricValue(v.name, float(v.value), _float(v.value_stddev)) for v in data.values
        )
        stddev_sent = tuple("value_stddev" in v.model_fields_set for v in data.values)
    return ObservationInput(
        suggestion_id=object_id(data.suggestion, "suggestion")
        if data.suggestion is not None
        else None,
        assignments=data.assignments,
        values=values,
        failed=bool(data.failed),
        metadata=validate_metadata(data.metadata),
        stddev_sent=stddev_sent,
        task=task_name(data.task),
        task_sent="task" in data.model_fields_set,
    )


def _float(value: float | None) -> float | None:
    return float(value) if value is not None else None
