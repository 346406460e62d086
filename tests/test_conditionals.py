"""Conditional parameters in the domain: which parameters apply, assignment checks, the
definition's rules, and the discrete and quasi-random points of a conditional space."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentType
from honed.domain.metrics import Metric
from honed.domain.parameters import Conditional
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.validation import validate_spec
from honed.engine.design import initial_design_size
from honed.engine.space import exhausted
from honed.engine.space import first_free_point
from honed.engine.space import point_at_index
from honed.engine.space import point_from_unit
from honed.engine.space import unit_dimension
from honed.errors import InvalidRequestError

DOUBLE, INT, CATEGORICAL = ParameterType.DOUBLE, ParameterType.INT, ParameterType.CATEGORICAL
MODEL = Conditional("model", ("forest", "net", "linear"))
SIZE = Conditional("size", ("small", "large"))


def when(**conditions: str | tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        (name, (values,) if isinstance(values, str) else values)
        for name, values in conditions.items()
    )


TREES = Parameter("trees", INT, (1, 3), conditions=when(model="forest"))
DEPTH = Parameter("depth", INT, (1, 2), conditions=when(model=("forest", "net")))
WIDTH = Parameter("width", CATEGORICAL, categorical_values=("narrow", "wide"))
WIDTH = dataclasses.replace(WIDTH, conditions=when(model="net", size="large"))
SEED = Parameter("seed", INT, (0, 1))
SPACE = SearchSpace((TREES, DEPTH, WIDTH, SEED), (), (MODEL, SIZE))


def spec(space: SearchSpace = SPACE, **changes: Any) -> ExperimentSpec:
    return dataclasses.replace(ExperimentSpec("e", space, (Metric("f"),)), **changes)


def names(parameters: tuple[Parameter, ...]) -> list[str]:
    return [p.name for p in parameters]


@pytest.mark.parametrize(
    ("values", "active"),
    [
        ({"model": "forest", "size": "small"}, ["trees", "depth", "seed"]),
        ({"model": "net", "size": "small"}, ["depth", "seed"]),
        ({"model": "net", "size": "large"}, ["depth", "width", "seed"]),
        ({"model": "linear", "size": "large"}, ["seed"]),
        ({}, ["seed"]),
    ],
)
def test_active_parameters(values: dict[str, str], active: list[str]) -> None:
    """Every conditional a parameter names must have one of its values (and, across them)."""
    assert names(SPACE.active_parameters(values)) == active


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"seed": 1, "size": "small", "model": "forest", "trees": 2.0, "depth": 1},
            {"model": "forest", "size": "small", "trees": 2, "depth": 1, "seed": 1},
        ),
        # An inactive parameter may be sent as null: it is dropped.
        (
            {"model": "linear", "size": "large", "seed": 0, "trees": None, "width": None},
            {"model": "linear", "size": "large", "seed": 0},
        ),
        (
            {"model": "net", "size": "large", "depth": 2, "width": "wide", "seed": 0},
            {"model": "net", "size": "large", "depth": 2, "width": "wide", "seed": 0},
        ),
    ],
)
def test_check_assignments_of_a_conditional_space(
    raw: dict[str, Any], expected: dict[str, Any]
) -> None:
    checked = SPACE.check_assignments(raw)
    assert checked == expected
    assert list(checked) == list(expected)  # conditionals first, then the space's order


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"model": "linear", "seed": 0}, "Missing conditional(s) in assignments: size"),
        ({"model": "tree", "size": "small", "seed": 0}, "assignments.model"),
        ({"model": 1, "size": "small", "seed": 0}, "assignments.model"),
        ({"model": None, "size": "small", "seed": 0}, "assignments.model"),
        (
            {"model": "linear", "size": "small", "seed": 0, "trees": 2},
            "assignments.trees: the parameter applies only where model in ['forest']",
        ),
        (
            {"model": "net", "size": "small", "depth": 1, "seed": 0, "width": "wide"},
            "size in ['large']",
        ),
        ({"model": "forest", "size": "small", "seed": 0, "depth": 1}, "Missing parameter(s)"),
        ({"model": "forest", "size": "small", "seed": 0, "trees": 1}, "depth"),
        ({"model": "linear", "size": "small", "seed": 0, "colour": 1}, "Unknown parameter"),
        ({"model": "forest", "size": "small", "seed": 0, "depth": 1, "trees": 9}, "trees"),
        ({"model": "linear", "size": "small", "seed": None}, "assignments.seed"),
    ],
)
def test_check_assignments_rejects(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        SPACE.check_assignments(raw)
    assert fragment in str(caught.value)


def test_a_point_is_its_conditionals_and_active_parameters() -> None:
    """Two points that differ only in a parameter the other leaves out are the same point
    once checked (a null inactive parameter is dropped)."""
    with_null = SPACE.check_assignments(
        {"model": "linear", "size": "small", "seed": 1, "trees": None}
    )
    without = SPACE.check_assignments({"model": "linear", "size": "small", "seed": 1})
    assert point_hash(with_null) == point_hash(without)


@pytest.mark.parametrize(
    ("space", "field"),
    [
        (dataclasses.replace(SPACE, conditionals=(MODEL, MODEL)), "conditionals[1].name"),
        (
            dataclasses.replace(SPACE, conditionals=(MODEL, Conditional("s", ()))),
            "conditionals[1]",
        ),
        (
            dataclasses.replace(SPACE, conditionals=(MODEL, Conditional("s", ("a", "a")))),
            "conditionals[1] (s).values",
        ),
        (
            dataclasses.replace(SPACE, conditionals=(MODEL, Conditional("", ("a",)))),
            "conditionals[1].name",
        ),
        (
            dataclasses.replace(SPACE, conditionals=(MODEL, Conditional("s", ("a" * 51,)))),
            "conditionals[1] (s).values",
        ),
        (
            SearchSpace((SEED,), (), (Conditional("seed", ("a", "b")),)),
            "parameters[0].name",
        ),
        (
            SearchSpace((dataclasses.replace(SEED, conditions=when(colour="red")),), (), (MODEL,)),
            "parameters[0] (seed).conditions",
        ),
        (
            SearchSpace((dataclasses.replace(SEED, conditions=when(model="tree")),), (), (MODEL,)),
            "parameters[0] (seed).conditions.model",
        ),
        (
            SearchSpace((dataclasses.replace(SEED, conditions=when(model=())),), (), (MODEL,)),
            "parameters[0] (seed).conditions.model",
        ),
        (
            SearchSpace(
                (dataclasses.replace(SEED, conditions=when(model=("net", "net"))),), (), (MODEL,)
            ),
            "parameters[0] (seed).conditions.model",
        ),
        (
            SearchSpace(
                (dataclasses.replace(SEED, conditions=(("model", ("net",)),) * 2),), (), (MODEL,)
            ),
            "parameters[0] (seed).conditions",
        ),
        # A condition without a conditional to name.
        (SearchSpace((TREES,)), "parameters[0] (trees).conditions"),
        (
            SearchSpace(
                (Parameter("x", DOUBLE, (0, 1), conditions=when(model="net")),),
                (LinearConstraint("less_than", (("x", 1.0),), 0.5),),
                (MODEL,),
            ),
            "linear_constraints[0].terms",
        ),
        (
            SearchSpace(
                (SEED,), (), tuple(Conditional(f"c{i}", ("a", "b", "c", "d")) for i in range(5))
            ),
            "conditionals",
        ),
        (
            SearchSpace((SEED,), (), tuple(Conditional(f"c{i}", ("a",)) for i in range(11))),
            "conditionals",
        ),
        (
            SearchSpace((dataclasses.replace(TREES, default_value=7),), (), (MODEL,)),
            "parameters[0] (trees).default_value",
        ),
    ],
)
def test_definition_rules_name_the_field(space: SearchSpace, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_spec(spec(space))
    message = str(caught.value)
    assert message.startswith("Invalid")
    assert field in message


def test_valid_conditional_definitions() -> None:
    validate_spec(spec())
    # One value is allowed (the conditional is that value everywhere); so is a linear
    # constraint over parameters that always apply, and a grid on a conditioned parameter.
    x = Parameter("x", DOUBLE, (0, 1))
    y = Parameter("y", DOUBLE, (0, 1))
    grid = Parameter("g", DOUBLE, grid=(0.1, 0.2), conditions=when(model="net"), default_value=0.2)
    validate_spec(
        spec(
            SearchSpace(
                (x, y, grid),
                (LinearConstraint("less_than", (("x", 1.0), ("y", 1.0)), 1.0),),
                (MODEL, Conditional("only", ("one",))),
            )
        )
    )


def test_grid_experiment_over_a_conditional_space_counts_each_branch() -> None:
    """forest: trees 3 x depth 2 x seed 2 (x2 sizes) = 24; net: depth 2 x seed 2 x (1 small,
    2 large widths) = 12; linear: seed 2 (x2 sizes) = 4."""
    assert SPACE.discrete_size() == 40
    validate_spec(spec(type=ExperimentType.GRID, observation_budget=40))
    with pytest.raises(InvalidRequestError, match="observation_budget"):
        validate_spec(spec(type=ExperimentType.GRID, observation_budget=48))


def test_every_discrete_point_once_each_checked_and_without_inactive_parameters() -> None:
    points = [point_at_index(SPACE, i) for i in range(40)]
    hashes = {point_hash(SPACE.check_assignments(p)) for p in points}
    assert len(hashes) == 40
    assert all(set(p) == {"model", "size", *names(SPACE.active_parameters(p))} for p in points)


def test_free_points_of_a_conditional_space_run_out_exactly() -> None:
    taken: set[str] = set()
    for start in range(40):
        point = first_free_point(SPACE, taken, start=start * 7)
        assert point is not None
        taken.add(point_hash(SPACE.check_assignments(point)))
    assert len(taken) == 40
    assert first_free_point(SPACE, taken) is None
    assert exhausted(SPACE, taken)


def test_unit_points_assign_only_active_parameters() -> None:
    generator = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        point = point_from_unit(SPACE, generator.random(unit_dimension(SPACE)))
        assert SPACE.check_assignments(point) == point
        seen.add((point["model"], point["size"]))
    assert len(seen) == 6  # every combination is reached


def test_conditionals_count_towards_the_initial_design() -> None:
    many = SearchSpace(
        tuple(Parameter(f"x{i}", DOUBLE, (0, 1)) for i in range(11)), (), (MODEL, SIZE)
    )
    assert initial_design_size(spec(many)) == 7
