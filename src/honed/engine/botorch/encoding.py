"""The search space as the model sees it.

Every double is one dimension in [0, 1] (in log space when log-scaled); ints and grid values
are discrete dimensions on the same scale (large int ranges are relaxed to continuous and
rounded); each categorical parameter is one dimension holding the category's index, which
the model one-hot encodes and the mixed optimizer treats as unordered. A conditional with
several values is one more such categorical dimension, after the parameters'. A parameter
that its conditionals' values leave inactive is encoded at a fixed placeholder, and the
model replaces its column by a constant (``engine/botorch/conditional.py``): points that
differ only in inactive parameters are one point to the kernel.

Shapes in this package: ``d`` is ``Encoding.dim``, one column per parameter in the search
space's order, then one per conditional of several values; a set of ``n`` points in model
space is a float64 tensor ``(n, d)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from honed.domain.parameters import Assignments
from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import Conditional
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace

# Int ranges with more values than this are optimized as continuous and rounded.
MAX_DISCRETE_VALUES = 128
DTYPE = torch.float64
# Linear constraints in BoTorch's form: (indices, coefficients, rhs) for sum(c * x[i]) >= rhs.
LinearConstraints = list[tuple[torch.Tensor, torch.Tensor, float]]
#: When a parameter is active: per conditional dimension, the value indices it applies under.
Requirements = tuple[tuple[int, tuple[int, ...]], ...]


def _from_unit(parameter: Parameter, u: float) -> float:
    """A model-space number as the parameter's value, ``u`` clamped to [0, 1] first."""
    return parameter.from_unit(min(max(u, 0.0), 1.0))


@dataclass(frozen=True)
class Encoding:
    """The map between a search space's assignments and model-space points ``(d,)``."""

    space: SearchSpace
    #: dimension -> allowed model-space values, for ints and grids (sorted)
    discrete_dims: Mapping[int, Sequence[float]]
    #: dimension -> category indices 0..k-1 (categorical parameters and conditionals)
    cat_dims: Mapping[int, Sequence[float]]
    #: dimension -> the conditional (of several values) whose value index it holds
    conditional_dims: Mapping[int, Conditional]
    #: dimension of a conditioned parameter -> when it is active (see ``Requirements``)
    requirements: Mapping[int, Requirements]

    @classmethod
    def of(cls, space: SearchSpace) -> Encoding:
        discrete: dict[int, list[float]] = {}
        categorical: dict[int, list[float]] = {}
        for dim, p in enumerate(space.parameters):
            if p.type is ParameterType.CATEGORICAL:
                categorical[dim] = [float(i) for i in range(len(p.categorical_values))]
            elif p.grid is not None:
                discrete[dim] = sorted(p.to_unit(float(v)) for v in set(p.grid))
            elif p.type is ParameterType.INT:
                count = int(p.high) - int(p.low) + 1
                if count <= MAX_DISCRETE_VALUES:
                    discrete[dim] = [
                        p.to_unit(float(v)) for v in range(int(p.low), int(p.high) + 1)
                    ]
        # A conditional of one value is that value everywhere: it needs no dimension.
        switches = [c for c in space.conditionals if len(c.values) > 1]
        conditional_dims = dict(enumerate(switches, start=len(space.parameters)))
        for dim, conditional in conditional_dims.items():
            categorical[dim] = [float(i) for i in range(len(conditional.values))]
        column = {c.name: dim for dim, c in conditional_dims.items()}
        requirements = {
            dim: tuple(
                (
                    column[name],
                    tuple(conditional_dims[column[name]].values.index(v) for v in values),
                )
                for name, values in p.conditions
                if name in column
            )
            for dim, p in enumerate(space.parameters)
            if any(name in column for name, _ in p.conditions)
        }
        return cls(space, discrete, categorical, conditional_dims, requirements)

    @property
    def dim(self) -> int:
        return len(self.space.parameters) + len(self.conditional_dims)

    @property
    def kernel_width(self) -> int:
        """The columns the model's kernel sees: ``d``, with each categorical index one-hot
        over its categories."""
        return self.dim + sum(len(values) - 1 for values in self.cat_dims.values())

    def dim_names(self) -> list[str]:
        """What each dimension holds: the parameters' names, then the conditionals'."""
        return [p.name for p in self.space.parameters] + [
            c.name for c in self.conditional_dims.values()
        ]

    def placeholder(self, dim: int) -> float:
        """The model-space value an inactive parameter is encoded at: the middle of its
        range (its allowed value nearest it), or its first category; always a value the
        optimizers may hold."""
        if dim in self.cat_dims:
            return 0.0
        allowed = self.discrete_dims.get(dim)
        return 0.5 if allowed is None else min(allowed, key=lambda v: abs(v - 0.5))

    def is_active(self, dim: int, conditionals: Mapping[int, float] | torch.Tensor) -> bool:
        """Whether dimension ``dim`` applies where the conditional dimensions hold these
        value indices (``conditionals[column]``: a point ``(d,)``, or a mapping)."""
        return all(
            int(conditionals[column]) in allowed
            for column, allowed in self.requirements.get(dim, ())
        )

    def combinations(self) -> list[dict[int, float]]:
        """Every combination of the conditionals' values as fixed model-space features:
        each conditional dimension at its value's index, each parameter that the
        combination leaves inactive at its placeholder (``[{}]`` without conditionals)."""
        dims = list(self.conditional_dims)
        result = []
        for indices in itertools.product(*(range(len(self.cat_dims[d])) for d in dims)):
            fixed = {d: float(i) for d, i in zip(dims, indices, strict=True)}
            for dim in self.requirements:
                if not self.is_active(dim, fixed):
                    fixed[dim] = self.placeholder(dim)
            result.append(fixed)
        return result

    def bounds(self) -> torch.Tensor:
        """``(2, d)``: the lower bounds (all 0) over the upper ones (1, or a categorical
        parameter's last index), as BoTorch's optimizers take them."""
        upper = [
            float(len(self.cat_dims[d]) - 1) if d in self.cat_dims else 1.0
            for d in range(self.dim)
        ]
        return torch.tensor([[0.0] * self.dim, upper], dtype=DTYPE)

    def _conditional_values(self, point: Assignments) -> dict[str, str]:
        return {c.name: str(point.get(c.name, c.values[0])) for c in self.space.conditionals}

    def encode(self, assignments: Sequence[Assignments]) -> torch.Tensor:
        """``(n, d)`` for ``n`` assignments, ``(0, d)`` for none. A parameter inactive at a
        point (or, added later, missing from it without a default value) is at its
        placeholder."""
        rows = []
        for point in assignments:
            conditionals = self._conditional_values(point)
            row = []
            for dim, p in enumerate(self.space.parameters):
                value = point.get(p.name, p.default_value)
                if value is None or not p.is_active(conditionals):
                    row.append(self.placeholder(dim))
                elif p.type is ParameterType.CATEGORICAL:
                    row.append(float(p.categorical_values.index(str(value))))
                else:
                    row.append(p.to_unit(float(value)))
            row += [
                float(c.values.index(conditionals[c.name])) for c in self.conditional_dims.values()
            ]
            rows.append(row)
        return torch.tensor(rows, dtype=DTYPE).reshape(len(rows), self.dim)

    def decode(self, x: torch.Tensor) -> dict[str, AssignmentValue]:
        """One point ``x: (d,)`` as assignments: the conditionals' values first, then the
        parameters they leave active, clamped to the bounds, categorical indices and
        discrete values rounded to the nearest allowed one."""
        point: dict[str, AssignmentValue] = {
            c.name: c.values[0] for c in self.space.conditionals if len(c.values) == 1
        }
        for dim, conditional in self.conditional_dims.items():
            point[conditional.name] = conditional.values[_index(float(x[dim]), conditional.values)]
        point = {c.name: point[c.name] for c in self.space.conditionals}
        for dim, p in enumerate(self.space.parameters):
            if p.is_active(point):
                point[p.name] = self.value(dim, float(x[dim]))
        return point

    def value(self, dim: int, u: float) -> AssignmentValue:
        """Model-space coordinate ``u`` of dimension ``dim`` as its parameter's value (see
        ``decode``)."""
        p = self.space.parameters[dim]
        if p.type is ParameterType.CATEGORICAL:
            return p.categorical_values[_index(u, p.categorical_values)]
        if p.grid is not None:
            return _nearest(p, _from_unit(p, u), p.grid)
        if p.type is ParameterType.INT:
            return int(min(max(round(_from_unit(p, u)), p.low), p.high))
        return _from_unit(p, u)

    # --- the unit cube: [0, 1]^d, each categorical index spread over an equal share -------
    def to_unit_cube(self, x: torch.Tensor) -> torch.Tensor:
        """``x: (n, d)`` in model space to ``(n, d)`` in the unit cube: categorical indices
        to the middle of their share of [0, 1]; the other dimensions are there already."""
        x = x.clone()
        for d, values in self.cat_dims.items():
            x[:, d] = (x[:, d] + 0.5) / len(values)
        return x

    def from_unit_cube(self, u: torch.Tensor) -> torch.Tensor:
        """``u: (n, d)`` in the unit cube to ``(n, d)`` in model space, each point moved as
        little as it can: categories as indices, discrete values snapped to the nearest
        allowed one (a perturbed point stays near where it was)."""
        x = self._categories_from_unit_cube(u)
        for d, allowed in self.discrete_dims.items():
            grid = torch.tensor(allowed, dtype=DTYPE)
            x[:, d] = grid[(u[:, d].unsqueeze(-1) - grid).abs().argmin(dim=-1)]
        return x

    def uniform_from_unit_cube(self, u: torch.Tensor) -> torch.Tensor:
        """``u: (n, d)`` uniform in [0, 1)^d to ``(n, d)`` uniform points of the search space
        in model space: a discrete dimension's ``k`` allowed values take equal cells, however
        they are spaced (as ``engine/space.py`` samples)."""
        x = self._categories_from_unit_cube(u)
        for d, allowed in self.discrete_dims.items():
            values = torch.as_tensor(allowed, dtype=DTYPE)
            x[:, d] = values[_cells(u[:, d], len(values)).long()]
        return x

    def _categories_from_unit_cube(self, u: torch.Tensor) -> torch.Tensor:
        """A copy of ``u: (n, d)`` with each categorical dimension's category index."""
        x = u.clone()
        for d, values in self.cat_dims.items():
            x[:, d] = _cells(u[:, d], len(values))
        return x

    def inequality_constraints(self, margin: float = 0.0) -> LinearConstraints:
        """Linear constraints in model space, in BoTorch's ``sum(c * x[i]) >= rhs`` form: per
        constraint ``(indices: (k,) long, coefficients: (k,) float64, rhs)`` over the ``k``
        parameters it names.

        ``margin`` tightens each constraint by that share of the scale of its continuous
        doubles (the sum of their ``|c|``): the optimizers meet a constraint only to their
        tolerance, and such a double on the boundary would break it by ~1e-9 once decoded;
        integers and grid values hold exactly at their snapped values. Integer values that
        leave a double no room but its bound (x + k <= 9 at k = 9, x >= 0) are lost to the
        optimizers.
        """
        result = []
        names = [p.name for p in self.space.parameters]
        for constraint in self.space.linear_constraints:
            sign = 1.0 if constraint.type == "greater_than" else -1.0
            indices, coefficients = [], []
            rhs = constraint.threshold
            slack = 0.0
            for name, weight in constraint.terms:
                p = self.space.parameter(name)
                indices.append(names.index(name))
                coefficients.append(sign * weight * (p.high - p.low))
                rhs -= weight * p.low
                if p.type is ParameterType.DOUBLE and p.grid is None:
                    slack += margin * abs(coefficients[-1])
            result.append(
                (
                    torch.tensor(indices, dtype=torch.long),
                    torch.tensor(coefficients, dtype=DTYPE),
                    sign * rhs + slack,
                )
            )
        return result


def _cells(u: torch.Tensor, count: int) -> torch.Tensor:
    """``u: (n,)`` in [0, 1] as ``(n,)`` indices of its cell among ``count`` equal ones, as
    floats: ``engine.space.unit_cell`` on a tensor (tests/test_encoding.py checks they
    agree)."""
    return (u * count).floor().clamp(0, count - 1)


def _index(u: float, values: Sequence[str]) -> int:
    """A model-space category index, rounded into range."""
    return min(max(round(u), 0), len(values) - 1)


def _nearest(parameter: Parameter, value: float, grid: Sequence[float]) -> AssignmentValue:
    best = min(grid, key=lambda g: abs(float(g) - value))
    return int(best) if parameter.type is ParameterType.INT else float(best)
