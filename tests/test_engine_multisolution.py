"""Multisolution in the engine: proposals take turns between the whole space and searches
that keep away from the best diverse solutions found; an optimization on a function of
three nearly equal peaks ends with a solution on each."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.metrics import Metric
from honed.domain.parameters import Assignments
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.ranking import SOLUTION_RADIUS
from honed.domain.ranking import best_observations
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.engine.base import ProposalRequest
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.engine import BoTorchEngine
from honed.engine.botorch.multisolution import focus

SPACE = SearchSpace(
    (
        Parameter("x", ParameterType.DOUBLE, (0.0, 1.0)),
        Parameter("y", ParameterType.DOUBLE, (0.0, 1.0)),
        Parameter("kind", ParameterType.CATEGORICAL, categorical_values=("a", "b")),
    )
)
PEAKS = [(0.15, 0.2), (0.85, 0.25), (0.5, 0.85)]


def experiment(solutions: int, space: SearchSpace = SPACE) -> Experiment:
    spec = ExperimentSpec(
        "multisolution",
        space,
        (Metric("f"),),
        observation_budget=40,
        num_solutions=solutions,
    )
    return Experiment(5, 1, spec, ExperimentState.ACTIVE, 0, 0)


def peaks(point: Assignments) -> float:
    """Three separated peaks of nearly equal height (1, 0.99, 0.98); kind "b" a bit lower."""
    x, y = float(point["x"]), float(point["y"])
    heights = [
        (1 - 0.01 * i) * math.exp(-((x - px) ** 2 + (y - py) ** 2) / 0.01)
        for i, (px, py) in enumerate(PEAKS)
    ]
    return max(heights) - (0.05 if point.get("kind") == "b" else 0.0)


def observed(points: Sequence[Assignments], first_id: int = 1) -> list[Observation]:
    return [
        Observation(first_id + i, 5, None, dict(p), (MetricValue("f", peaks(p)),), False, None, 0)
        for i, p in enumerate(points)
    ]


FOUND = observed(
    [
        {"x": 0.15, "y": 0.2, "kind": "a"},
        {"x": 0.86, "y": 0.25, "kind": "b"},
        {"x": 0.5, "y": 0.5, "kind": "a"},
    ]
)


def test_turns_search_everywhere_then_around_each_solution_then_for_a_new_one() -> None:
    spec = experiment(4).spec
    encoding = Encoding.of(SPACE)
    found = best_observations(spec, FOUND)
    assert len(found) == 3
    encoded = encoding.encode([o.assignments for o in found])
    # Turn 0 (3 observed + 1 pending): the whole space.
    assert focus(spec, encoding, FOUND, pending=1) is None
    # Turns 1 and 2: a box around that solution, its category fixed, the better ones pending.
    kind = encoding.dim_names().index("kind")
    for pending, turn in ((2, 1), (3, 2)):
        region = focus(spec, encoding, FOUND, pending)
        assert region is not None
        assert region.box is not None
        assert torch.equal(region.avoid, encoded[:turn])
        center = encoded[turn]
        assert region.fixed == {kind: float(center[kind])}
        for dim in (encoding.dim_names().index("x"), encoding.dim_names().index("y")):
            low, high = float(region.box[0, dim]), float(region.box[1, dim])
            assert low == pytest.approx(max(0.0, float(center[dim]) - SOLUTION_RADIUS))
            assert high == pytest.approx(min(1.0, float(center[dim]) + SOLUTION_RADIUS))
    # Turn 3 of 4 with three found: the whole space, away from all of them.
    region = focus(spec, encoding, FOUND, pending=0)
    assert region is not None
    assert region.box is None
    assert torch.equal(region.avoid, encoded)
    # Nothing observed yet, or one solution wanted: the whole space.
    assert focus(spec, encoding, [], pending=2) is None
    assert focus(experiment(1).spec, encoding, FOUND, pending=2) is None


def test_a_turn_proposes_inside_its_box() -> None:
    target = experiment(3)
    spec = target.spec
    encoding = Encoding.of(SPACE)
    spread: list[Assignments] = [{"x": 0.3 + 0.05 * i, "y": 0.6, "kind": "a"} for i in range(5)]
    history = [*FOUND, *observed(spread, first_id=4)]
    # 8 observed and 2 pending: turn 1 of 3, around the second solution.
    pending: list[Assignments] = [{"x": 0.99, "y": 0.99, "kind": "a"}] * 2
    region = focus(spec, encoding, history, len(pending))
    assert region is not None
    assert region.box is not None
    engine = BoTorchEngine(num_restarts=4, raw_samples=128)
    request = ProposalRequest(target, 0, pending=pending, observations=history)
    (point,) = engine.propose(request).points
    second = best_observations(spec, history)[1]
    assert point["kind"] == second.assignments["kind"]
    for name in ("x", "y"):
        gap = abs(float(point[name]) - float(second.assignments[name]))
        assert gap <= SOLUTION_RADIUS + 1e-9


def test_a_run_on_three_peaks_ends_with_a_solution_on_each() -> None:
    """30 evaluations, 3 solutions wanted: the best assignments lie on the three peaks.
    (A category would count as a difference of its own: a peak's point of each kind is two
    solutions; here there is none.)"""
    target = experiment(3, SearchSpace(SPACE.parameters[:2]))
    engine = BoTorchEngine(num_restarts=8, raw_samples=256)
    history: list[Observation] = []
    cursor = 0
    for _ in range(30):
        proposal = engine.propose(ProposalRequest(target, cursor, observations=history))
        cursor = proposal.cursor
        history += observed(proposal.points[:1], first_id=len(history) + 1)
    solutions = best_observations(target.spec, history)
    assert len(solutions) == 3

    def peak_of(solution: Observation) -> int:
        at = (float(solution.assignments["x"]), float(solution.assignments["y"]))
        return min(range(len(PEAKS)), key=lambda i: math.dist(PEAKS[i], at))

    assert sorted(peak_of(s) for s in solutions) == [0, 1, 2], [s.assignments for s in solutions]


@pytest.mark.parametrize(("high", "searched"), [(3, False), (40, True)])
def test_an_integer_with_no_other_value_in_the_box_is_fixed(high: int, searched: bool) -> None:
    """n's values lie 1 / (high - 1) apart in the unit cube: 0.5 for three values, more than
    the box's 0.1 on each side; about 0.026 for forty."""
    space = SearchSpace(
        (
            Parameter("x", ParameterType.DOUBLE, (0.0, 1.0)),
            Parameter("n", ParameterType.INT, (1, high)),
        )
    )
    spec = ExperimentSpec("m", space, (Metric("f"),), observation_budget=20, num_solutions=2)
    points: list[Assignments] = [{"x": 0.1, "n": 2}, {"x": 0.9, "n": 2}]
    history = [
        Observation(i + 1, 5, None, p, (MetricValue("f", float(p["x"])),), False, None, 0)
        for i, p in enumerate(points)
    ]
    region = focus(spec, Encoding.of(space), history, pending=1)  # turn 1 of 2
    assert region is not None
    assert region.box is not None
    assert (1 not in region.fixed) is searched
    assert region.fixed.get(0) is None  # x is searched either way
