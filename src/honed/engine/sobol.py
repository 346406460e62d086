"""Scrambled Sobol' points (SciPy QMC), one per request, in a sequence fixed per experiment."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

from honed.domain.parameters import AssignmentValue
from honed.engine.base import Engine
from honed.engine.base import Proposal
from honed.engine.base import ProposalRequest
from honed.engine.space import point_from_unit
from honed.engine.space import satisfies_constraints

# How many sequence points to scan for ones that meet the linear constraints.
MAX_SCAN = 4096


class SobolEngine(Engine):
    """The next points of the experiment's own scrambled Sobol' sequence.

    The sequence is seeded by the experiment id and indexed by the cursor, so every server
    process that shares a database walks the same sequence without repeating a point.
    Points that break a linear constraint are skipped.
    """

    def propose(self, request: ProposalRequest) -> Proposal:
        space = request.experiment.spec.space
        sampler = qmc.Sobol(len(space.parameters), scramble=True, seed=request.experiment.id)
        with warnings.catch_warnings():
            # Balance needs powers of two; we hand out points one at a time on purpose.
            warnings.simplefilter("ignore", UserWarning)
            if request.cursor:
                sampler.fast_forward(request.cursor)
            points: list[dict[str, AssignmentValue]] = []
            cursor = request.cursor
            batch = max(request.count, 1) if not space.linear_constraints else 64
            while len(points) < request.count and cursor - request.cursor < MAX_SCAN:
                for row in np.asarray(sampler.random(batch), dtype=np.float64):
                    cursor += 1
                    point = point_from_unit(space, row)
                    if satisfies_constraints(space, point):
                        points.append(point)
                        if len(points) == request.count:
                            break
        return Proposal(points=points, cursor=cursor)
