"""Starting points for the acquisition optimizer under linear constraints."""

from __future__ import annotations

import torch

from honed.engine.botorch.feasible import FeasibleSampler
from honed.engine.botorch.feasible import feasible

UNIT_SQUARE = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)


def at_most(total: float) -> tuple[torch.Tensor, torch.Tensor, float]:
    """x0 + x1 <= total, in BoTorch's ``sum(c * x) >= rhs`` form."""
    return (torch.tensor([0, 1]), torch.tensor([-1.0, -1.0], dtype=torch.float64), -total)


def test_samples_are_uniform_on_the_feasible_part_of_the_box() -> None:
    sampler = FeasibleSampler(UNIT_SQUARE, [at_most(1.0)])
    samples = sampler(512, 2, 0)
    assert samples.shape == (512, 2, 2)
    points = samples.reshape(-1, 2)
    assert bool(feasible(points, [at_most(1.0)]).all())
    # The triangle below x0 + x1 = 1: centroid (1/3, 1/3), a quarter of it below 0.5 in all.
    assert torch.allclose(points.mean(dim=0), torch.tensor([1 / 3, 1 / 3]).double(), atol=0.02)
    below = (points.sum(dim=-1) <= 0.5).double().mean()
    assert abs(float(below) - 0.25) < 0.03


def test_a_small_feasible_corner_is_made_up_by_the_polytope_sampler() -> None:
    """x0 + x1 >= 1.9 keeps 0.5% of the square: rejection alone finds too few."""
    corner = (torch.tensor([0, 1]), torch.tensor([1.0, 1.0], dtype=torch.float64), 1.9)
    samples = FeasibleSampler(UNIT_SQUARE, [corner])(64, 1, 0).reshape(-1, 2)
    assert samples.shape == (64, 2)
    assert bool(feasible(samples, [corner]).all())
    assert bool(((samples >= 0) & (samples <= 1)).all())
    assert len({tuple(p) for p in samples.tolist()}) == 64


def test_every_constraint_is_met() -> None:
    also = (torch.tensor([0]), torch.tensor([1.0], dtype=torch.float64), 0.2)  # x0 >= 0.2
    points = FeasibleSampler(UNIT_SQUARE, [at_most(1.0), also])(256, 1, 1).reshape(-1, 2)
    assert bool(feasible(points, [at_most(1.0), also]).all())
    assert float(points[:, 0].min()) >= 0.2
