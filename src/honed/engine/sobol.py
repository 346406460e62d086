"""Scrambled Sobol' points (SciPy QMC), one per request, in a sequence fixed per experiment."""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import qmc

from honed.domain.parameters import AssignmentValue
from honed.engine.base import Engine
from honed.engine.base import Proposal
from honed.engine.base import ProposalRequest
from honed.engine.space import point_from_unit
from honed.engine.space import satisfies_constraints
from honed.engine.space import unit_dimension

# How many sequence points to scan for ones that meet the linear constraints.
MAX_SCAN = 4096
# Sequences kept warm in this process; scrambling a new one costs more than a whole request.
CACHED_SEQUENCES = 256
# Points computed ahead per sequence. Server processes sharing a database take turns
# along one sequence, so each process's next point is rarely the one after its last: a
# block serves them all, where a sampler had to be moved (or made anew) on most requests.
BLOCK = 64


@dataclass
class _Sequence:
    sampler: qmc.Sobol
    start: int  # the index of rows[0]
    rows: np.ndarray[Any, np.dtype[np.float64]]


class _SequenceCache:
    """Each experiment's scrambled sequence (by dimension), with a block of its points."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int], _Sequence] = OrderedDict()

    def rows(
        self, experiment_id: int, dimension: int, start: int, count: int
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        """Points ``start`` to ``start + count - 1`` of the experiment's sequence."""
        key = (experiment_id, dimension)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.start <= start:
                offset = start - entry.start
                if offset + count <= len(entry.rows):
                    self._entries.move_to_end(key)
                    return entry.rows[offset : offset + count]
            # Only this thread moves the sampler: others make their own meanwhile.
            self._entries.pop(key, None)
        sampler = entry.sampler if entry is not None else _new_sampler(experiment_id, dimension)
        if sampler.num_generated > start:
            sampler.reset()  # back to index 0, scrambling kept
        with warnings.catch_warnings():
            # Balance needs powers of two; we hand out points one at a time on purpose.
            warnings.simplefilter("ignore", UserWarning)
            if start > sampler.num_generated:  # SciPy refuses a step of 0
                sampler.fast_forward(start - sampler.num_generated)
            rows = np.asarray(sampler.random(max(count, BLOCK)), dtype=np.float64)
        rows.setflags(write=False)
        with self._lock:
            self._entries[key] = _Sequence(sampler, start, rows)
            while len(self._entries) > CACHED_SEQUENCES:
                self._entries.popitem(last=False)
        return rows[:count]


def _new_sampler(experiment_id: int, dimension: int) -> qmc.Sobol:
    return qmc.Sobol(dimension, scramble=True, rng=np.random.default_rng(experiment_id))


_sequences = _SequenceCache()


class SobolEngine(Engine):
    """The centre of the space, then the experiment's own scrambled Sobol' sequence.

    The sequence is seeded by the experiment id and indexed by the cursor, so every server
    process that shares a database walks the same sequence without repeating a point.
    Cursor 0 is the centre (as in Ax and Vizier: search ranges are usually drawn around a
    sensible default, so the centre is often a good first point, and it anchors the
    model's first fit); cursor k > 0 is the sequence's point k. Points that break a linear
    constraint are skipped.
    """

    def propose(self, request: ProposalRequest) -> Proposal:
        space = request.experiment.spec.space
        dimension = unit_dimension(space)
        points: list[dict[str, AssignmentValue]] = []
        cursor = request.cursor
        batch = max(request.count, 1) if not space.linear_constraints else BLOCK
        if cursor == 0 and request.count > 0:
            cursor = 1
            centre = point_from_unit(space, np.full(dimension, 0.5))
            if satisfies_constraints(space, centre):
                points.append(centre)
        while len(points) < request.count and cursor - request.cursor < MAX_SCAN:
            for row in _sequences.rows(request.experiment.id, dimension, cursor, batch):
                cursor += 1
                point = point_from_unit(space, row)
                if satisfies_constraints(space, point):
                    points.append(point)
                    if len(points) == request.count:
                        break
        return Proposal(points=points, cursor=cursor)
