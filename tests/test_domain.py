"""Domain rules: experiment validation, assignment checks, point identity, ranking."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentType
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.metrics import Strategy
from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import Conditional
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.ranking import best_observations
from honed.domain.ranking import budget_consumed
from honed.domain.ranking import distance
from honed.domain.ranking import is_feasible
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.validation import validate_metadata
from honed.domain.validation import validate_spec
from honed.errors import InvalidRequestError

DOUBLE, INT, CATEGORICAL = ParameterType.DOUBLE, ParameterType.INT, ParameterType.CATEGORICAL
MAXIMIZE, MINIMIZE = Objective.MAXIMIZE, Objective.MINIMIZE
OPTIMIZE, CONSTRAINT, STORE = Strategy.OPTIMIZE, Strategy.CONSTRAINT, Strategy.STORE


def double(name: str = "x", **changes: Any) -> Parameter:
    return dataclasses.replace(Parameter(name, DOUBLE, bounds=(0.0, 1.0)), **changes)


def integer(name: str = "n", **changes: Any) -> Parameter:
    return dataclasses.replace(Parameter(name, INT, bounds=(1, 10)), **changes)


def categorical(name: str = "c", **changes: Any) -> Parameter:
    return dataclasses.replace(
        Parameter(name, CATEGORICAL, categorical_values=("a", "b", "c")), **changes
    )


def spec(
    parameters: Sequence[Parameter] = (),
    constraints: Sequence[LinearConstraint] = (),
    **changes: Any,
) -> ExperimentSpec:
    base = ExperimentSpec(
        name="experiment",
        space=SearchSpace(tuple(parameters) or (double(),), tuple(constraints)),
        metrics=(Metric("f"),),
    )
    return dataclasses.replace(base, **changes)


def with_parameter(**changes: Any) -> ExperimentSpec:
    """An experiment whose only parameter is ``x`` (a double on [0, 1]) changed so."""
    return spec([double(**changes)])


def metrics(*items: Metric, budget: int | None = 10) -> ExperimentSpec:
    return spec(metrics=items, observation_budget=budget)


TWO_TASKS = (Task("cheap", 0.1), Task("full", 1.0))


def multitask(*tasks: Task, **changes: Any) -> ExperimentSpec:
    """A multitask experiment (with a budget), of ``tasks`` or TWO_TASKS."""
    return spec(tasks=tasks or TWO_TASKS, **{"observation_budget": 10, **changes})


def constraint(kind: str, terms: Sequence[tuple[str, float]], threshold: float) -> ExperimentSpec:
    parameters = [double("x"), double("y"), integer("n"), categorical("c")]
    parameters += [double("l", bounds=(0.1, 1.0), transformation="log")]
    parameters += [double("g", bounds=None, grid=(0.1, 0.2))]
    return spec(parameters, [LinearConstraint(kind, tuple(terms), threshold)])


LONG = "n" * 101
NAN, INF = math.nan, math.inf

# (rule, invalid spec, what the message must name)
INVALID_SPECS: list[tuple[str, ExperimentSpec, str]] = [
    ("empty name", spec(name=""), "name"),
    ("long name", spec(name=LONG), "name"),
    ("no parameters", spec(space=SearchSpace(())), "parameters"),
    ("too many parameters", spec([double(f"p{i}") for i in range(201)]), "parameters"),
    ("empty parameter name", spec([double("")]), "parameters[0].name"),
    ("long parameter name", spec([double(LONG)]), "parameters[0].name"),
    ("duplicate parameter", spec([double("x"), integer("x")]), "parameters[1].name"),
    ("categorical bounds", spec([categorical(bounds=(0, 1))]), "parameters[0] (c).bounds"),
    ("categorical grid", spec([categorical(grid=(1, 2))]), "parameters[0] (c).grid"),
    (
        "categorical log",
        spec([categorical(transformation="log")]),
        "parameters[0] (c).transformation",
    ),
    (
        "categorical prior",
        spec([categorical(prior={"name": "normal", "mean": 0, "scale": 1})]),
        "parameters[0] (c).prior",
    ),
    (
        "one categorical value",
        spec([categorical(categorical_values=("a",))]),
        "parameters[0] (c).categorical_values",
    ),
    (
        "duplicate categorical values",
        spec([categorical(categorical_values=("a", "a"))]),
        "parameters[0] (c).categorical_values",
    ),
    (
        "long categorical value",
        spec([categorical(categorical_values=("a", "v" * 51))]),
        "parameters[0] (c).categorical_values",
    ),
    (
        "empty categorical value",
        spec([categorical(categorical_values=("a", ""))]),
        "parameters[0] (c).categorical_values",
    ),
    (
        "numeric with categories",
        with_parameter(categorical_values=("a", "b")),
        "parameters[0] (x).categorical_values",
    ),
    ("grid and bounds", with_parameter(grid=(0.1, 0.2)), "parameters[0] (x)"),
    ("grid of one", with_parameter(bounds=None, grid=(0.1,)), "parameters[0] (x).grid"),
    ("grid duplicates", with_parameter(bounds=None, grid=(0.1, 0.1)), "parameters[0] (x).grid"),
    (
        "int grid of floats",
        spec([integer(bounds=None, grid=(1, 2.5))]),
        "parameters[0] (n).grid",
    ),
    ("no bounds", with_parameter(bounds=None), "parameters[0] (x).bounds"),
    ("infinite bound", with_parameter(bounds=(0.0, INF)), "parameters[0] (x).bounds"),
    ("nan bound", with_parameter(bounds=(NAN, 1.0)), "parameters[0] (x).bounds"),
    ("int float bounds", spec([integer(bounds=(1, 2.5))]), "parameters[0] (n).bounds"),
    ("max below min", with_parameter(bounds=(1.0, 0.0)), "parameters[0] (x).bounds"),
    ("max equals min", with_parameter(bounds=(1.0, 1.0)), "parameters[0] (x).bounds"),
    ("bounds too narrow", with_parameter(bounds=(0.0, 5e-9)), "parameters[0] (x).bounds"),
    ("unknown transformation", with_parameter(transformation="exp"), "(x).transformation"),
    ("log int", spec([integer(transformation="log")]), "parameters[0] (n).transformation"),
    ("log from zero", with_parameter(transformation="log"), "parameters[0] (x).bounds"),
    (
        "log with prior",
        with_parameter(
            bounds=(0.1, 1.0), transformation="log", prior={"name": "beta", "shape_a": 1}
        ),
        "parameters[0] (x).prior",
    ),
    (
        "int prior",
        spec([integer(prior={"name": "normal", "mean": 2, "scale": 1})]),
        "parameters[0] (n).prior",
    ),
    (
        "prior mean outside",
        with_parameter(prior={"name": "normal", "mean": 2.0, "scale": 1}),
        "parameters[0] (x).prior.mean",
    ),
    (
        "prior scale zero",
        with_parameter(prior={"name": "normal", "mean": 0.5, "scale": 0}),
        "parameters[0] (x).prior.scale",
    ),
    (
        "beta shape negative",
        with_parameter(prior={"name": "beta", "shape_a": -1, "shape_b": 1}),
        "parameters[0] (x).prior.shape_a",
    ),
    (
        "beta shape missing",
        with_parameter(prior={"name": "beta", "shape_a": 1}),
        "parameters[0] (x).prior.shape_b",
    ),
    ("unknown prior", with_parameter(prior={"name": "gamma"}), "parameters[0] (x).prior.name"),
    (
        "prior mean a boolean",
        with_parameter(prior={"name": "normal", "mean": True, "scale": 1}),
        "parameters[0] (x).prior.mean",
    ),
    (
        "prior unknown key",
        with_parameter(prior={"name": "normal", "mean": 0.5, "scale": 1, "deep": {"a": [1]}}),
        "parameters[0] (x).prior: unknown field 'deep'",
    ),
    (
        "prior infinite scale",
        with_parameter(prior={"name": "normal", "mean": 0.5, "scale": INF}),
        "parameters[0] (x).prior.scale",
    ),
    (
        "bounds wider than a double",
        with_parameter(bounds=(-1.7e308, 1.7e308)),
        "parameters[0] (x).bounds: max - min must be a finite number",
    ),
    ("default outside", with_parameter(default_value=2.0), "parameters[0] (x).default_value"),
    (
        "categorical default unknown",
        spec([categorical(default_value="z")]),
        "parameters[0] (c).default_value",
    ),
    (
        "grid of more points than a budget may hold",
        spec([integer(bounds=(0, 20_000_000))], type=ExperimentType.GRID),
        "parameters: a grid experiment over 20000001 points",
    ),
    (
        "grid experiment without grid",
        spec(type=ExperimentType.GRID),
        "parameters[0] (x)",
    ),
    ("no metrics", spec(metrics=()), "metrics"),
    (
        "too many metrics",
        metrics(*(Metric(f"m{i}", strategy=STORE) for i in range(51))),
        "metrics",
    ),
    ("unnamed among several", metrics(Metric(None), Metric("g")), "metrics"),
    ("duplicate metric", metrics(Metric("f"), Metric("f", strategy=STORE)), "metrics"),
    ("long metric name", metrics(Metric(LONG)), "metrics[0]"),
    ("empty metric name", metrics(Metric("")), "metrics[0]"),
    (
        "threshold not finite",
        metrics(Metric("f"), Metric("g", threshold=NAN), Metric("h")),
        "metrics[1] (g).threshold",
    ),
    (
        "constraint without threshold",
        metrics(Metric("f"), Metric("g", strategy=CONSTRAINT)),
        "metrics[1] (g).threshold",
    ),
    (
        "stored with threshold",
        metrics(Metric("f"), Metric("g", strategy=STORE, threshold=1.0)),
        "metrics[1] (g).threshold",
    ),
    ("three optimized", metrics(Metric("f"), Metric("g"), Metric("h")), "metrics"),
    (
        "five constraints",
        metrics(*(Metric(f"m{i}", strategy=CONSTRAINT, threshold=0) for i in range(5))),
        "metrics",
    ),
    ("only stored", metrics(Metric("f", strategy=STORE)), "metrics"),
    ("threshold on single optimized", metrics(Metric("f", threshold=1.0)), "metrics"),
    ("budget zero", spec(observation_budget=0), "observation_budget"),
    ("budget beyond int64", spec(observation_budget=2**63), "observation_budget"),
    ("budget 10^30", spec(observation_budget=10**30), "observation_budget"),
    (
        "two metrics no budget",
        metrics(Metric("f"), Metric("g"), budget=None),
        "observation_budget",
    ),
    (
        "constraint no budget",
        metrics(Metric("f"), Metric("g", strategy=CONSTRAINT, threshold=0), budget=None),
        "observation_budget",
    ),
    (
        "grid budget mismatch",
        spec(
            [double(bounds=None, grid=(0.1, 0.2)), categorical()],
            type=ExperimentType.GRID,
            observation_budget=5,
        ),
        "observation_budget",
    ),
    ("parallel bandwidth zero", spec(parallel_bandwidth=0), "parallel_bandwidth"),
    ("parallel bandwidth 10^40", spec(parallel_bandwidth=10**40), "parallel_bandwidth"),
    ("metadata nested", spec(metadata={"a": {"b": 1}}), "metadata.a"),
    ("constraint type", constraint("equal", [("x", 1)], 0.5), "linear_constraints[0].type"),
    ("constraint no terms", constraint("less_than", [], 0.5), "linear_constraints[0].terms"),
    (
        "constraint threshold",
        constraint("less_than", [("x", 1)], INF),
        "linear_constraints[0].threshold",
    ),
    ("constraint unknown", constraint("less_than", [("z", 1)], 1), "linear_constraints[0].terms"),
    (
        "constraint categorical",
        constraint("less_than", [("c", 1)], 1),
        "linear_constraints[0].terms",
    ),
    ("constraint log", constraint("less_than", [("l", 1)], 1), "linear_constraints[0].terms"),
    ("constraint grid", constraint("less_than", [("g", 1)], 1), "linear_constraints[0].terms"),
    (
        "constraint weight",
        constraint("less_than", [("x", NAN)], 1),
        "linear_constraints[0].terms",
    ),
    (
        "constraint mixed types",
        constraint("less_than", [("x", 1), ("n", 1)], 5),
        "linear_constraints[0].terms",
    ),
    (
        "constraint infeasible",
        constraint("greater_than", [("x", 1), ("y", 1)], 2.5),
        "linear_constraints[0]",
    ),
    ("no solutions", spec(num_solutions=0, observation_budget=10), "num_solutions"),
    ("too many solutions", spec(num_solutions=11, observation_budget=20), "num_solutions"),
    (
        "solutions of two metrics",
        dataclasses.replace(metrics(Metric("f"), Metric("g")), num_solutions=2),
        "num_solutions",
    ),
    ("solutions without budget", spec(num_solutions=2), "observation_budget"),
    ("solutions over budget", spec(num_solutions=3, observation_budget=2), "num_solutions"),
    ("one task", multitask(Task("full", 1.0)), "tasks"),
    ("eleven tasks", multitask(*(Task(f"t{i}", (i + 1) / 11) for i in range(11))), "tasks"),
    ("task without name", multitask(Task("", 0.5), Task("full", 1.0)), "tasks[0].name"),
    ("task name of 101", multitask(Task("t" * 101, 0.5), Task("full", 1.0)), "tasks[0].name"),
    ("task names twice", multitask(Task("a", 0.5), Task("a", 1.0)), "tasks[1].name"),
    ("task cost zero", multitask(Task("a", 0.0), Task("full", 1.0)), "tasks[0] (a).cost"),
    ("task cost negative", multitask(Task("a", -0.1), Task("full", 1.0)), "tasks[0] (a).cost"),
    ("task cost above 1", multitask(Task("a", 0.5), Task("b", 2.0)), "tasks[1] (b).cost"),
    ("task cost NaN", multitask(Task("a", NAN), Task("full", 1.0)), "tasks[0] (a).cost"),
    ("task costs twice", multitask(Task("a", 0.5), Task("b", 0.5)), "tasks[1] (b).cost"),
    ("no task of cost 1", multitask(Task("a", 0.1), Task("b", 0.9)), "tasks"),
    (
        "tasks of two metrics",
        dataclasses.replace(metrics(Metric("f"), Metric("g")), tasks=TWO_TASKS),
        "tasks",
    ),
    (
        "tasks with a constraint metric",
        dataclasses.replace(
            metrics(Metric("f"), Metric("g", strategy=CONSTRAINT, threshold=0)),
            tasks=TWO_TASKS,
        ),
        "tasks",
    ),
    ("tasks of solutions", multitask(num_solutions=2), "tasks"),
    ("tasks without budget", multitask(observation_budget=None), "observation_budget"),
    (
        "tasks of a grid",
        multitask(
            space=SearchSpace((double(bounds=None, grid=(0.1, 0.2)),)),
            type=ExperimentType.GRID,
            observation_budget=2,
        ),
        "tasks",
    ),
]


@pytest.mark.parametrize(
    ("invalid", "field"),
    [pytest.param(s, f, id=rule) for rule, s, f in INVALID_SPECS],
)
def test_each_rule_names_the_field(invalid: ExperimentSpec, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_spec(invalid)
    assert field in caught.value.message
    assert caught.value.status_code == 400


VALID_SPECS: list[tuple[str, ExperimentSpec]] = [
    ("minimal", spec()),
    ("name of 100", spec(name="n" * 100)),
    ("every kind", spec([double(), integer(), categorical()])),
    ("categorical value of 50", spec([categorical(categorical_values=("a", "v" * 50))])),
    ("bounds of 1e-8", with_parameter(bounds=(0.0, 1e-8))),
    ("log", with_parameter(bounds=(1e-5, 1.0), transformation="log")),
    ("grid", with_parameter(bounds=None, grid=(0.5, 0.1, 0.2))),
    ("int grid", spec([integer(bounds=None, grid=(1, 2.0, 8))])),
    ("normal prior", with_parameter(prior={"name": "normal", "mean": 0.5, "scale": 0.1})),
    ("beta prior", with_parameter(prior={"name": "beta", "shape_a": 2, "shape_b": 0.5})),
    ("defaults", spec([double(default_value=1), categorical(default_value="b")])),
    ("unnamed metric", spec(metrics=(Metric(None),))),
    ("two optimized", metrics(Metric("f"), Metric("g", MINIMIZE, threshold=3))),
    (
        "four constraints and stored",
        metrics(
            Metric("f"),
            *(Metric(f"m{i}", strategy=CONSTRAINT, threshold=0) for i in range(4)),
            Metric("s", strategy=STORE),
        ),
    ),
    (
        "constraints only",
        metrics(Metric("f", MINIMIZE, CONSTRAINT, threshold=0.2)),
    ),
    (
        "grid with budget",
        spec(
            [double(bounds=None, grid=(0.1, 0.2)), categorical(), integer(bounds=(1, 2))],
            type=ExperimentType.GRID,
            observation_budget=12,
        ),
    ),
    ("feasible constraint", constraint("greater_than", [("x", 1), ("y", 1)], 2)),
    ("int constraint", constraint("less_than", [("n", 2)], 2)),
    ("metadata", spec(metadata={"a": "b", "n": 1, "f": 0.5})),
    ("parallel bandwidth", spec(parallel_bandwidth=1)),
    ("two tasks", multitask()),
    ("ten tasks", multitask(*(Task(f"t{i}", (i + 1) / 10) for i in range(10)))),
    (
        "tasks and a stored metric",
        dataclasses.replace(multitask(), metrics=(Metric("f"), Metric("s", strategy=STORE))),
    ),
    ("tasks of a random experiment", multitask(type=ExperimentType.RANDOM)),
]


@pytest.mark.parametrize("valid", [pytest.param(s, id=rule) for rule, s in VALID_SPECS])
def test_valid_specs_pass(valid: ExperimentSpec) -> None:
    validate_spec(valid)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([1], "metadata"),
        ({f"k{i}": i for i in range(101)}, "metadata"),
        ({"": 1}, "metadata"),
        ({"k" * 101: 1}, "metadata"),
        ({"k": "v" * 501}, "metadata.k"),
        ({"k": True}, "metadata.k"),
        ({"k": [1]}, "metadata.k"),
        ({"k": NAN}, "metadata.k"),
        ({"k": -INF}, "metadata.k"),
    ],
    ids=[
        "not-object",
        "too-many-keys",
        "empty-key",
        "long-key",
        "long-string",
        "bool",
        "list",
        "nan",
        "infinity",
    ],
)
def test_invalid_metadata(raw: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_metadata(raw)
    assert field in caught.value.message


def test_valid_metadata_drops_nulls() -> None:
    assert validate_metadata(None) is None
    raw = {"k": "v" * 500, "n": 2, "f": -1.5, "gone": None, "e": ""}
    assert validate_metadata(raw) == {"k": "v" * 500, "n": 2, "f": -1.5, "e": ""}
    assert validate_metadata({f"k{i}": i for i in range(100)}) is not None


# --- assignments ----------------------------------------------------------------------------

SPACE = SearchSpace(
    parameters=(
        double("x"),
        integer("n"),
        categorical("c"),
        double("g", bounds=None, grid=(0.5, 1, 2)),
        integer("k", bounds=None, grid=(2, 4)),
        double("l", bounds=(1e-3, 1.0), transformation="log"),
    ),
    linear_constraints=(LinearConstraint("less_than", (("x", 1.0), ("n", 0.1)), 1.5),),
)
POINT: dict[str, Any] = {"x": 0.25, "n": 3, "c": "b", "g": 1.0, "k": 4, "l": 0.01}


def assigned(**changes: Any) -> dict[str, Any]:
    return {**POINT, **changes}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (POINT, POINT),
        (assigned(n=3.0), POINT),
        (assigned(x=0, n=1), assigned(x=0.0, n=1)),
        (assigned(x=1, n=5), assigned(x=1.0, n=5)),  # 1 + 0.5 = 1.5: on the constraint
        (assigned(g=2, k=2.0), assigned(g=2.0, k=2)),
        (assigned(l=1e-3), assigned(l=0.001)),
    ],
    ids=["canonical", "int-from-float", "lower-bounds", "on-constraint", "grid", "log-bound"],
)
def test_check_assignments_canonical_form(raw: dict[str, Any], expected: dict[str, Any]) -> None:
    checked = SPACE.check_assignments(raw)
    assert checked == expected
    assert {k: type(v) for k, v in checked.items()} == {k: type(v) for k, v in expected.items()}
    assert type(checked["n"]) is int
    assert type(checked["x"]) is float


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (assigned(x=1.5), "assignments.x"),
        (assigned(x=-0.1), "assignments.x"),
        (assigned(x=True), "assignments.x"),
        (assigned(x="0.5"), "assignments.x"),
        (assigned(x=None), "assignments.x"),
        (assigned(x=NAN), "assignments.x"),
        (assigned(x=INF), "assignments.x"),
        (assigned(n=3.5), "assignments.n"),
        (assigned(n=11), "assignments.n"),
        (assigned(n=0), "assignments.n"),
        (assigned(c="z"), "assignments.c"),
        (assigned(c=1), "assignments.c"),
        (assigned(g=0.75), "assignments.g"),
        (assigned(k=3), "assignments.k"),
        (assigned(l=0.0001), "assignments.l"),
        ({k: v for k, v in POINT.items() if k != "n"}, "Missing parameter(s) in assignments: n"),
        (assigned(zz=1), "Unknown parameter(s) in assignments: zz"),
        ([("x", 1)], "assignments"),
        (assigned(x=0.9, n=7), "linear_constraints[0]"),
    ],
    ids=[
        "above-bounds",
        "below-bounds",
        "bool",
        "string-number",
        "null",
        "nan",
        "infinity",
        "int-fraction",
        "int-above",
        "int-below",
        "unknown-category",
        "category-number",
        "off-grid",
        "off-int-grid",
        "log-below",
        "missing",
        "unknown",
        "not-object",
        "constraint",
    ],
)
def test_check_assignments_rejects(raw: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        SPACE.check_assignments(raw)
    assert field in caught.value.message


def test_check_assignments_names_the_given_path() -> None:
    with pytest.raises(InvalidRequestError, match=r"observations\[2\]\.assignments\.x"):
        SPACE.check_assignments(assigned(x=7), path="observations[2].assignments")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"x": 3}, {"x": 3.0}),
        ({"x": 0.1, "c": "a"}, {"c": "a", "x": 0.1}),
        ({"n": -0.0}, {"n": 0}),
    ],
    ids=["int-float", "key-order", "negative-zero"],
)
def test_point_hash_equal(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert point_hash(a) == point_hash(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"x": 3}, {"x": 4}),
        ({"x": 0.1}, {"x": 0.1 + 1e-15}),
        ({"x": 3}, {"x": "3"}),
        ({"x": 1}, {"y": 1}),
        ({"x": 1, "y": 2}, {"x": 2, "y": 1}),
        ({"x": 1}, {"x": 1, "y": 1}),
        ({"a": "b|1:c=2"}, {"a": "b", "1:c": "2"}),
    ],
    ids=["value", "tiny-difference", "string-number", "name", "swapped", "extra", "separators"],
)
def test_point_hash_different(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert point_hash(a) != point_hash(b)


def test_a_point_without_a_task_hashes_as_before_tasks_existed() -> None:
    """Stored hashes of plain experiments stay valid: the digest of this point before
    tasks were part of a point's identity."""
    assert point_hash({"x": 0.5, "c": "a", "n": 3}) == "057c2348f4286743c7e68e3880bf121a"
    assert point_hash({"x": 0.5, "c": "a", "n": 3}, None) == point_hash(
        {"n": 3.0, "c": "a", "x": 0.5}
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (({"x": 1}, "cheap"), ({"x": 1}, "full")),
        (({"x": 1}, "cheap"), ({"x": 1}, None)),
        (({"x": 1}, ""), ({"x": 1}, None)),
        (({"x": 1}, "cheap"), ({"x": 2}, "cheap")),
        # A task cannot pass for an assignment, nor an assignment for a task.
        (({"x": 1}, "1:y=2:s1"), ({"x": 1, "y": "1"}, None)),
        (({}, "x"), ({"@1:x": ""}, None)),
    ],
    ids=["other-task", "no-task", "empty-task", "other-point", "task-as-part", "part-as-task"],
)
def test_the_task_is_part_of_the_point(
    a: tuple[dict[str, Any], str | None], b: tuple[dict[str, Any], str | None]
) -> None:
    assert point_hash(*a) != point_hash(*b)
    assert point_hash(*a) == point_hash(dict(a[0]), a[1])


# --- ranking ---------------------------------------------------------------------------------


def observation(
    oid: int, failed: bool = False, deleted: bool = False, **values: float
) -> Observation:
    return Observation(
        id=oid,
        experiment_id=1,
        suggestion_id=None,
        assignments={"x": oid / 100},
        values=tuple(MetricValue(name, value) for name, value in values.items()),
        failed=failed,
        metadata=None,
        created=0,
        deleted=deleted,
    )


def ids(found: Sequence[Observation]) -> list[int]:
    return [o.id for o in found]


SINGLE = [
    observation(1, f=0.5),
    observation(2, f=0.9),
    observation(3, f=-2.0),
    observation(4, f=0.9),  # ties with 2: the earlier wins
    observation(5, failed=True),
    observation(6, deleted=True, f=5.0),
    observation(7, f=-3.0, deleted=True),
]


@pytest.mark.parametrize(("objective", "best"), [(MAXIMIZE, 2), (MINIMIZE, 3)])
def test_best_of_a_single_metric(objective: Objective, best: int) -> None:
    single = metrics(Metric("f", objective), Metric("s", strategy=STORE))
    assert ids(best_observations(single, SINGLE)) == [best]
    assert ids(best_observations(single, [])) == []
    assert ids(best_observations(single, SINGLE[4:])) == []  # failed and deleted only


@pytest.mark.parametrize(
    ("objective", "threshold", "best"),
    [
        (MAXIMIZE, 0.5, 4),  # 1, 3 and 4 have c >= 0.5; 4 has the best f
        (MINIMIZE, 0.5, 2),  # 2 and 3 have c <= 0.5; 2 has the best f
        (MAXIMIZE, 10.0, None),
    ],
    ids=["at-least", "at-most", "none-feasible"],
)
def test_constraint_thresholds(objective: Objective, threshold: float, best: int | None) -> None:
    data = [
        observation(1, f=0.1, c=1.0),
        observation(2, f=0.9, c=0.0),
        observation(3, f=0.5, c=0.5),
        observation(4, f=0.7, c=0.9),
        observation(5, f=9.9),  # no value for the constraint metric: infeasible
    ]
    constrained = metrics(Metric("f"), Metric("c", objective, CONSTRAINT, threshold))
    assert ids(best_observations(constrained, data)) == ([best] if best else [])
    assert not is_feasible(constrained, data[4])


def located(oid: int, x: float, y: float, f: float) -> Observation:
    return dataclasses.replace(observation(oid, f=f), assignments={"x": x, "y": y})


BASINS = [
    located(1, 0.5, 0.5, 0.1),  # between the basins, poor
    located(2, 0.21, 0.2, 0.99),  # basin A, beside its best
    located(3, 0.2, 0.2, 1.0),  # basin A's best
    located(4, 0.8, 0.8, 0.96),
    located(5, 0.81, 0.79, 0.97),  # basin B's best
    located(6, 0.2, 0.8, 0.9),  # basin C
]


@pytest.mark.parametrize(("wanted", "best"), [(1, [3]), (2, [3, 5]), (3, [3, 5, 6])])
def test_multisolution_returns_the_best_of_each_basin(wanted: int, best: list[int]) -> None:
    diverse = spec([double("x"), double("y")], num_solutions=wanted, observation_budget=10)
    assert ids(best_observations(diverse, BASINS)) == best


def test_multisolution_returns_no_two_solutions_of_one_basin() -> None:
    diverse = spec([double("x"), double("y")], num_solutions=10, observation_budget=10)
    assert ids(best_observations(diverse, BASINS)) == [3, 5, 6, 1]  # 2 and 4 are beside 3, 5


def test_a_point_on_a_better_solutions_slope_is_no_solution() -> None:
    """Just outside the best's radius, but with a better point observed beside it."""
    slope = [located(1, 0.2, 0.2, 1.0), located(2, 0.3, 0.2, 0.8), located(3, 0.36, 0.2, 0.5)]
    diverse = spec([double("x"), double("y")], num_solutions=3, observation_budget=10)
    assert ids(best_observations(diverse, slope)) == [1]
    assert ids(best_observations(diverse, [slope[0], slope[2]])) == [1, 3]


def test_distance_is_over_the_unit_cube_with_categories_and_inactive_parameters() -> None:
    space = SearchSpace(
        (
            double("lr", bounds=(1e-4, 1.0), transformation="log"),
            categorical("kind"),
            integer("n", conditions=(("model", ("forest",)),)),
        ),
        conditionals=(Conditional("model", ("forest", "net")),),
    )
    forest: dict[str, AssignmentValue] = {"model": "forest", "lr": 1e-4, "kind": "a", "n": 1}
    assert distance(space, forest, forest) == 0.0
    # lr across a quarter of its log range: 1e-4 to 1e-3 of 1e-4 to 1.
    assert distance(space, forest, {**forest, "lr": 1e-3}) == pytest.approx(0.25 / 2)
    assert distance(space, forest, {**forest, "kind": "b"}) == pytest.approx(1 / 2)
    # The conditional differs, and n is active in one point only.
    net: dict[str, AssignmentValue] = {"model": "net", "lr": 1e-4, "kind": "a"}
    assert distance(space, forest, net) == pytest.approx(math.sqrt(2 / 4))


def test_search_experiments_return_every_feasible_point_newest_first() -> None:
    search = metrics(
        Metric("c", MINIMIZE, CONSTRAINT, threshold=1.0),
        Metric("d", MAXIMIZE, CONSTRAINT, threshold=0.0),
    )
    data = [
        observation(1, c=0.5, d=1.0),
        observation(2, c=2.0, d=1.0),
        observation(3, c=1.0, d=0.0),
        observation(4, failed=True),
        observation(5, c=0.0, d=-1.0),
        observation(6, c=0.0, d=3.0, deleted=True),
    ]
    assert ids(best_observations(search, data)) == [3, 1]


def brute_force_front(
    spec_: ExperimentSpec, observations: Sequence[Observation]
) -> list[Observation]:
    """O(n^2): feasible points that no other feasible point dominates, best first."""
    first, second = spec_.optimized_metrics

    def scores(o: Observation) -> tuple[float, float]:
        a, b = o.value_of(first.name), o.value_of(second.name)
        assert a is not None
        assert b is not None
        return first.sign() * a, second.sign() * b

    feasible = [o for o in observations if not o.deleted and is_feasible(spec_, o)]

    def dominated(o: Observation) -> bool:
        a, b = scores(o)
        return any(pa >= a and pb >= b and (pa, pb) != (a, b) for pa, pb in map(scores, feasible))

    front = [o for o in feasible if not dominated(o)]
    return sorted(front, key=lambda o: (-scores(o)[0], o.id))


@pytest.mark.parametrize(
    ("first", "second"),
    [(MAXIMIZE, MAXIMIZE), (MAXIMIZE, MINIMIZE), (MINIMIZE, MINIMIZE)],
    ids=["max-max", "max-min", "min-min"],
)
@pytest.mark.parametrize("seed", range(4))
def test_pareto_front_matches_brute_force(first: Objective, second: Objective, seed: int) -> None:
    rng = random.Random(seed)
    sign_a, sign_b = (1 if first is MAXIMIZE else -1), (1 if second is MAXIMIZE else -1)
    thresholds: tuple[float | None, float | None] = (None, None)
    if seed % 2:  # thresholds on both optimized metrics: at least 3 (in "better" units)
        thresholds = (sign_a * 3.0, sign_b * 3.0)
    two = metrics(
        Metric("a", first, threshold=thresholds[0]),
        Metric("b", second, threshold=thresholds[1]),
        Metric("c", MAXIMIZE, CONSTRAINT, threshold=1.0),
    )
    data = []
    for i in range(1, 121):
        # Scores fill a triangle with few distinct values, so the front has many points,
        # ties and duplicates.
        score_a = rng.randint(0, 12)
        score_b = rng.randint(0, 12 - score_a)
        values = {"a": sign_a * score_a, "b": sign_b * score_b, "c": rng.choice([0.0, 2.0])}
        failed = rng.random() < 0.1
        data.append(
            observation(
                i, failed=failed, deleted=rng.random() < 0.05, **({} if failed else values)
            )
        )
    rng.shuffle(data)
    expected = brute_force_front(two, data)
    assert len(expected) >= 3
    assert ids(best_observations(two, data)) == ids(expected)


def test_pareto_front_is_a_front() -> None:
    """A tiny case by hand: (a, b) maximized both."""
    two = metrics(Metric("a"), Metric("b"))
    data = [
        observation(1, a=1, b=5),
        observation(2, a=3, b=3),
        observation(3, a=2, b=2),  # dominated by 2
        observation(4, a=5, b=1),
        observation(5, a=3, b=3),  # equal to 2: also on the front
        observation(6, a=5, b=0),  # dominated by 4
    ]
    assert ids(best_observations(two, data)) == [4, 2, 5, 1]


# --- multitask ------------------------------------------------------------------------------


def at_task(
    oid: int, task: str | None, failed: bool = False, f: float | None = None
) -> Observation:
    """An observation of ``task``: of value ``f``, or failed."""
    made = observation(oid, failed=True) if failed else observation(oid, f=f or 0.0)
    return dataclasses.replace(made, task=task)


def test_only_the_cost_1_task_counts_as_best() -> None:
    experiment = multitask()
    data = [
        at_task(1, "cheap", f=5.0),  # the highest value, at the cheap task
        at_task(2, "full", f=0.5),
        at_task(3, "full", f=0.7),
        at_task(4, "cheap", f=9.0),
    ]
    assert ids(best_observations(experiment, data)) == [3]
    assert best_observations(experiment, data[:1]) == []
    assert is_feasible(experiment, data[0])  # feasible all the same: just not complete
    # A plain experiment knows no tasks: its best is the best value.
    assert ids(best_observations(spec(), [observation(1, f=5.0), observation(2, f=0.5)])) == [1]


def test_budget_consumed_sums_the_task_costs() -> None:
    tasks = (Task("tenth", 0.1), Task("half", 0.5), Task("full", 1.0))
    experiment = multitask(*tasks)
    data = [
        at_task(1, "tenth", f=1.0),
        at_task(2, "half", failed=True),  # failed evaluations cost as much
        at_task(3, "full", f=1.0),
        dataclasses.replace(at_task(4, "full", f=1.0), deleted=True),  # deleted ones nothing
        at_task(5, "tenth", f=1.0),
    ]
    assert budget_consumed(experiment, data) == pytest.approx(1.7)
    assert budget_consumed(experiment, []) == 0.0
    assert budget_consumed(spec(), [observation(1, f=1.0), observation(2, failed=True)]) == 2.0


def test_a_task_is_checked_against_the_experiment() -> None:
    experiment = multitask()
    assert experiment.check_task("cheap") == "cheap"
    assert experiment.task_cost("cheap") == 0.1
    assert experiment.target_task == Task("full", 1.0)
    for wrong, fragment in [(None, "needs the task"), ("nope", "'nope' is not a task")]:
        with pytest.raises(InvalidRequestError) as caught:
            experiment.check_task(wrong)
        assert "Invalid task" in caught.value.message
        assert fragment in caught.value.message
    assert spec().check_task(None) is None
    with pytest.raises(InvalidRequestError) as caught:
        spec().check_task("cheap")
    assert "Invalid task" in caught.value.message
    assert "not multitask" in caught.value.message
