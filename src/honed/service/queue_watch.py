"""When an optimizer loop reads its whole queue again.

``OptimizerQueue.optimizer_work`` aggregates every observation, suggestion and candidate
of every experiment: read every 0.1 s, it made an idle optimizer cost a share of a core
that grew with the database. After a read that found nothing to fit, the loop reads only
the queue's cheap version until it moves or a fit may have come due with time
(docs/decisions.md: An idle optimizer reads a version of its queue, not the queue). A
batch chosen point after point asks the same way, after each point, whether other
experiments' requests have come to wait.
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
    """A read whose findings hold while the version stays and until ``until``."""

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
        return None if self.unchanged(now) else self.read(now)

    def read(self, now: float) -> list[OptimizerWork]:
        """The queue, read in full."""
        self._quiet = None
        since = now - self._late
        # The version first: a write committed between the two reads moves it again, so
        # the next step reads it in full rather than missing it.
        self._last = _Read(self._storage.optimizer_work_version(since), since)
        return self._storage.optimizer_work()

    def unchanged(self, now: float) -> bool:
        """Whether what the last read found still holds (``keep``): the version has not
        moved, and it is not yet time for something to come due. Reads only the version."""
        quiet = self._quiet
        return (
            quiet is not None
            and now < quiet.until
            and self._storage.optimizer_work_version(quiet.read.since) == quiet.read.version
        )

    def keep(self, now: float, due_times: Iterable[float]) -> None:
        """What the last read found (nothing to fit, or which experiments are due) holds
        while the version stays; ``due_times``: when, after ``now``, some of the queue may
        come due with time alone (``honed.service.optimizer.due_later``)."""
        if self._last is not None:
            self._quiet = _Quiet(self._last, min([now + self._longest, *due_times]))
