"""Grid search: every point of a discrete space once, in a fixed order, then again."""

from __future__ import annotations

from honed.engine.base import Engine
from honed.engine.base import Proposal
from honed.engine.base import ProposalRequest
from honed.engine.space import point_at_index
from honed.engine.space import satisfies_constraints


class GridEngine(Engine):
    """Walks the grid in mixed-radix order; the cursor is the next index (modulo the size)."""

    def propose(self, request: ProposalRequest) -> Proposal:
        space = request.experiment.spec.space
        size = space.discrete_size()
        if size is None:
            raise ValueError("a grid experiment needs a discrete search space")
        points = []
        cursor = request.cursor
        for _ in range(size):
            point = point_at_index(space, cursor % size)
            cursor += 1
            if satisfies_constraints(space, point):
                points.append(point)
                if len(points) == request.count:
                    break
        return Proposal(points=points, cursor=cursor)
