"""How many quasi-random points come before the first model (torch-free, for the API)."""

from __future__ import annotations

from honed.domain.experiment import ExperimentSpec


def initial_design_size(spec: ExperimentSpec) -> int:
    """Twice the number of parameters, at least 5 and at most 20 successful observations."""
    return max(5, min(2 * len(spec.space.parameters), 20))
