"""How many quasi-random points come before the first model (torch-free, for the API)."""

from __future__ import annotations

from honed.domain.experiment import ExperimentSpec

# A GP with BoTorch's dimension-scaled lengthscale prior is useful after a handful of
# points; every point more of the design is an evaluation the model did not choose
# (docs/decisions.md: Initial design: half the parameters, 5 to 10 points).
SMALLEST = 5
LARGEST = 10
# With workers in parallel the model takes over once the design is handed out and half of
# it, at least this many points, is observed (as Ax does): else every worker beyond the
# design gets one more quasi-random point (docs/decisions.md: With parallel workers the
# model takes over once half the design is observed).
SMALLEST_OBSERVED = 2
# Multitask: the design cycles through the tasks (honed.engine.tasks), at least this many
# points of each, so that a multi-fidelity model sees every task at several points.
POINTS_PER_TASK = 2


def initial_design_size(spec: ExperimentSpec) -> int:
    """Half the number of parameters (conditionals count as parameters), at least 5 and at
    most 10 successful observations; for a multitask experiment at least POINTS_PER_TASK
    per task."""
    dimensions = len(spec.space.parameters) + len(spec.space.conditionals)
    size = max(SMALLEST, min((dimensions + 1) // 2, LARGEST))
    return max(size, POINTS_PER_TASK * len(spec.tasks))


def model_ready(spec: ExperimentSpec, successes: int, pending: int) -> bool:
    """Whether the model proposes the next point: the design is observed, or it is handed
    out (observed or pending) and half of it, at least SMALLEST_OBSERVED points, is in."""
    design = initial_design_size(spec)
    if successes >= design:
        return True
    return successes + pending >= design and successes >= max(SMALLEST_OBSERVED, design // 2)
