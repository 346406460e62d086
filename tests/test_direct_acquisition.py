"""The written-out qLogNEI gives BoTorch's values and gradients: fitted models of both kernels,
learned and known noise, with and without pending points, one and two new points, spaces of
doubles, mixed spaces (an int and a categorical: the model one-hot encodes the category) and
conditional spaces (inactive parameters a constant before the one-hot), and in a search
(real fits, no mocks)."""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Any

import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.optim.optimize import optimize_acqf
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.utils.safe_math import fatmax
from botorch.utils.safe_math import logmeanexp

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Conditional
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.engine.base import ProposalRequest
from honed.engine.botorch import engine as engine_module
from honed.engine.botorch.acquisition import DirectLogNEI
from honed.engine.botorch.acquisition import direct_log_nei
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.engine import LONE_POINT_MC_SAMPLES
from honed.engine.botorch.engine import MAX_ACQUISITION_PENDING
from honed.engine.botorch.engine import BoTorchEngine
from honed.engine.botorch.engine import _acquisition_pending
from honed.engine.botorch.model import fit_outcome

# Relative to 1 + |value|: rounding in a different order of operations.
TOLERANCE = 1e-9

ACTIVE = ExperimentState.ACTIVE
DOUBLE, INT, CATEGORICAL = ParameterType.DOUBLE, ParameterType.INT, ParameterType.CATEGORICAL
#: Two doubles, an int and a categorical: the model has an input transform (the one-hot).
MIXED = SearchSpace(
    (
        Parameter("x0", DOUBLE, (0.0, 1.0)),
        Parameter("x1", DOUBLE, (0.0, 1.0)),
        Parameter("k", INT, (1, 5)),
        Parameter("c", CATEGORICAL, categorical_values=("p", "q", "r")),
    )
)
#: Parameters active on some branches only: inactive columns become constants, then the
#: categorical parameter and the conditional are one-hot (a chained input transform).
BRANCH = Conditional("branch", ("good", "poor", "off"))
CONDITIONAL = SearchSpace(
    (
        Parameter("x", DOUBLE, (0.0, 1.0), conditions=(("branch", ("good",)),)),
        Parameter("y", DOUBLE, (0.0, 1.0), conditions=(("branch", ("good", "poor")),)),
        Parameter("u", DOUBLE, (0.0, 1.0), conditions=(("branch", ("poor",)),)),
        Parameter(
            "c",
            CATEGORICAL,
            categorical_values=("p", "q", "r"),
            conditions=(("branch", ("poor",)),),
        ),
        Parameter("k", INT, (1, 4)),
    ),
    (),
    (BRANCH,),
)


def _first(samples: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
    return samples[..., 0]


def _doubles(d: int) -> SearchSpace:
    return SearchSpace(tuple(Parameter(f"x{i}", DOUBLE, (0.0, 1.0)) for i in range(d)))


def _name(space: SearchSpace) -> str:
    if space is MIXED or space is CONDITIONAL:
        return "mixed" if space is MIXED else "conditional"
    return f"doubles{len(space.parameters)}"


def _points(
    encoding: Encoding, shape: tuple[int, ...], generator: torch.Generator
) -> torch.Tensor:
    """``(*shape, d)`` model-space points: uniform in [0, 1], categorical dimensions (the
    conditionals' too) at a category index, as the optimizers hold them."""
    X = torch.rand(*shape, encoding.dim, generator=generator, dtype=DTYPE)
    for dim, values in encoding.cat_dims.items():
        X[..., dim] = torch.randint(len(values), shape, generator=generator).to(DTYPE)
    return X


def _model(
    space: SearchSpace, n: int, known_noise: bool, seed: int
) -> tuple[ModelListGP, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    encoding = Encoding.of(space)
    X = _points(encoding, (n,), generator)
    noise = 0.05 * torch.randn(n, 1, generator=generator, dtype=DTYPE)
    # (A category's index is a number here: each category shifts the value.)
    Y = torch.sin(6 * X).sum(-1, keepdim=True) + noise
    Yvar = torch.full_like(Y, 0.0025) if known_noise else None
    gp = fit_outcome(encoding, Outcome("f", X, Y, Yvar, n), None)
    return ModelListGP(gp), X


def _pair(
    model: ModelListGP, baseline: torch.Tensor, pending: torch.Tensor | None, seed: int
) -> tuple[qLogNoisyExpectedImprovement, qLogNoisyExpectedImprovement]:
    arguments: dict[str, Any] = {
        "X_baseline": baseline,
        "objective": GenericMCObjective(_first),
        "X_pending": pending,
        "prune_baseline": True,
    }
    # Pruning draws random samples: the same seed gives both the same baseline.
    torch.manual_seed(seed)
    reference = qLogNoisyExpectedImprovement(model, **arguments)
    torch.manual_seed(seed)
    direct = direct_log_nei(model, **arguments)
    assert isinstance(direct, DirectLogNEI)
    return reference, direct


@pytest.mark.parametrize(
    ("space", "n", "known_noise", "pending"),
    [
        (_doubles(2), 6, False, 0),
        (_doubles(3), 15, True, 1),
        (_doubles(6), 40, False, 2),
        (_doubles(10), 80, False, 0),
        (_doubles(3), 30, False, 70),
        (MIXED, 12, False, 0),
        (MIXED, 40, True, 2),
        (MIXED, 30, False, 70),
        (CONDITIONAL, 15, False, 0),
        # Not more points: where one dimension alone is active (the "off" branch) many
        # points make the kernel matrix ill-conditioned, and the two ways round apart by up
        # to 1e-8 relative, as they do on one double at n = 40, which this change left alone.
        (CONDITIONAL, 25, False, 3),
        (CONDITIONAL, 30, True, 70),
    ],
    ids=lambda value: _name(value) if isinstance(value, SearchSpace) else None,
)
def test_values_and_gradients_equal_botorchs(
    space: SearchSpace, n: int, known_noise: bool, pending: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoding = Encoding.of(space)
    model, X = _model(space, n, known_noise, seed=len(space.parameters))
    # Spaces with categories have an input transform (which BoTorch's path served alone).
    assert (getattr(model.models[0], "input_transform", None) is not None) == bool(
        encoding.cat_dims
    )
    generator = torch.Generator().manual_seed(n)
    pending_points = _points(encoding, (pending,), generator) if pending else None
    reference, direct = _pair(model, X, pending_points, seed=n)
    # Which acquisition each evaluation went BoTorch's way for, and with how many points.
    botorchs: list[object] = []
    batches: list[int] = []
    botorch_samples = qLogNoisyExpectedImprovement._get_samples_and_objectives

    def spy(self: qLogNoisyExpectedImprovement, X: torch.Tensor) -> Any:
        botorchs.append(self)
        if self is direct:
            batches.append(X.shape[:-2].numel())
        return botorch_samples(self, X)

    monkeypatch.setattr(qLogNoisyExpectedImprovement, "_get_samples_and_objectives", spy)
    for q in (1, 2, 1):
        # The first call per q goes BoTorch's way for one of its points (that sets the
        # base samples up), then all of them are written out; the second call only that.
        for _ in range(2):
            points = _points(encoding, (16, q), generator)
            a, b = points.clone().requires_grad_(True), points.clone().requires_grad_(True)
            expected, actual = reference(a), direct(b)
            expected.sum().backward()
            actual.sum().backward()
            assert a.grad is not None
            assert b.grad is not None
            assert torch.allclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE)
            assert torch.allclose(b.grad, a.grad, rtol=TOLERANCE, atol=TOLERANCE)
    # The written-out samples served every evaluation; BoTorch's way saw one point of each
    # first batch per q: its joint posterior of a whole batch of raw samples with the
    # baseline cost seconds at hundreds of observations.
    assert sum(each is direct for each in botorchs) == 3
    assert batches == [1, 1, 1]
    assert sum(each is reference for each in botorchs) == 6


def test_a_new_pending_point_changes_the_direct_values_as_botorchs() -> None:
    model, X = _model(_doubles(4), 20, False, seed=1)
    reference, direct = _pair(model, X, None, seed=2)
    points = torch.rand(8, 1, 4, generator=torch.Generator().manual_seed(3), dtype=DTYPE)
    before = direct(points).detach()
    # Beside the best of the points, not on it (a point's variance given itself is 0).
    best = (points[before.argmax()].reshape(1, 4) + 0.01).clamp(max=1.0)
    for acquisition in (reference, direct):
        acquisition.set_X_pending(best)
    reference(points), direct(points)  # new base samples for the new baseline
    after = direct(points).detach()
    assert torch.allclose(after, reference(points).detach(), rtol=TOLERANCE, atol=TOLERANCE)
    # Beside the pending point the improvement is (almost) gone.
    assert after[before.argmax()] < before.max() - 1


def test_a_gp_in_training_mode_gets_botorchs_values() -> None:
    """In training mode a GP holds its raw training inputs and its transform follows
    ``transform_on_train``; BoTorch's posterior sets eval mode first, and so does the
    written-out one (or it lets BoTorch's path serve that call)."""
    model, X = _model(MIXED, 12, False, seed=4)
    encoding = Encoding.of(MIXED)
    arguments: dict[str, Any] = {
        "X_baseline": X,
        "objective": GenericMCObjective(_first),
        "prune_baseline": True,
    }
    torch.manual_seed(1)
    reference = qLogNoisyExpectedImprovement(model, **arguments)
    model.train()
    torch.manual_seed(1)
    direct = direct_log_nei(model, **arguments)
    assert isinstance(direct, DirectLogNEI)
    generator = torch.Generator().manual_seed(2)
    for turn in range(4):
        if turn == 2:
            model.train()
        points = _points(encoding, (8, 1), generator)
        with torch.no_grad():
            actual = direct(points)  # first: it sees the GP in training mode
            expected = reference(points)
        assert torch.allclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE)


def test_the_search_finds_botorchs_candidate() -> None:
    model, X = _model(_doubles(3), 12, False, seed=5)
    candidates = []
    for index in range(2):
        acquisition = _pair(model, X, None, seed=6)[index]
        torch.manual_seed(7)
        candidate, _ = optimize_acqf(
            acquisition,
            bounds=torch.tensor([[0.0] * 3, [1.0] * 3], dtype=DTYPE),
            q=1,
            num_restarts=4,
            raw_samples=64,
        )
        candidates.append(candidate)
    assert torch.allclose(candidates[0], candidates[1], atol=1e-6)


@pytest.mark.parametrize("space", [MIXED, CONDITIONAL], ids=_name)
def test_the_mixed_search_finds_botorchs_candidate(space: SearchSpace) -> None:
    """The engine's optimizer for spaces with discrete dimensions, over both
    acquisitions: the same candidate, and the same value there."""
    encoding = Encoding.of(space)
    model, X = _model(space, 20, False, seed=8)
    pending = _points(encoding, (2,), torch.Generator().manual_seed(9))
    pair = _pair(model, X, pending, seed=10)
    candidates = []
    for acquisition in pair:
        torch.manual_seed(11)
        with warnings.catch_warnings():
            # As the engine: L-BFGS-B's ABNORMAL ends of some restarts are routine.
            warnings.simplefilter("ignore", RuntimeWarning)
            candidate, _ = optimize_acqf_mixed_alternating(
                acquisition,
                bounds=encoding.bounds(),
                discrete_dims={d: list(v) for d, v in encoding.discrete_dims.items()},
                cat_dims={d: list(v) for d, v in encoding.cat_dims.items()},
                q=1,
                num_restarts=1,
                raw_samples=16,
                options={"maxiter_alternating": 16},
            )
        candidates.append(candidate)
    assert torch.allclose(candidates[0], candidates[1], atol=1e-6)
    with torch.no_grad():
        values = [acquisition(candidates[0].unsqueeze(0)) for acquisition in pair]
    assert torch.allclose(values[1], values[0], rtol=TOLERANCE, atol=TOLERANCE)


def test_models_it_does_not_cover_get_botorchs_acquisition() -> None:
    model, X = _model(_doubles(2), 8, False, seed=0)
    gp: Any = model.models[0]
    two_outcomes = ModelListGP(gp, gp)
    acquisition = direct_log_nei(
        two_outcomes, X_baseline=X, objective=GenericMCObjective(_first), prune_baseline=True
    )
    assert type(acquisition) is qLogNoisyExpectedImprovement


def test_many_pending_points_are_cut_to_those_the_model_rates_best() -> None:
    """A thousand workers in flight: the acquisition conditions on the pending points a
    new point has to beat, not on every one (each is a column of every joint draw)."""
    model, _ = _model(_doubles(1), 12, False, seed=3)
    generator = torch.Generator().manual_seed(4)
    few = torch.rand(MAX_ACQUISITION_PENDING, 1, generator=generator, dtype=DTYPE)
    assert _acquisition_pending(model, 1, few) is few
    many = torch.rand(300, 1, generator=generator, dtype=DTYPE)
    kept = _acquisition_pending(model, 1, many)
    assert kept is not None
    assert kept.shape == (MAX_ACQUISITION_PENDING, 1)
    with torch.no_grad():
        means = model.posterior(many).mean[:, 0]
        kept_means = model.posterior(kept).mean[:, 0]
    best = torch.sort(means, descending=True).values[:MAX_ACQUISITION_PENDING]
    assert torch.allclose(torch.sort(kept_means, descending=True).values, best)


def test_with_two_objectives_the_cut_takes_each_objectives_best_in_turn() -> None:
    """Two objectives: each one's best pending points, alternately, up to the cap (not the
    points that happen to come first)."""
    first, _ = _model(_doubles(1), 12, False, seed=3)
    second, _ = _model(_doubles(1), 12, False, seed=5)
    model = ModelListGP(*first.models, *second.models)
    # A draw where the last turn passes the cap (65 points before the cut).
    many = torch.rand(300, 1, generator=torch.Generator().manual_seed(7), dtype=DTYPE)
    kept = _acquisition_pending(model, 2, many)
    assert kept is not None
    assert kept.shape == (MAX_ACQUISITION_PENDING, 1)
    with torch.no_grad():
        means = model.posterior(many).mean
    # Half the cap from each objective, but for the last turn, which the cap may cut.
    top = MAX_ACQUISITION_PENDING // 2 - 1
    best_of_each = {
        float(many[i, 0])
        for column in range(2)
        for i in torch.argsort(means[:, column], descending=True)[:top].tolist()
    }
    assert best_of_each <= {float(x) for x in kept[:, 0]}


@pytest.mark.parametrize(
    ("count", "pending", "samples"),
    [(1, 0, LONE_POINT_MC_SAMPLES), (1, 1, 512), (2, 0, 512)],
    ids=["lone point", "one pending", "two points"],
)
def test_only_a_lone_point_is_searched_on_fewer_mc_samples(
    count: int, pending: int, samples: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request of one point with nothing pending: LONE_POINT_MC_SAMPLES. A joint draw of
    several points (a batch, pending points) keeps BoTorch's 512: with fewer, batches of four
    landed in Styblinski-Tang4's worse basins more often."""
    space = _doubles(2)
    target = Experiment(
        1, 1, ExperimentSpec("mc", space, (Metric("f", Objective.MAXIMIZE),)), ACTIVE, 0, 0
    )
    rows = torch.rand(8, 2, generator=torch.Generator().manual_seed(4), dtype=DTYPE).tolist()
    observations = [
        Observation(i + 1, 1, None, {"x0": a, "x1": b}, (MetricValue("f", a - b),), False, None, 0)
        for i, (a, b) in enumerate(rows)
    ]
    open_points = [{"x0": 0.5, "x1": 0.25}][:pending]
    shapes: list[int] = []

    def spy(model: ModelListGP, **kwargs: Any) -> qLogNoisyExpectedImprovement:
        acquisition = direct_log_nei(model, **kwargs)
        shapes.append(acquisition.sample_shape.numel())
        return acquisition

    monkeypatch.setattr(engine_module, "direct_log_nei", spy)
    engine = BoTorchEngine(num_restarts=2, raw_samples=32)
    engine.propose(ProposalRequest(target, 0, open_points, observations, count))
    assert shapes == [samples]


@pytest.mark.parametrize("infinite", [False, True])
def test_the_reductions_are_botorchs(infinite: bool) -> None:
    """The shortened reductions over q and over the MC samples give BoTorch's values and
    gradients, with and without a value at -inf (where BoTorch's own form takes over)."""
    generator = torch.Generator().manual_seed(15)
    values = torch.randn(16, 5, 1, generator=generator, dtype=DTYPE)
    if infinite:
        values[3, 2, 0] = -math.inf
    acquisition = _pair(*_model(_doubles(2), 8, False, seed=16), None, seed=17)[1]
    reference_q = partial(fatmax, tau=acquisition.tau_max, dim=-1)
    results = []
    for reduce_q, reduce_samples in (
        (acquisition._q_reduction, acquisition._sample_reduction),
        (reference_q, partial(logmeanexp, dim=(0,))),
    ):
        X = values.clone().requires_grad_(True)
        value = reduce_samples(reduce_q(X))
        (gradient,) = torch.autograd.grad(value.sum(), X)
        results.append((value, gradient))
    (value, gradient), (expected, expected_gradient) = results
    assert torch.allclose(value, expected, rtol=TOLERANCE, atol=TOLERANCE)
    assert torch.allclose(gradient, expected_gradient, rtol=TOLERANCE, atol=TOLERANCE)
