"""Scrambled Sobol' points (SciPy QMC), one per request, in a sequence fixed per experiment."""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict

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
# Samplers kept warm in this process; scrambling a new one costs more than a whole request.
CACHED_SAMPLERS = 256


class _SamplerCache:
    """Samplers by (experiment, dimension), each with the index of its next point."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int], tuple[qmc.Sobol, int]] = OrderedDict()

    def take(self, experiment_id: int, dimension: int, cursor: int) -> qmc.Sobol:
        with self._lock:
            entry = self._entries.pop((experiment_id, dimension), None)
        if entry is not None and entry[1] == cursor:
            return entry[0]
        sampler = qmc.Sobol(dimension, scramble=True, rng=np.random.default_rng(experiment_id))
        if cursor:
            sampler.fast_forward(cursor)
        return sampler

    def put(self, experiment_id: int, dimension: int, sampler: qmc.Sobol, cursor: int) -> None:
        with self._lock:
            self._entries[(experiment_id, dimension)] = (sampler, cursor)
            while len(self._entries) > CACHED_SAMPLERS:
                self._entries.popitem(last=False)


_samplers = _SamplerCache()


class SobolEngine(Engine):
    """The next points of the experiment's own scrambled Sobol' sequence.

    The sequence is seeded by the experiment id and indexed by the cursor, so every server
    process that shares a database walks the same sequence without repeating a point.
    Points that break a linear constraint are skipped.
    """

    def propose(self, request: ProposalRequest) -> Proposal:
        space = request.experiment.spec.space
        dimension = len(space.parameters)
        sampler = _samplers.take(request.experiment.id, dimension, request.cursor)
        points: list[dict[str, AssignmentValue]] = []
        cursor = request.cursor
        batch = max(request.count, 1) if not space.linear_constraints else 64
        with warnings.catch_warnings():
            # Balance needs powers of two; we hand out points one at a time on purpose.
            warnings.simplefilter("ignore", UserWarning)
            while len(points) < request.count and cursor - request.cursor < MAX_SCAN:
                rows = np.asarray(sampler.random(batch), dtype=np.float64)
                for offset, row in enumerate(rows):
                    point = point_from_unit(space, row)
                    if satisfies_constraints(space, point):
                        points.append(point)
                        if len(points) == request.count:
                            cursor += offset + 1
                            break
                else:
                    cursor += len(rows)
                    continue
                break
        # The sampler has moved past every row drawn; keep it only if that equals the cursor.
        _samplers.put(request.experiment.id, dimension, sampler, sampler.num_generated)
        return Proposal(points=points, cursor=cursor)
