"""How many quasi-random points come before the first model (torch-free, for the API)."""

from __future__ import annotations

from honed.domain.experiment import ExperimentSpec

# A GP with BoTorch's dimension-scaled lengthscale prior is useful after a handful of
# points; every point more of the design is an evaluation the model did not choose. With
# twice the number of parameters (at most 20), 10 seeds of benchmarks/quality.py lost to
# Ax (5 initial points) on 10 of 12 problems and budgets, most at 30 evaluations.
SMALLEST = 5
LARGEST = 10
# With workers in parallel the model takes over once the design is handed out and half of
# it, at least this many points, is observed (as Ax does), not only once all of it is: else
# every worker beyond the design got one more quasi-random point (8 workers on Hartmann6:
# 12 instead of 9; median regret after 60 evaluations 0.042 against 0.13, 10 seeds).
SMALLEST_OBSERVED = 2


def initial_design_size(spec: ExperimentSpec) -> int:
    """Half the number of parameters, at least 5 and at most 10 successful observations."""
    return max(SMALLEST, min((len(spec.space.parameters) + 1) // 2, LARGEST))


def model_ready(spec: ExperimentSpec, successes: int, pending: int) -> bool:
    """Whether the model proposes the next point: the design is observed, or it is handed
    out (observed or pending) and half of it, at least SMALLEST_OBSERVED points, is in."""
    design = initial_design_size(spec)
    if successes >= design:
        return True
    return successes + pending >= design and successes >= max(SMALLEST_OBSERVED, design // 2)
