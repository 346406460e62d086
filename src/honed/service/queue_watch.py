"""When an idle optimizer loop reads its whole queue again.

``OptimizerQueue.optimizer_work`` aggregates every observation, suggestion and candidate
of every experiment: read every 0.1 s, it made an idle optimizer cost a share of a core
that grew with the database. After a read that found nothing to fit, the loop reads only
the queue's cheap version until it moves or a fit may have come due with time
(docs/decisions.md: An idle optimizer reads a version of its queue, not the queue).
"""

from __future__ import annotations

from collections.abc import Hashable
from collections.abc import Iterable
from dataclasses import dataclass

from honed.storage.optimizer import OptimizerQueue
from honed.storage.optimizer import OptimizerWork


@dataclass(frozen=True)
class _Read:
    """A full read of the queue and the version read just before it."""

    version: Hashable
    since: float


@dataclass(frozen=True)
class _Quiet:
    """A read that found nothing to fit, good while the version stays and until ``until``."""

    read: _Read
    until: float


class QueueWatch:
    def __init__(
        self, storage: OptimizerQueue, late_write_seconds: float, full_read_seconds: float
    ) -> None:
        """``late_write_seconds``: how long before its commit a write may stamp its
        ``modified`` and still move the version (on PostgreSQL transactions commit in
        another order than they read the clock). ``full_read_seconds``: the longest a quiet
        read is trusted, for writes stamped earlier still (or by a clock far behind)."""
        self._storage = storage
        self._late = late_write_seconds
        self._longest = full_read_seconds
        self._last: _Read | None = None
        self._quiet: _Quiet | None = None

    def work(self, now: float) -> list[OptimizerWork] | None:
        """The queue, read in full; None while the last read found nothing to fit and still
        holds (then only the version is read)."""
        quiet, self._quiet = self._quiet, None
        if (
            quiet is not None
            and now < quiet.until
            and self._storage.optimizer_work_version(quiet.read.since) == quiet.read.version
        ):
            self._quiet = quiet
            return None
        since = now - self._late
        # The version first: a write committed between the two reads moves it again, so
        # the next step reads it in full rather than missing it.
        self._last = _Read(self._storage.optimizer_work_version(since), since)
        return self._storage.optimizer_work()

    def nothing_due(self, now: float, due_times: Iterable[float]) -> None:
        """The last read found nothing to fit; ``due_times``: when, after ``now``, some of
        it may come due with time alone (``honed.service.optimizer.due_later``)."""
        if self._last is not None:
            self._quiet = _Quiet(self._last, min([now + self._longest, *due_times]))
