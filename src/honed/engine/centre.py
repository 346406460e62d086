"""The first point of a design: the centre of the space, or of the part that meets the
linear constraints."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linprog

from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.engine.space import point_from_unit
from honed.engine.space import satisfies_constraints


def centre_point(space: SearchSpace) -> dict[str, AssignmentValue] | None:
    """The centre in each parameter's own scale; when it breaks a linear constraint, the
    centre of the largest ball that fits in the feasible part of the box (its Chebyshev
    centre, as Ax starts), the constrained parameters scaled to [0, 1]. None when there
    is no such point (an empty feasible region, or integers that round off it)."""
    centre = point_from_unit(space, np.full(len(space.parameters), 0.5))
    if satisfies_constraints(space, centre):
        return centre
    names = sorted({name for c in space.linear_constraints for name, _ in c.terms})
    parameters = [space.parameter(name) for name in names]
    if any(p.type is ParameterType.CATEGORICAL or p.grid is not None for p in parameters):
        return None
    lows = np.array([p.low for p in parameters])
    spans = np.array([p.high - p.low for p in parameters])
    # sum(w * v) <= t over values v = low + span * u becomes a . u <= b over u in [0, 1].
    rows, limits = [], []
    for constraint in space.linear_constraints:
        weights = np.zeros(len(names))
        for name, weight in constraint.terms:
            weights[names.index(name)] += weight
        sign = -1.0 if constraint.type == "greater_than" else 1.0
        rows.append(sign * weights * spans)
        limits.append(sign * (constraint.threshold - float(weights @ lows)))
    rows.extend([*np.eye(len(names)), *-np.eye(len(names))])  # the box: u <= 1, -u <= 0
    limits.extend([1.0] * len(names) + [0.0] * len(names))
    a = np.array(rows)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    # Variables (u, r): maximise the radius r subject to a . u + |a| r <= b.
    result = linprog(
        c=np.r_[np.zeros(len(names)), -1.0],
        A_ub=np.hstack([a, norms]),
        b_ub=np.array(limits),
        bounds=[(None, None)] * len(names) + [(0.0, None)],
        method="highs",
    )
    if not result.success:
        return None
    point = dict(centre)
    for parameter, u in zip(parameters, np.clip(result.x[:-1], 0.0, 1.0), strict=True):
        value = parameter.low + float(u) * (parameter.high - parameter.low)
        if parameter.type is ParameterType.INT:
            point[parameter.name] = math.floor(value + 0.5)
        else:
            point[parameter.name] = min(max(value, parameter.low), parameter.high)
    return point if satisfies_constraints(space, point) else None
