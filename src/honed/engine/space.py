"""Maps between the unit hypercube and assignments, one dimension per conditional, then
one per parameter.

Doubles are spread linearly or in log space, ints and grid values and categories (and
conditional values) get equal-width cells, so a uniform point in [0, 1)^d is a uniform
point of the space; the coordinates of parameters that the conditionals' values leave
inactive are dropped.
``Parameter.to_unit`` and ``Parameter.from_unit`` (``domain/parameters.py``) are the one
linear-or-log map of a number's bounds onto [0, 1], and ``unit_cell`` the one equal-cell
rule: the model's encoding (``engine/botorch/encoding.py``) uses them too. No torch here:
the API process samples Sobol points through this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet

import numpy as np
import numpy.typing as npt

from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash


def unit_cell(u: float, count: int) -> int:
    """``u`` in [0, 1] as the index of its cell among ``count`` equal ones (1 is in the
    last): the one rule by which a unit coordinate picks a discrete value
    (``engine/botorch/encoding.py`` applies it to tensors)."""
    return min(int(u * count), count - 1)


def value_from_unit(parameter: Parameter, u: float) -> AssignmentValue:
    if parameter.type is ParameterType.CATEGORICAL:
        values = parameter.categorical_values
        return values[unit_cell(u, len(values))]
    if parameter.grid is not None:
        grid = sorted(parameter.grid)
        value = grid[unit_cell(u, len(grid))]
        return int(value) if parameter.type is ParameterType.INT else float(value)
    low, high = parameter.low, parameter.high
    if parameter.type is ParameterType.INT:
        return int(low) + unit_cell(u, int(high) - int(low) + 1)
    return min(max(parameter.from_unit(u), low), high)


def unit_dimension(space: SearchSpace) -> int:
    """The dimension of the unit cube that ``point_from_unit`` maps."""
    return len(space.conditionals) + len(space.parameters)


def point_from_unit(space: SearchSpace, u: npt.NDArray[np.float64]) -> dict[str, AssignmentValue]:
    """The point at ``u: (unit_dimension,)``: conditionals first, then the parameters they
    leave active (the others' coordinates are not used)."""
    count = len(space.conditionals)
    point: dict[str, AssignmentValue] = {
        c.name: c.values[unit_cell(float(x), len(c.values))]
        for c, x in zip(space.conditionals, u[:count], strict=True)
    }
    for p, x in zip(space.parameters, u[count:], strict=True):
        if p.is_active(point):
            point[p.name] = value_from_unit(p, float(x))
    return point


def satisfies_constraints(space: SearchSpace, point: dict[str, AssignmentValue]) -> bool:
    return all(c.is_satisfied(point) for c in space.linear_constraints)


def discrete_values(parameter: Parameter) -> list[AssignmentValue]:
    """Every value a non-continuous parameter can take."""
    if parameter.type is ParameterType.CATEGORICAL:
        return list(parameter.categorical_values)
    if parameter.grid is not None:
        cast = int if parameter.type is ParameterType.INT else float
        return [cast(v) for v in sorted(parameter.grid)]
    if parameter.type is ParameterType.INT:
        return list(range(int(parameter.low), int(parameter.high) + 1))
    raise ValueError(f"parameter {parameter.name} is continuous")


def point_at_index(space: SearchSpace, index: int) -> dict[str, AssignmentValue]:
    """The index-th point of a discrete space in mixed-radix order (first parameter slowest);
    with conditionals, the points of each combination of their values in turn (see
    ``SearchSpace.subspaces``). Computed digit by digit: an int range is never
    materialized (it may span 10^9)."""
    if space.conditionals:
        for combination, subspace in space.subspaces():
            size = subspace.discrete_size()
            assert size is not None  # a discrete space's subspaces are discrete
            if index < size:
                return {**combination, **point_at_index(subspace, index)}
            index -= size
        raise IndexError("index beyond the discrete space")
    point: dict[str, AssignmentValue] = {}
    for parameter in reversed(space.parameters):
        if parameter.type is ParameterType.INT and parameter.grid is None:
            low = int(parameter.low)
            index, digit = divmod(index, int(parameter.high) - low + 1)
            point[parameter.name] = low + digit
        else:
            values = discrete_values(parameter)
            index, digit = divmod(index, len(values))
            point[parameter.name] = values[digit]
    return {p.name: point[p.name] for p in space.parameters}


def constraints_feasible(space: SearchSpace) -> bool:
    """Whether some point of the space meets every linear constraint at once: a mixed-integer
    program (SciPy's HiGHS) over the constrained parameters' bounds, ints integral."""
    if not space.linear_constraints:
        return True
    from scipy.optimize import Bounds
    from scipy.optimize import LinearConstraint as Rows
    from scipy.optimize import milp

    names = sorted({name for c in space.linear_constraints for name, _ in c.terms})
    column = {name: index for index, name in enumerate(names)}
    parameters = [space.parameter(name) for name in names]
    matrix = np.zeros((len(space.linear_constraints), len(names)))
    low = np.full(len(space.linear_constraints), -np.inf)
    high = np.full(len(space.linear_constraints), np.inf)
    for row, constraint in enumerate(space.linear_constraints):
        for name, weight in constraint.terms:
            matrix[row, column[name]] += weight
        if constraint.type == "greater_than":
            low[row] = constraint.threshold
        else:
            high[row] = constraint.threshold
    result = milp(
        c=np.zeros(len(names)),
        constraints=Rows(matrix, low, high),
        bounds=Bounds([p.low for p in parameters], [p.high for p in parameters]),
        integrality=[int(p.type is ParameterType.INT) for p in parameters],
    )
    # 0: a point was found; 2: proven infeasible. Anything else (a limit) is not a proof.
    return bool(result.status != 2)


# A discrete space up to this size is searched exhaustively for a free point; a larger one
# is taken to have some (the model's optimizers then look for it).
EXHAUSTIBLE_SIZE = 200_000
# Indices decoded and checked against the linear constraints per NumPy pass.
SCAN_CHUNK = 8192


def first_free_point(
    space: SearchSpace, taken: AbstractSet[str], start: int = 0, task: str | None = None
) -> dict[str, AssignmentValue] | None:
    """The first point of a discrete space, in mixed-radix order from index ``start`` and
    wrapping around, that meets the linear constraints and is not in ``taken`` at ``task``
    (``point_hash`` values); None when there is none. Indices are decoded and checked
    against the constraints a chunk at a time in NumPy; only the feasible ones are built
    and hashed, so the cost is a few passes over the space plus one hash per taken point
    met: a 200,000-point space took 6 s point by point inside the experiment's lock.
    With conditionals, each combination's subspace is scanned in turn, from the one that
    holds ``start``."""
    size = space.discrete_size()
    if size is None:
        raise ValueError("the space is not discrete")
    if not space.conditionals:
        return _first_free_in_box(space, taken, start % size, size, {}, task)
    subspaces = space.subspaces()
    offset, first = start % size, 0
    sizes = [subspace.discrete_size() or 0 for _, subspace in subspaces]
    while offset >= sizes[first]:
        offset -= sizes[first]
        first += 1
    for turn in range(len(subspaces)):
        which = (first + turn) % len(subspaces)
        values, subspace = subspaces[which]
        point = _first_free_in_box(
            subspace, taken, offset if turn == 0 else 0, sizes[which], values, task
        )
        if point is not None:
            return point
    return None


def _first_free_in_box(
    space: SearchSpace,
    taken: AbstractSet[str],
    start: int,
    size: int,
    prefix: Mapping[str, AssignmentValue],
    task: str | None,
) -> dict[str, AssignmentValue] | None:
    """``first_free_point`` of a space without conditionals (of ``size`` points), its
    points completed by ``prefix`` (a combination's conditional values) before hashing."""
    for first in range(0, size, SCAN_CHUNK):
        indices = (start + np.arange(first, min(first + SCAN_CHUNK, size))) % size
        for index in indices[_feasible(space, indices)].tolist():
            point = {**prefix, **point_at_index(space, index)}
            if point_hash(point, task) not in taken:
                return point
    return None


def _feasible(space: SearchSpace, indices: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Which of the points at ``indices`` (a discrete space's, see point_at_index) meet
    every linear constraint, with the tolerance of LinearConstraint.is_satisfied."""
    if not space.linear_constraints:
        return np.ones(len(indices), dtype=bool)
    numbers: dict[str, npt.NDArray[np.float64]] = {}
    rest = indices.copy()
    for parameter in reversed(space.parameters):
        if parameter.type is ParameterType.INT and parameter.grid is None:
            low = int(parameter.low)
            rest, digit = np.divmod(rest, int(parameter.high) - low + 1)
            numbers[parameter.name] = (low + digit).astype(np.float64)
        else:
            values = discrete_values(parameter)
            rest, digit = np.divmod(rest, len(values))
            if parameter.type is not ParameterType.CATEGORICAL:
                numbers[parameter.name] = np.asarray(values, dtype=np.float64)[digit]
    feasible = np.ones(len(indices), dtype=bool)
    for constraint in space.linear_constraints:
        total = sum(weight * numbers[name] for name, weight in constraint.terms)
        if constraint.type == "greater_than":
            feasible &= total >= constraint.threshold - 1e-9
        else:
            feasible &= total <= constraint.threshold + 1e-9
    return feasible


def exhausted(space: SearchSpace, taken: AbstractSet[str], task: str | None = None) -> bool:
    """Whether every point of a finite space that meets the linear constraints is in
    ``taken`` at ``task`` (``point_hash`` values: the observed and pending points). Cheap
    unless ``taken`` holds about as many points as the space: with fewer than its size and
    no constraints, some point is free."""
    size = space.discrete_size()
    if size is None or size > EXHAUSTIBLE_SIZE:
        return False
    if size > len(taken) and not space.linear_constraints:
        return False
    return first_free_point(space, taken, task=task) is None
