"""Engines on a conditional space: no proposal ever assigns an inactive parameter, the
model sees inactive parameters as one constant, and the optimizer settles on the branch
that is clearly better."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
import torch
from botorch.models.gpytorch import GPyTorchModel

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import ExperimentType
from honed.domain.metrics import Metric
from honed.domain.parameters import Assignments
from honed.domain.parameters import Conditional
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.engine.base import Engine
from honed.engine.base import ProposalRequest
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.engine import BoTorchEngine
from honed.engine.grid import GridEngine
from honed.engine.random import RandomEngine
from honed.engine.sobol import SobolEngine

DOUBLE, INT, CATEGORICAL = ParameterType.DOUBLE, ParameterType.INT, ParameterType.CATEGORICAL
BRANCH = Conditional("branch", ("good", "poor", "off"))
GOOD = (("branch", ("good",)),)
POOR = (("branch", ("poor",)),)
SPACE = SearchSpace(
    (
        Parameter("x", DOUBLE, (0.0, 1.0), conditions=GOOD),
        Parameter("y", DOUBLE, (0.0, 1.0), conditions=GOOD),
        Parameter("u", DOUBLE, (0.0, 1.0), conditions=POOR),
        Parameter("c", CATEGORICAL, categorical_values=("p", "q", "r"), conditions=POOR),
        Parameter("k", INT, (1, 4)),
    ),
    (),
    (BRANCH,),
)


def experiment(
    space: SearchSpace = SPACE, type_: ExperimentType = ExperimentType.OFFLINE
) -> Experiment:
    spec = ExperimentSpec("conditional", space, (Metric("f"),), type=type_)
    return Experiment(3, 1, spec, ExperimentState.ACTIVE, 0, 0)


def value(point: Assignments) -> float:
    """To maximise: "good" reaches 1 at x = 0.3, y = 0.7; "poor" at most 0.4; "off" 0.2.
    k matters a little everywhere."""
    k = 0.02 * float(point["k"])
    if point["branch"] == "good":
        return 1 - (float(point["x"]) - 0.3) ** 2 - (float(point["y"]) - 0.7) ** 2 - k
    if point["branch"] == "poor":
        return 0.4 - (float(point["u"]) - 0.5) ** 2 - (0.1 if point["c"] == "p" else 0) - k
    return 0.2 - k


def assigns_only_active(space: SearchSpace, point: Assignments) -> bool:
    """The point is a complete, valid assignment with nothing more."""
    return space.check_assignments(dict(point)) == point


@pytest.mark.parametrize(
    ("make", "type_"),
    [
        (SobolEngine, ExperimentType.OFFLINE),
        (RandomEngine, ExperimentType.RANDOM),
        (GridEngine, ExperimentType.GRID),
    ],
)
def test_sequence_engines_draw_the_conditionals_and_only_active_parameters(
    make: Callable[[], Engine], type_: ExperimentType
) -> None:
    space = SPACE
    if type_ is ExperimentType.GRID:  # a grid needs discrete parameters only
        space = SearchSpace(
            tuple(
                Parameter(p.name, DOUBLE, grid=(0.25, 0.75), conditions=p.conditions)
                if p.type is DOUBLE
                else p
                for p in SPACE.parameters
            ),
            (),
            (BRANCH,),
        )
    engine, target = make(), experiment(space, type_)
    cursor, branches = 0, Counter[str]()
    for _ in range(60):
        proposal = engine.propose(ProposalRequest(target, cursor))
        cursor = proposal.cursor
        (point,) = proposal.points
        assert assigns_only_active(space, point), point
        branches[str(point["branch"])] += 1
    assert set(branches) == {"good", "poor", "off"}


def test_points_that_differ_only_in_inactive_parameters_are_one_point_to_the_model() -> None:
    engine = light_engine()
    run(engine, steps=6)  # the initial design (5 points), then a model's proposal
    fit = engine._last_fit
    assert fit is not None
    encoding = Encoding.of(SPACE)
    base = encoding.encode(
        [{"branch": "off", "k": 2}, {"branch": "good", "x": 0.1, "y": 0.9, "k": 2}]
    )
    moved = base.clone()
    # The inactive columns: x and y of "off"; u and c of "good".
    moved[0, 0], moved[0, 1], moved[1, 2], moved[1, 3] = 0.9, 0.05, 0.77, 2.0
    gp = fit.model.models[0]
    assert isinstance(gp, GPyTorchModel)
    with torch.no_grad():
        assert torch.equal(gp.transform_inputs(base), gp.transform_inputs(moved))
        assert torch.allclose(gp.posterior(base).mean, gp.posterior(moved).mean)
    # ... while an active column still matters.
    active = base.clone()
    active[1, 0] = 0.9
    with torch.no_grad():
        assert not torch.allclose(gp.posterior(base).mean, gp.posterior(active).mean)


def light_engine() -> BoTorchEngine:
    """The real engine with fewer restarts and raw samples than served ones: the test
    machine may be busy."""
    return BoTorchEngine(warm_starts={}, num_restarts=8, raw_samples=256)


def run(engine: BoTorchEngine, steps: int, pool: int = 0) -> list[Observation]:
    """``steps`` proposals of ``engine`` (the optimised point and ``pool`` Thompson
    samples), each point checked and the first observed."""
    target, observations, cursor = experiment(), list[Observation](), 0
    for step in range(steps):
        proposal = engine.propose(ProposalRequest(target, cursor, (), observations, pool=pool))
        cursor = proposal.cursor
        for point in proposal.points:
            assert assigns_only_active(SPACE, point), point
        first = proposal.points[0]
        observations.append(
            Observation(
                step + 1, 3, None, first, (MetricValue("f", value(first)),), False, None, 0
            )
        )
    return observations


def test_the_optimizer_settles_on_the_clearly_better_branch() -> None:
    """After the initial design (5 points), the model's proposals go mostly to "good" and
    never repeat a point (points are told apart by their active parameters only: "off"
    has 4), and the conditional is what the model finds most important."""
    torch.manual_seed(0)
    engine = light_engine()
    observations = run(engine, steps=18, pool=4)
    model_branches = Counter(str(o.assignments["branch"]) for o in observations[5:])
    assert model_branches["good"] >= 10, model_branches
    hashes = [point_hash(o.assignments) for o in observations]
    assert all(hashes[i] not in hashes[:i] for i in range(5, len(hashes)))
    best = max(observations, key=lambda o: o.values[0].value)
    assert best.assignments["branch"] == "good"
    assert best.values[0].value > 0.95
    analysis = engine.analyze()
    assert analysis is not None
    importance = {i.parameter: i.share for i in analysis.metrics[0].importance}
    assert set(importance) == {"x", "y", "u", "c", "k", "branch"}
    assert max(importance, key=importance.__getitem__) == "branch"


def test_linear_constraints_over_parameters_that_always_apply_hold_in_every_branch() -> None:
    """The per-branch searches fix the inactive columns and keep to the constraints."""
    limit = LinearConstraint("less_than", (("a", 1.0), ("b", 1.0)), 1.0)
    space = SearchSpace(
        (
            Parameter("a", DOUBLE, (0.0, 1.0)),
            Parameter("b", DOUBLE, (0.0, 1.0)),
            Parameter("x", DOUBLE, (0.0, 1.0), conditions=GOOD),
        ),
        (limit,),
        (Conditional("branch", ("good", "poor")),),
    )
    target, observations = experiment(space), list[Observation]()
    engine = light_engine()
    for step in range(8):
        proposal = engine.propose(ProposalRequest(target, step, (), observations, count=2))
        for point in proposal.points:
            assert assigns_only_active(space, point), point
        first = proposal.points[0]
        score = float(first["a"]) + 2 * float(first["b"]) + float(first.get("x", 0.0))
        observations.append(
            Observation(step + 1, 3, None, first, (MetricValue("f", score),), False, None, 0)
        )
