"""Uniformly random points, for ``type: random`` experiments and as a last-resort fallback."""

from __future__ import annotations

import numpy as np

from honed.engine.base import Engine
from honed.engine.base import Proposal
from honed.engine.base import ProposalRequest
from honed.engine.space import point_from_unit
from honed.engine.space import satisfies_constraints
from honed.engine.space import unit_dimension

MAX_DRAWS = 4096


class RandomEngine(Engine):
    """Independent uniform draws (documented as random: the same request differs each time)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def propose(self, request: ProposalRequest) -> Proposal:
        space = request.experiment.spec.space
        points = []
        for _ in range(MAX_DRAWS):
            point = point_from_unit(space, self._rng.random(unit_dimension(space)))
            if satisfies_constraints(space, point):
                points.append(point)
                if len(points) == request.count:
                    break
        return Proposal(points=points, cursor=request.cursor + 1)
