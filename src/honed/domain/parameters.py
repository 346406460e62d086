"""Parameters, the search space they span, and the assignments that pick a point in it.

A space may have conditionals (SigOpt's): switches with a few named values, each assigned
like a categorical parameter. A parameter with ``conditions`` applies only where every
conditional it names has one of its listed values; elsewhere it is inactive and absent
from assignments.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum
from typing import Any

from honed.errors import InvalidRequestError

AssignmentValue = float | int | str
Assignments = Mapping[str, AssignmentValue]
#: A parameter's conditions: per conditional it depends on, the values it applies under.
Conditions = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Conditional:
    """A switch of the search space: assigned one of ``values``, it decides which
    conditioned parameters apply."""

    name: str
    values: tuple[str, ...]


class ParameterType(StrEnum):
    DOUBLE = "double"
    INT = "int"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class Parameter:
    """One dimension of the search space.

    ``bounds`` is ``(min, max)`` for double and int parameters and None for categorical
    ones; ``grid``, when set, lists the only values the parameter may take.
    """

    name: str
    type: ParameterType
    bounds: tuple[float, float] | None = None
    categorical_values: tuple[str, ...] = ()
    grid: tuple[float, ...] | None = None
    transformation: str | None = None
    default_value: AssignmentValue | None = None
    prior: Mapping[str, Any] | None = None
    conditions: Conditions = ()

    @property
    def is_log(self) -> bool:
        return self.transformation == "log"

    def is_active(self, conditional_values: Mapping[str, object]) -> bool:
        """Whether the parameter applies where the conditionals have these values: each
        conditional it names has one of the values it lists (none named: always)."""
        return all(conditional_values.get(name) in values for name, values in self.conditions)

    def describe_conditions(self) -> str:
        """``model in ['a', 'b'] and size in ['large']``: when the parameter applies."""
        return " and ".join(f"{name} in {list(values)}" for name, values in self.conditions)

    @property
    def low(self) -> float:
        """Smallest value the parameter may take (numeric parameters only)."""
        if self.grid is not None:
            return min(self.grid)
        assert self.bounds is not None
        return self.bounds[0]

    @property
    def high(self) -> float:
        """Largest value the parameter may take (numeric parameters only)."""
        if self.grid is not None:
            return max(self.grid)
        assert self.bounds is not None
        return self.bounds[1]

    def to_unit(self, value: float) -> float:
        """A number of ``[low, high]`` as its place in [0, 1]: linear, or linear in the
        logarithm when the parameter is log-scaled (numeric parameters only)."""
        low, high = self.low, self.high
        if self.is_log:
            return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
        return (value - low) / (high - low)

    def from_unit(self, u: float) -> float:
        """The inverse of ``to_unit``: the number at place ``u`` of ``[low, high]``; neither
        ``u`` nor the result is clamped (numeric parameters only)."""
        low, high = self.low, self.high
        if self.is_log:
            return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        return low + u * (high - low)

    def check_value(self, value: object, path: str) -> AssignmentValue:
        """Return ``value`` in canonical form, or raise InvalidRequestError naming ``path``."""
        if self.type is ParameterType.CATEGORICAL:
            if not isinstance(value, str) or value not in self.categorical_values:
                raise InvalidRequestError(
                    f"Invalid value for {path}: {value!r}; expected one of "
                    f"{list(self.categorical_values)}"
                )
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequestError(f"Invalid value for {path}: {value!r} is not a number")
        if not math.isfinite(value):
            raise InvalidRequestError(f"Invalid value for {path}: {value!r} is not finite")
        if self.type is ParameterType.INT:
            if float(value) != int(value):
                raise InvalidRequestError(f"Invalid value for {path}: {value!r} is not an integer")
            value = int(value)
        else:
            value = float(value)
        if self.grid is not None:
            if value not in self.grid:
                raise InvalidRequestError(
                    f"Invalid value for {path}: {value!r} is not in the grid {list(self.grid)}"
                )
        elif not self.low <= value <= self.high:
            raise InvalidRequestError(
                f"Invalid value for {path}: {value!r} is outside the bounds "
                f"[{_fmt(self.low)}, {_fmt(self.high)}]"
            )
        return value


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


@dataclass(frozen=True)
class LinearConstraint:
    """``sum(weight * value) > threshold`` (greater_than) or ``< threshold`` (less_than)."""

    type: str
    terms: tuple[tuple[str, float], ...]
    threshold: float

    def is_satisfied(self, assignments: Assignments, tolerance: float = 1e-9) -> bool:
        total = sum(weight * float(assignments[name]) for name, weight in self.terms)
        if self.type == "greater_than":
            return total >= self.threshold - tolerance
        return total <= self.threshold + tolerance


@dataclass(frozen=True)
class SearchSpace:
    """Parameters, the linear constraints on them (over unconditioned parameters only) and
    the conditionals that switch conditioned parameters on and off."""

    parameters: tuple[Parameter, ...]
    linear_constraints: tuple[LinearConstraint, ...] = field(default=())
    conditionals: tuple[Conditional, ...] = field(default=())

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def active_parameters(self, conditional_values: Mapping[str, object]) -> tuple[Parameter, ...]:
        """The parameters that apply where the conditionals have these values."""
        return tuple(p for p in self.parameters if p.is_active(conditional_values))

    def combinations(self) -> list[dict[str, str]]:
        """Every assignment of the conditionals (``[{}]`` without any), first value first."""
        names = [c.name for c in self.conditionals]
        return [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*(c.values for c in self.conditionals))
        ]

    def subspaces(self) -> list[tuple[dict[str, str], SearchSpace]]:
        """Per combination of conditional values, the space of its active parameters (with
        the linear constraints, whose parameters are active everywhere): a conditional
        space is the union of these."""
        return [
            (values, SearchSpace(self.active_parameters(values), self.linear_constraints))
            for values in self.combinations()
        ]

    @property
    def is_discrete(self) -> bool:
        return all(
            p.type is not ParameterType.DOUBLE or p.grid is not None for p in self.parameters
        )

    def discrete_size(self) -> int | None:
        """How many distinct points the space holds, or None if it is continuous."""
        if not self.is_discrete:
            return None
        if self.conditionals:
            return sum(_product_size(space.parameters) for _, space in self.subspaces())
        return _product_size(self.parameters)

    def check_assignments(
        self, raw: object, path: str = "assignments"
    ) -> dict[str, AssignmentValue]:
        """Validate a point: each conditional's value, and every parameter active under
        them, no other (an inactive one may be null, and is dropped). Returns it in
        canonical form, conditionals first."""
        if not isinstance(raw, Mapping):
            raise InvalidRequestError(f"Invalid {path}: expected an object of parameter values")
        conditionals = {c.name: c for c in self.conditionals}
        names = {p.name for p in self.parameters} | set(conditionals)
        unknown = sorted(set(raw) - names)
        if unknown:
            raise InvalidRequestError(f"Unknown parameter(s) in {path}: {', '.join(unknown)}")
        missing = sorted(set(conditionals) - set(raw))
        if missing:
            raise InvalidRequestError(f"Missing conditional(s) in {path}: {', '.join(missing)}")
        checked: dict[str, AssignmentValue] = {}
        for name, conditional in conditionals.items():
            value = raw[name]
            if not isinstance(value, str) or value not in conditional.values:
                raise InvalidRequestError(
                    f"Invalid value for {path}.{name}: {value!r}; expected one of "
                    f"{list(conditional.values)}"
                )
            checked[name] = value
        active = self.active_parameters(checked)
        active_names = {p.name for p in active}
        for p in self.parameters:
            if p.name not in active_names and raw.get(p.name) is not None:
                raise InvalidRequestError(
                    f"Invalid {path}.{p.name}: the parameter applies only where "
                    f"{p.describe_conditions()}; leave it out"
                )
        missing = sorted(active_names - set(raw))
        if missing:
            raise InvalidRequestError(f"Missing parameter(s) in {path}: {', '.join(missing)}")
        for p in active:
            checked[p.name] = p.check_value(raw[p.name], f"{path}.{p.name}")
        for index, constraint in enumerate(self.linear_constraints):
            if not constraint.is_satisfied(checked):
                raise InvalidRequestError(
                    f"Invalid {path}: linear_constraints[{index}] is not satisfied"
                )
        return checked


def _product_size(parameters: tuple[Parameter, ...]) -> int:
    """The points of a discrete box of these parameters."""
    size = 1
    for p in parameters:
        if p.type is ParameterType.CATEGORICAL:
            size *= len(p.categorical_values)
        elif p.grid is not None:
            size *= len(p.grid)
        else:
            size *= int(p.high) - int(p.low) + 1
    return size


def point_hash(assignments: Assignments, task: str | None = None) -> str:
    """A fixed-size digest that is equal exactly when two points are the same: the same
    assignments and, in a multitask experiment, the same task (the same assignments at
    another task are another evaluation, often a good one: a costlier look at a point a
    cheap task liked).

    Names are sorted and length-prefixed; ints and floats that are equal hash alike
    (-0.0 as 0.0: adding 0.0 drops the sign of a zero and changes nothing else). The task
    is one more part, ``@`` and length-prefixed, which no assignment's part can be (each
    starts with a digit); a point without a task hashes as it did before tasks existed,
    so stored hashes of plain experiments stay valid.
    """
    parts = []
    for name in sorted(assignments):
        value = assignments[name]
        text = "s" + value if isinstance(value, str) else f"n{float(value) + 0.0!r}"
        parts.append(f"{len(name)}:{name}={len(text)}:{text}")
    if task is not None:
        parts.append(f"@{len(task)}:{task}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
