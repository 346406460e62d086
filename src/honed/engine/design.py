"""How many quasi-random points come before the first model (torch-free, for the API)."""

from __future__ import annotations

from honed.domain.experiment import ExperimentSpec

# A GP with BoTorch's dimension-scaled lengthscale prior is useful after a handful of
# points; every point more of the design is an evaluation the model did not choose. With
# twice the number of parameters (at most 20), 10 seeds of benchmarks/quality.py lost to
# Ax (5 initial points) on 10 of 12 problems and budgets, most at 30 evaluations.
SMALLEST = 5
LARGEST = 10


def initial_design_size(spec: ExperimentSpec) -> int:
    """Half the number of parameters, at least 5 and at most 10 successful observations."""
    return max(SMALLEST, min((len(spec.space.parameters) + 1) // 2, LARGEST))
