"""Raw samples for the acquisition optimizer's starting points under linear constraints.

BoTorch draws them with its hit-and-run polytope sampler, a Python loop of thousands of
steps that was most of a constrained candidate's time. Rejection from scrambled Sobol'
points is vectorized and exactly uniform on the feasible set; the sampler only makes up
the shortfall when the constraints leave a small part of the box (docs/decisions.md:
Starting points under linear constraints: Sobol points that meet them).
"""

from __future__ import annotations

import torch
from botorch.optim.initializers import sample_q_batches_from_polytope
from botorch.utils.sampling import draw_sobol_samples

from honed.engine.botorch.encoding import LinearConstraints

# Box points drawn per wanted sample: enough when an eighth of the box or more is feasible.
OVERSAMPLING = 8
# BoTorch's defaults, for the shortfall.
BURN_IN = 10_000
THINNING = 32


def feasible(
    X: torch.Tensor, constraints: LinearConstraints, tolerance: float = 0.0
) -> torch.Tensor:
    """``(n,)`` bool: which rows of ``X: (n, d)`` meet every
    ``sum(c * x[i]) >= rhs - tolerance``."""
    ok = torch.ones(X.shape[0], dtype=torch.bool)
    for indices, coefficients, rhs in constraints:
        ok &= (X[:, indices] * coefficients).sum(dim=-1) >= rhs - tolerance
    return ok


class FeasibleSampler:
    """A ``generator`` for BoTorch's ``gen_batch_initial_conditions``: ``(n, q, seed)`` to
    ``(n, q, d)`` points within ``bounds: (2, d)`` that meet ``constraints``
    (inequalities within one point)."""

    def __init__(self, bounds: torch.Tensor, constraints: LinearConstraints) -> None:
        self._bounds = bounds
        self._constraints = constraints

    def __call__(self, n: int, q: int, seed: int | None) -> torch.Tensor:
        wanted = n * q
        box = draw_sobol_samples(self._bounds, n=wanted * OVERSAMPLING, q=1, seed=seed)
        box = box.squeeze(-2)
        found = box[feasible(box, self._constraints)][:wanted]
        missing = wanted - found.shape[0]
        if missing > 0:
            more = sample_q_batches_from_polytope(
                n=missing,
                q=1,
                bounds=self._bounds,
                n_burnin=BURN_IN,
                n_thinning=THINNING,
                seed=seed,
                inequality_constraints=self._constraints,
            )
            found = torch.cat([found, more.reshape(missing, -1).to(found)])
        # Sobol' order is not random: shuffle before the rows become q-batches.
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        order = torch.randperm(wanted, generator=generator)
        return found[order].reshape(n, q, -1)
