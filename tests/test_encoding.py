"""Linear constraints in the optimizer's model space against the user's check."""

from __future__ import annotations

import math

import torch

from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.encoding import _cells
from honed.engine.botorch.engine import CONSTRAINT_MARGIN
from honed.engine.space import unit_cell

# SLSQP, which the acquisition optimizers run under linear constraints, meets them to
# about this much in model space (x + y <= 1 came back as 1 + 7e-9).
SLSQP_TOLERANCE = 1e-8


def test_a_double_on_a_constraint_it_shares_with_an_int_still_meets_it_once_decoded() -> None:
    """x + k <= 9: for each k the optimizer pushes x to the boundary and a little over."""
    limit = LinearConstraint("less_than", (("x", 1.0), ("k", 1.0)), 9.0)
    x, k = (
        Parameter("x", ParameterType.DOUBLE, (0.0, 15.0)),
        Parameter("k", ParameterType.INT, (0, 10)),
    )
    encoding = Encoding.of(SearchSpace((x, k), (limit,)))
    ((indices, coefficients, rhs),) = encoding.inequality_constraints(CONSTRAINT_MARGIN)
    assert indices.tolist() == [0, 1]
    for value in range(9):
        k_unit = float(encoding.encode([{"x": 0.0, "k": value}])[0, 1])
        # coefficients[0] * x + coefficients[1] * k >= rhs, coefficients[0] < 0
        x_unit = (rhs - float(coefficients[1]) * k_unit) / float(coefficients[0])
        point = encoding.decode(torch.tensor([x_unit + SLSQP_TOLERANCE, k_unit]))
        assert point["k"] == value
        assert limit.is_satisfied(point), point
        assert float(point["x"]) > 9 - value - 1e-3  # the boundary is still reachable


def test_values_of_integers_and_grids_on_a_constraint_stay_feasible() -> None:
    """Snapped values meet a constraint exactly: it is not tightened for them."""
    grid = (0.0, 0.25, 0.5, 1.0)
    g = Parameter("g", ParameterType.DOUBLE, grid=grid)
    h = Parameter("h", ParameterType.DOUBLE, grid=grid)
    k = Parameter("k", ParameterType.INT, (0, 4))
    constraints = (
        LinearConstraint("less_than", (("g", 1.0), ("h", 1.0)), 1.0),
        LinearConstraint("greater_than", (("k", 1.0), ("g", 4.0)), 3.0),
    )
    encoding = Encoding.of(SearchSpace((g, h, k), constraints))
    on_both_boundaries = encoding.encode([{"g": 0.5, "h": 0.5, "k": 1}])[0]
    for indices, coefficients, rhs in encoding.inequality_constraints(CONSTRAINT_MARGIN):
        assert float((coefficients * on_both_boundaries[indices]).sum()) >= rhs


def test_the_model_picks_discrete_values_by_the_samplers_cell_rule() -> None:
    """``_cells`` is ``unit_cell`` on a tensor: at the ends, on and beside every cell edge."""
    for count in (1, 2, 3, 7, 10, 1000):
        edges = [k / count for k in range(count + 1)]
        beside = [math.nextafter(e, 0.0) for e in edges] + [math.nextafter(e, 1.0) for e in edges]
        u = [min(max(x, 0.0), 1.0) for x in [0.0, 1.0, 0.123, 0.999, *edges, *beside]]
        cells = _cells(torch.tensor(u, dtype=torch.float64), count)
        assert cells.tolist() == [float(unit_cell(x, count)) for x in u], count


def test_from_unit_inverts_to_unit() -> None:
    for transformation in (None, "log"):
        p = Parameter(
            "x", ParameterType.DOUBLE, bounds=(0.01, 100.0), transformation=transformation
        )
        for value in (0.01, 0.5, 3.0, 100.0):
            assert math.isclose(p.from_unit(p.to_unit(value)), value)
        assert math.isclose(p.from_unit(0.0), 0.01)
        assert math.isclose(p.from_unit(1.0), 100.0)
