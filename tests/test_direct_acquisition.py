"""The written-out qLogNEI gives BoTorch's values and gradients: fitted models of both kernels,
learned and known noise, with and without pending points, one and two new points, and in a
search (real fits, no mocks)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.optim.optimize import optimize_acqf

from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.engine.botorch.acquisition import DirectLogNEI
from honed.engine.botorch.acquisition import direct_log_nei
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.engine import MAX_ACQUISITION_PENDING
from honed.engine.botorch.engine import _acquisition_pending
from honed.engine.botorch.model import fit_outcome

# Relative to 1 + |value|: rounding in a different order of operations.
TOLERANCE = 1e-9


def _first(samples: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
    return samples[..., 0]


def _model(d: int, n: int, known_noise: bool, seed: int) -> tuple[ModelListGP, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    space = SearchSpace(
        tuple(Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(d))
    )
    X = torch.rand(n, d, generator=generator, dtype=DTYPE)
    noise = 0.05 * torch.randn(n, 1, generator=generator, dtype=DTYPE)
    Y = torch.sin(6 * X).sum(-1, keepdim=True) + noise
    Yvar = torch.full_like(Y, 0.0025) if known_noise else None
    gp = fit_outcome(Encoding.of(space), Outcome("f", X, Y, Yvar, n), None)
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
    ("d", "n", "known_noise", "pending"),
    [
        (2, 6, False, 0),
        (3, 15, True, 1),
        (6, 40, False, 2),
        (10, 80, False, 0),
        (3, 30, False, 70),
    ],
)
def test_values_and_gradients_equal_botorchs(
    d: int, n: int, known_noise: bool, pending: int
) -> None:
    model, X = _model(d, n, known_noise, seed=d)
    generator = torch.Generator().manual_seed(n)
    pending_points = torch.rand(pending, d, generator=generator, dtype=DTYPE) if pending else None
    reference, direct = _pair(model, X, pending_points, seed=n)
    for q in (1, 2, 1):
        # The first call per q goes BoTorch's way (it sets the base samples up); the
        # second is the written-out one.
        for _ in range(2):
            points = torch.rand(16, q, d, generator=generator, dtype=DTYPE)
            a, b = points.clone().requires_grad_(True), points.clone().requires_grad_(True)
            expected, actual = reference(a), direct(b)
            expected.sum().backward()
            actual.sum().backward()
            assert a.grad is not None
            assert b.grad is not None
            assert torch.allclose(actual, expected, rtol=TOLERANCE, atol=TOLERANCE)
            assert torch.allclose(b.grad, a.grad, rtol=TOLERANCE, atol=TOLERANCE)


def test_a_new_pending_point_changes_the_direct_values_as_botorchs() -> None:
    model, X = _model(4, 20, False, seed=1)
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


def test_the_search_finds_botorchs_candidate() -> None:
    model, X = _model(3, 12, False, seed=5)
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


def test_models_it_does_not_cover_get_botorchs_acquisition() -> None:
    model, X = _model(2, 8, False, seed=0)
    gp: Any = model.models[0]
    two_outcomes = ModelListGP(gp, gp)
    acquisition = direct_log_nei(
        two_outcomes, X_baseline=X, objective=GenericMCObjective(_first), prune_baseline=True
    )
    assert type(acquisition) is qLogNoisyExpectedImprovement


def test_many_pending_points_are_cut_to_those_the_model_rates_best() -> None:
    """A thousand workers in flight: the acquisition conditions on the pending points a
    new point has to beat, not on every one (each is a column of every joint draw)."""
    model, _ = _model(1, 12, False, seed=3)
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
    first, _ = _model(1, 12, False, seed=3)
    second, _ = _model(1, 12, False, seed=5)
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
