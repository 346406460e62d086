"""Refits start from the last fit's hyperparameters; a bad starting point must not cost the
model its fit (real BoTorch fits, a few points in 3 dimensions)."""

from __future__ import annotations

import math

import torch

from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.model import KERNELS
from honed.engine.botorch.model import Fitted
from honed.engine.botorch.model import WarmStart
from honed.engine.botorch.model import fit_outcome
from honed.engine.botorch.model import log_likelihood

SPACE = SearchSpace(
    parameters=tuple(Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(3))
)


def data(points: int) -> Outcome:
    X = torch.rand(30, 3, generator=torch.Generator().manual_seed(0), dtype=DTYPE)[:points]
    Y = torch.sin(8 * X[:, :1]) + 0.1 * X[:, 1:2]  # one short lengthscale, two long
    return Outcome("f", X, Y, None, observed=points)


def warm_start_at(lengthscale: float, noise: float) -> WarmStart:
    """The hyperparameters of a fit on 29 points, moved to ``lengthscale`` and ``noise``."""
    warm: WarmStart = {}
    fit_outcome(Encoding.of(SPACE), data(29), warm)
    fitted = warm["f"]
    moved = {kernel: dict(values) for kernel, values in fitted.hyperparameters.items()}
    assert set(moved) == set(KERNELS)
    for hyperparameters in moved.values():
        for suffix, value in {".raw_lengthscale": lengthscale, ".raw_noise": noise}.items():
            (name,) = [n for n in hyperparameters if n.endswith(suffix)]
            raw = math.log(math.expm1(value))  # the inverse of the softplus constraint
            hyperparameters[name] = torch.full_like(hyperparameters[name], raw)
    return {"f": Fitted(moved, observations=29, kernel=fitted.kernel)}


def test_a_refit_is_as_good_as_a_fit_without_history() -> None:
    """From a flat, all-noise start (lengthscales 300, noise 5) a warm-only refit stayed
    there: a log likelihood of -1.68 per point, where a fit without history reaches 1.44."""
    encoding = Encoding.of(SPACE)
    fresh = log_likelihood(fit_outcome(encoding, data(30), None))
    warm = warm_start_at(lengthscale=300.0, noise=5.0)
    refitted = log_likelihood(fit_outcome(encoding, data(30), warm))
    assert refitted >= fresh - 1e-3
    assert warm["f"].observations == 30
