"""Multisolution: where a proposal looks when an experiment wants several good, diverse
solutions (``num_solutions`` > 1).

Proposals take turns by the number of points observed and pending. Turn 0 searches the
whole space, as for one solution, which mostly refines the best basin. Turn ``j`` works on
the ``j``-th best diverse solution found so far (``honed.domain.ranking.diverse_best``), as
a trust region: it searches a box around it, with its categories fixed, and with the ``j``
better solutions counted as pending points, so that the acquisition, which expects nothing
from a point beside a pending one, climbs this solution's basin rather than towards a
better one. When fewer than ``j + 1`` solutions are found, it searches the whole space with
all of them pending, for another basin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

import torch

from honed.domain.experiment import ExperimentSpec
from honed.domain.ranking import SOLUTION_RADIUS
from honed.domain.ranking import best_observations
from honed.domain.records import Observation
from honed.engine.botorch.encoding import Encoding


@dataclass(frozen=True)
class Focus:
    """Where one proposal's first candidate is searched: within ``box: (2, d)`` (None: the
    whole space) with the ``fixed`` dimensions at their values, and with ``avoid: (j, d)``
    pending."""

    avoid: torch.Tensor
    box: torch.Tensor | None = None
    fixed: dict[int, float] = field(default_factory=dict)


def focus(
    spec: ExperimentSpec, encoding: Encoding, observations: Sequence[Observation], pending: int
) -> Focus | None:
    """This proposal's turn; None: the whole space (one solution wanted, turn 0, or no
    solution found yet)."""
    wanted = spec.solutions
    if wanted < 2 or len(spec.optimized_metrics) != 1:
        return None
    turn = (sum(not o.deleted for o in observations) + pending) % wanted
    found = best_observations(spec, observations)
    if turn == 0 or not found:
        return None
    better = encoding.encode([o.assignments for o in found[:turn]])
    if turn >= len(found):
        return Focus(avoid=better)
    return _trust_region(encoding, encoding.encode([found[turn].assignments])[0], better)


def _trust_region(encoding: Encoding, center: torch.Tensor, avoid: torch.Tensor) -> Focus:
    """A box of SOLUTION_RADIUS on each side of ``center: (d,)`` in every numeric
    dimension; its categories, conditionals' values, and the parameters they leave
    inactive fixed at ``center``'s."""
    bounds = encoding.bounds()
    box = bounds.clone()
    fixed: dict[int, float] = {}
    for dim in range(encoding.dim):
        value = float(center[dim])
        low = max(float(bounds[0, dim]), value - SOLUTION_RADIUS)
        high = min(float(bounds[1, dim]), value + SOLUTION_RADIUS)
        # An integer with no other value in the box is fixed too: the mixed optimizer
        # searches an integer's values, and has none to choose from.
        allowed = encoding.discrete_dims.get(dim, (low, high))
        alone = sum(low <= v <= high for v in allowed) < 2
        if dim in encoding.cat_dims or alone or not encoding.is_active(dim, center):
            fixed[dim] = value
        else:
            box[0, dim], box[1, dim] = low, high
    return Focus(avoid=avoid, box=box, fixed=fixed)
