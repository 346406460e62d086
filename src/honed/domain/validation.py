"""SigOpt's rules for experiment definitions and metadata, as InvalidRequestError messages.

The wire layer checks shapes and types; these functions check what a definition means.
Every message names the offending field, e.g. ``parameters[1] (gamma).bounds``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from typing import TypeGuard

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentType
from honed.domain.metrics import Strategy
from honed.domain.parameters import Conditional
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.errors import InvalidRequestError

MAX_NAME_LENGTH = 100
MAX_CATEGORICAL_NAME_LENGTH = 50
# The model sees each categorical value as a column of its own (one-hot): the optimizer's
# time grows with their number, per parameter and in all (docs/decisions.md: At most 1,000
# values per categorical parameter; the mixed optimizer's passes bounded).
MAX_CATEGORICAL_VALUES = 1_000
MAX_CATEGORICAL_VALUES_TOTAL = 2_000
# Conditionals: each combination of their values is a subspace that the optimizer may
# search on its own and a discrete space enumerates one by one.
MAX_CONDITIONALS = 10
MAX_CONDITIONAL_COMBINATIONS = 1_000
MAX_METRICS = 50
MAX_OPTIMIZED_METRICS = 2
MAX_CONSTRAINT_METRICS = 4
MAX_PARAMETERS = 200
MAX_METADATA_KEYS = 100
MAX_METADATA_KEY_LENGTH = 100
MAX_METADATA_STRING_LENGTH = 500
MIN_BOUNDS_WIDTH = 1e-8
MAX_SUGGESTION_TTL_SECONDS = 30 * 24 * 3600.0
# Far beyond what one experiment can use, and inside int64 (stored and echoed as such).
MAX_OBSERVATION_BUDGET = 1_000_000
MAX_SOLUTIONS = 10
# Multitask: each task is a point of the initial design at least twice (honed.engine.design).
MAX_TASKS = 10
# Multitask: the name under which each suggestion's task appears beside the assignments and
# values (a command's {task}, the task column of exports and of Scheduler.to_dataframe()).
TASK_FIELD = "task"
MAX_PARALLEL_BANDWIDTH = 10_000
PRIOR_KEYS = {"normal": ("mean", "scale"), "beta": ("shape_a", "shape_b")}


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


NOT_AN_OBJECT = "Invalid request body: expected a JSON object"
# What pydantic calls a body that is no JSON object, for a model or a dict.
_NOT_AN_OBJECT = {"model_type", "model_attributes_type", "dict_type"}


def describe(first: Mapping[str, Any]) -> str:
    """A pydantic error (``loc`` from the top of a body) as SigOpt's message naming the
    field; pydantic checks the shapes of bodies and run data."""
    path = _path(first["loc"])
    kind = first["type"]
    if not first["loc"] and kind in _NOT_AN_OBJECT:
        return NOT_AN_OBJECT
    if kind == "extra_forbidden":
        return f"Unknown field {path}"
    if kind == "missing":
        return f"Missing required field {path}"
    return f"Invalid {path}: {first['msg']}"


# A key longer than this is cut in messages: the key itself may be what was too long.
SHOWN_KEY_LENGTH = 40


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, str) and len(part) > SHOWN_KEY_LENGTH:
            part = f"{part[:SHOWN_KEY_LENGTH]}... ({len(part)} characters)"
        if isinstance(part, int):
            text += f"[{part}]"
        elif (
            part in ("int", "float", "str", "bool") or "[" in part or part.startswith("function-")
        ):
            continue  # union branch labels that pydantic adds; not a field
        else:
            text += f".{part}" if text else part
    return text or "body"


def check_name(name: str, path: str, max_length: int = MAX_NAME_LENGTH) -> None:
    if not 1 <= len(name) <= max_length:
        raise _fail(f"Invalid {path}: must be 1 to {max_length} characters long")


def validate_metadata(raw: object, path: str = "metadata") -> dict[str, str | float | int] | None:
    """SigOpt metadata: a flat object of strings and numbers; null values are dropped."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _fail(f"Invalid {path}: expected an object")
    if len(raw) > MAX_METADATA_KEYS:
        raise _fail(f"Invalid {path}: at most {MAX_METADATA_KEYS} keys are allowed")
    clean: dict[str, str | float | int] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_METADATA_KEY_LENGTH:
            raise _fail(
                f"Invalid {path}: keys must be 1 to {MAX_METADATA_KEY_LENGTH} characters long"
            )
        if value is None:
            continue
        if isinstance(value, str):
            if len(value) > MAX_METADATA_STRING_LENGTH:
                raise _fail(
                    f"Invalid {path}.{key}: strings are limited to "
                    f"{MAX_METADATA_STRING_LENGTH} characters"
                )
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(f"Invalid {path}.{key}: values must be strings or numbers")
        elif not math.isfinite(value):
            raise _fail(f"Invalid {path}.{key}: numbers must be finite")
        clean[key] = value
    return clean


def validate_spec(spec: ExperimentSpec) -> None:
    """Raise InvalidRequestError for the first rule ``spec`` breaks."""
    check_name(spec.name, "name")
    _validate_conditionals(spec)
    _validate_parameters(spec)
    _validate_metrics(spec)
    _validate_budget(spec)
    _validate_solutions(spec)
    _validate_tasks(spec)
    _validate_linear_constraints(spec)
    bandwidth = spec.parallel_bandwidth
    if bandwidth is not None and not 1 <= bandwidth <= MAX_PARALLEL_BANDWIDTH:
        raise _fail(
            f"Invalid parallel_bandwidth: must be an integer from 1 to {MAX_PARALLEL_BANDWIDTH}"
        )
    validate_metadata(spec.metadata)
    if spec.runs_only and any(m.name is None for m in spec.metrics):
        raise _fail(
            "Invalid metrics: every metric of an AI experiment needs a name (training runs "
            "report values by name)"
        )
    ttl = spec.suggestion_ttl_seconds
    if ttl is not None and not (math.isfinite(ttl) and 0 < ttl <= MAX_SUGGESTION_TTL_SECONDS):
        raise _fail(
            "Invalid suggestion_ttl_seconds: must be a number of seconds > 0 and at most "
            f"{MAX_SUGGESTION_TTL_SECONDS:g} (or null for no expiry)"
        )


def _validate_parameters(spec: ExperimentSpec) -> None:
    parameters = spec.space.parameters
    if not parameters:
        raise _fail("Invalid parameters: an experiment needs at least one parameter")
    if len(parameters) > MAX_PARAMETERS:
        raise _fail(f"Invalid parameters: at most {MAX_PARAMETERS} parameters are allowed")
    seen: set[str] = set()
    conditionals = {c.name: c for c in spec.space.conditionals}
    # Conditional values reach the model one-hot too.
    categories = sum(len(c.values) for c in conditionals.values())
    for index, parameter in enumerate(parameters):
        path = f"parameters[{index}]"
        _check_new_name(parameter.name, path, "parameter", seen)
        if parameter.name in conditionals:
            raise _fail(
                f"Invalid {path}.name: {parameter.name!r} is the name of a conditional; "
                "assignments hold both by name"
            )
        _validate_parameter(parameter, f"{path} ({parameter.name})")
        _validate_conditions(parameter, conditionals, f"{path} ({parameter.name}).conditions")
        categories += len(parameter.categorical_values)
        if categories > MAX_CATEGORICAL_VALUES_TOTAL:
            raise _fail(
                f"Invalid {path} ({parameter.name}).categorical_values: at most "
                f"{MAX_CATEGORICAL_VALUES_TOTAL} categorical values are allowed across all "
                "parameters"
            )
        if spec.type is ExperimentType.GRID and (
            parameter.type is ParameterType.DOUBLE and parameter.grid is None
        ):
            raise _fail(
                f"Invalid {path} ({parameter.name}): a double parameter of a grid experiment "
                "needs a grid"
            )


def _check_new_name(name: str, path: str, kind: str, seen: set[str]) -> None:
    """``name`` is a valid name (see check_name) not in ``seen``, which it joins."""
    check_name(name, f"{path}.name")
    if name in seen:
        raise _fail(f"Invalid {path}.name: duplicate {kind} name {name!r}")
    seen.add(name)


def _validate_conditionals(spec: ExperimentSpec) -> None:
    conditionals = spec.space.conditionals
    if len(conditionals) > MAX_CONDITIONALS:
        raise _fail(f"Invalid conditionals: at most {MAX_CONDITIONALS} are allowed")
    seen: set[str] = set()
    combinations = 1
    for index, conditional in enumerate(conditionals):
        path = f"conditionals[{index}]"
        _check_new_name(conditional.name, path, "conditional", seen)
        path = f"{path} ({conditional.name}).values"
        if not conditional.values:
            raise _fail(f"Invalid {path}: at least one value is required")
        if len(set(conditional.values)) != len(conditional.values):
            raise _fail(f"Invalid {path}: values must be distinct")
        for value in conditional.values:
            check_name(value, path, MAX_CATEGORICAL_NAME_LENGTH)
        combinations *= len(conditional.values)
        if combinations > MAX_CONDITIONAL_COMBINATIONS:
            raise _fail(
                f"Invalid conditionals: at most {MAX_CONDITIONAL_COMBINATIONS} combinations "
                "of their values are allowed"
            )


def _validate_conditions(
    parameter: Parameter, conditionals: Mapping[str, Conditional], path: str
) -> None:
    """Each condition names a conditional once, and some of its values, each value once."""
    named: set[str] = set()
    for name, values in parameter.conditions:
        if name in named:
            raise _fail(f"Invalid {path}: {name!r} is named twice")
        named.add(name)
        conditional = conditionals.get(name)
        if conditional is None:
            known = ", ".join(repr(c) for c in conditionals) or "none"
            raise _fail(f"Invalid {path}: {name!r} is no conditional of this experiment ({known})")
        if not values:
            raise _fail(f"Invalid {path}.{name}: at least one value is required")
        if len(set(values)) != len(values):
            raise _fail(f"Invalid {path}.{name}: values must be distinct")
        for value in values:
            if value not in conditional.values:
                raise _fail(
                    f"Invalid {path}.{name}: {value!r} is not one of {list(conditional.values)}"
                )


def _validate_parameter(parameter: Parameter, path: str) -> None:
    if parameter.type is ParameterType.CATEGORICAL:
        _validate_categorical(parameter, path)
    else:
        _validate_numeric(parameter, path)
    if parameter.default_value is not None:
        parameter.check_value(parameter.default_value, f"{path}.default_value")


def _validate_categorical(parameter: Parameter, path: str) -> None:
    if parameter.bounds is not None:
        raise _fail(f"Invalid {path}.bounds: categorical parameters take no bounds")
    if parameter.grid is not None:
        raise _fail(f"Invalid {path}.grid: categorical parameters take no grid")
    if parameter.transformation is not None:
        raise _fail(f"Invalid {path}.transformation: only double parameters may be log-scaled")
    if parameter.prior is not None:
        raise _fail(f"Invalid {path}.prior: only double parameters may have a prior")
    values = parameter.categorical_values
    if len(values) < 2:
        raise _fail(f"Invalid {path}.categorical_values: at least 2 values are required")
    if len(values) > MAX_CATEGORICAL_VALUES:
        raise _fail(
            f"Invalid {path}.categorical_values: at most {MAX_CATEGORICAL_VALUES} values are "
            "allowed"
        )
    if len(set(values)) != len(values):
        raise _fail(f"Invalid {path}.categorical_values: values must be distinct")
    for value in values:
        check_name(value, f"{path}.categorical_values", MAX_CATEGORICAL_NAME_LENGTH)


def _validate_numeric(parameter: Parameter, path: str) -> None:
    if parameter.categorical_values:
        raise _fail(f"Invalid {path}.categorical_values: only categorical parameters take them")
    if parameter.grid is not None:
        if parameter.bounds is not None:
            raise _fail(f"Invalid {path}: give either bounds or a grid, not both")
        if len(set(parameter.grid)) < 2 or len(set(parameter.grid)) != len(parameter.grid):
            raise _fail(f"Invalid {path}.grid: at least 2 distinct values are required")
        if parameter.type is ParameterType.INT and any(
            not float(v).is_integer() for v in parameter.grid
        ):
            raise _fail(f"Invalid {path}.grid: an int parameter's grid must hold integers")
    else:
        if parameter.bounds is None:
            raise _fail(f"Invalid {path}.bounds: double and int parameters need bounds")
        low, high = parameter.bounds
        if not (math.isfinite(low) and math.isfinite(high)):
            raise _fail(f"Invalid {path}.bounds: min and max must be finite numbers")
        if parameter.type is ParameterType.INT and not (
            float(low).is_integer() and float(high).is_integer()
        ):
            raise _fail(f"Invalid {path}.bounds: an int parameter's bounds must be integers")
        if high - low < MIN_BOUNDS_WIDTH or not high > low:
            raise _fail(f"Invalid {path}.bounds: max must be greater than min")
        if not math.isfinite(high - low):  # e.g. -1.7e308 to 1.7e308: no unit cube maps it
            raise _fail(f"Invalid {path}.bounds: max - min must be a finite number")
    if parameter.transformation is not None:
        if parameter.transformation != "log":
            raise _fail(f"Invalid {path}.transformation: must be 'log' or null")
        if parameter.type is not ParameterType.DOUBLE:
            raise _fail(f"Invalid {path}.transformation: only double parameters may be log-scaled")
        if parameter.low <= 0:
            raise _fail(f"Invalid {path}.bounds: a log-scaled parameter needs min > 0")
        if parameter.prior is not None:
            raise _fail(f"Invalid {path}.prior: a log-scaled parameter takes no prior")
    if parameter.prior is not None:
        _validate_prior(parameter, path)


def _validate_prior(parameter: Parameter, path: str) -> None:
    prior = parameter.prior
    assert prior is not None
    if parameter.type is not ParameterType.DOUBLE:
        raise _fail(f"Invalid {path}.prior: only double parameters may have a prior")
    name = prior.get("name")
    if not isinstance(name, str) or name not in PRIOR_KEYS:
        raise _fail(f"Invalid {path}.prior.name: must be 'normal' or 'beta'")
    unknown = sorted(set(prior) - {"name", *PRIOR_KEYS[name]})
    if unknown:
        raise _fail(f"Invalid {path}.prior: unknown field {unknown[0]!r} for a {name} prior")
    numbers: dict[str, float] = {}
    for key in PRIOR_KEYS[name]:
        value = prior.get(key)
        if not _is_number(value):
            raise _fail(f"Invalid {path}.prior.{key}: must be a number")
        numbers[key] = value
    if name == "normal":
        if not parameter.low <= numbers["mean"] <= parameter.high:
            raise _fail(f"Invalid {path}.prior.mean: must be a number within the bounds")
        if not numbers["scale"] > 0:
            raise _fail(f"Invalid {path}.prior.scale: must be a positive number")
    else:
        for key, shape in numbers.items():
            if not shape > 0:
                raise _fail(f"Invalid {path}.prior.{key}: must be a positive number")


def _is_number(value: object) -> TypeGuard[float]:
    """A finite JSON number (booleans are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _validate_metrics(spec: ExperimentSpec) -> None:
    metrics = spec.metrics
    if not metrics:
        raise _fail("Invalid metrics: at least one metric is required")
    if len(metrics) > MAX_METRICS:
        raise _fail(f"Invalid metrics: at most {MAX_METRICS} metrics are allowed")
    names = [m.name for m in metrics]
    if None in names and len(metrics) > 1:
        raise _fail("Invalid metrics: every metric needs a name when there are several")
    if len(set(names)) != len(names):
        raise _fail("Invalid metrics: metric names must be distinct")
    for index, metric in enumerate(metrics):
        path = f"metrics[{index}]" + (f" ({metric.name})" if metric.name else "")
        if metric.name is not None:
            check_name(metric.name, f"{path}.name")
        if metric.threshold is not None and not math.isfinite(metric.threshold):
            raise _fail(f"Invalid {path}.threshold: must be a finite number")
        if metric.strategy is Strategy.CONSTRAINT and metric.threshold is None:
            raise _fail(f"Invalid {path}.threshold: a constraint metric needs a threshold")
        if metric.strategy is Strategy.STORE and metric.threshold is not None:
            raise _fail(f"Invalid {path}.threshold: a stored metric takes no threshold")
    optimized = spec.optimized_metrics
    if len(optimized) > MAX_OPTIMIZED_METRICS:
        raise _fail(f"Invalid metrics: at most {MAX_OPTIMIZED_METRICS} may be optimized")
    if len(spec.constraint_metrics) > MAX_CONSTRAINT_METRICS:
        raise _fail(
            f"Invalid metrics: at most {MAX_CONSTRAINT_METRICS} may have strategy constraint"
        )
    if not optimized and not spec.constraint_metrics:
        raise _fail("Invalid metrics: at least one metric must be optimized or a constraint")
    if len(optimized) == 1 and optimized[0].threshold is not None:
        raise _fail(
            "Invalid metrics: a threshold on an optimized metric needs two optimized metrics"
        )


def _validate_solutions(spec: ExperimentSpec) -> None:
    wanted = spec.num_solutions
    if wanted is None:
        return
    if not 1 <= wanted <= MAX_SOLUTIONS:
        raise _fail(f"Invalid num_solutions: must be an integer from 1 to {MAX_SOLUTIONS}")
    if wanted == 1:
        return
    if len(spec.optimized_metrics) != 1:
        raise _fail(
            "Invalid num_solutions: more than one solution needs exactly one optimized metric"
        )
    budget = spec.observation_budget
    if budget is None:
        raise _fail("Invalid observation_budget: required for experiments with num_solutions > 1")
    if wanted > budget:
        raise _fail(
            f"Invalid num_solutions: {wanted} solutions need an observation_budget of at "
            f"least {wanted}, not {budget}"
        )


def _validate_tasks(spec: ExperimentSpec) -> None:
    """SigOpt's multitask rules: two or more tasks of distinct names and costs in (0, 1],
    exactly one of cost 1 (the target), for one optimized metric and with a budget."""
    tasks = spec.tasks
    if not tasks:
        return
    if not 2 <= len(tasks) <= MAX_TASKS:
        raise _fail(f"Invalid tasks: a multitask experiment has 2 to {MAX_TASKS} tasks")
    names: set[str] = set()
    costs: set[float] = set()
    for index, task in enumerate(tasks):
        path = f"tasks[{index}]"
        _check_new_name(task.name, path, "task", names)
        path = f"{path} ({task.name}).cost"
        if not (_is_number(task.cost) and 0 < task.cost <= 1):
            raise _fail(f"Invalid {path}: must be a number greater than 0 and at most 1")
        if task.cost in costs:
            raise _fail(f"Invalid {path}: another task has the cost {task.cost:g}; costs differ")
        costs.add(task.cost)
    if 1 not in costs:
        raise _fail(
            "Invalid tasks: exactly one task must have cost 1 (the full evaluation, whose "
            "results count as best)"
        )
    if len(spec.optimized_metrics) != 1 or spec.constraint_metrics:
        raise _fail(
            "Invalid tasks: a multitask experiment optimizes exactly one metric and has no "
            "constraint metrics"
        )
    if spec.solutions > 1:
        raise _fail("Invalid tasks: a multitask experiment cannot have num_solutions > 1")
    if spec.type is ExperimentType.GRID:
        raise _fail(
            "Invalid tasks: a grid experiment evaluates each point of its grid once; it "
            "cannot be multitask"
        )
    if spec.observation_budget is None:
        raise _fail(
            "Invalid observation_budget: required for multitask experiments (with tasks); it "
            "counts the tasks' costs"
        )
    _refuse_task_field(spec)


def _refuse_task_field(spec: ExperimentSpec) -> None:
    """honed's own rule: in a multitask experiment ``task`` names each suggestion's task
    wherever it stands beside the assignments and values, so no conditional, parameter or
    metric may take that name (a command's ``{task}`` or a table's column would mean
    either)."""
    fields: dict[str, list[str | None]] = {
        "conditionals": [c.name for c in spec.space.conditionals],
        "parameters": [p.name for p in spec.space.parameters],
        "metrics": [m.name for m in spec.metrics],
    }
    for field, names in fields.items():
        if TASK_FIELD in names:
            raise _fail(
                f"Invalid {field}[{names.index(TASK_FIELD)}].name: {TASK_FIELD!r} is the task "
                "of each suggestion in a multitask experiment (a command's {task}, the task "
                "column of exports and of Scheduler.to_dataframe()); choose another name"
            )


def _validate_budget(spec: ExperimentSpec) -> None:
    budget = spec.observation_budget
    if budget is not None and not 1 <= budget <= MAX_OBSERVATION_BUDGET:
        raise _fail(
            f"Invalid observation_budget: must be an integer from 1 to {MAX_OBSERVATION_BUDGET}"
        )
    needs_budget = len(spec.optimized_metrics) == 2 or bool(spec.constraint_metrics)
    if needs_budget and budget is None:
        raise _fail(
            "Invalid observation_budget: required for experiments with two optimized "
            "metrics or constraint metrics"
        )
    if spec.type is ExperimentType.GRID:
        size = spec.space.discrete_size()
        if size is not None and size > MAX_OBSERVATION_BUDGET:
            raise _fail(
                f"Invalid parameters: a grid experiment over {size} points is more than "
                f"{MAX_OBSERVATION_BUDGET} evaluations; narrow its ranges or grids"
            )
        if budget is not None and size is not None and budget != size:
            raise _fail(
                f"Invalid observation_budget: a grid experiment over {size} points "
                f"has a budget of {size}"
            )


def _validate_linear_constraints(spec: ExperimentSpec) -> None:
    names = {p.name: p for p in spec.space.parameters}
    for index, constraint in enumerate(spec.space.linear_constraints):
        path = f"linear_constraints[{index}]"
        if constraint.type not in ("greater_than", "less_than"):
            raise _fail(f"Invalid {path}.type: must be 'greater_than' or 'less_than'")
        if not constraint.terms:
            raise _fail(f"Invalid {path}.terms: at least one term is required")
        if not math.isfinite(constraint.threshold):
            raise _fail(f"Invalid {path}.threshold: must be a finite number")
        types = set()
        for term_name, weight in constraint.terms:
            parameter = names.get(term_name)
            if parameter is None:
                raise _fail(f"Invalid {path}.terms: unknown parameter {term_name!r}")
            if parameter.type is ParameterType.CATEGORICAL:
                raise _fail(f"Invalid {path}.terms: {term_name!r} is categorical")
            if parameter.conditions:
                raise _fail(
                    f"Invalid {path}.terms: {term_name!r} has conditions; constraints may "
                    "name only parameters that always apply"
                )
            if parameter.is_log or parameter.grid is not None:
                raise _fail(f"Invalid {path}.terms: {term_name!r} is log-scaled or on a grid")
            if not math.isfinite(weight):
                raise _fail(f"Invalid {path}.terms: weights must be finite")
            types.add(parameter.type)
        if len(types) > 1:
            raise _fail(f"Invalid {path}.terms: do not mix double and int parameters")
        if not _corner_satisfies(constraint, names):
            raise _fail(f"Invalid {path}: no point of the search space satisfies it")


def _corner_satisfies(constraint: LinearConstraint, parameters: Mapping[str, Parameter]) -> bool:
    """A linear constraint is feasible iff its best box corner satisfies it."""
    want_large = constraint.type == "greater_than"
    corner = {}
    for name, weight in constraint.terms:
        p = parameters[name]
        corner[name] = p.high if (weight > 0) == want_large else p.low
    return constraint.is_satisfied(corner)
