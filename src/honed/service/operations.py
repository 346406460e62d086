"""What operators watch, read from the store at the moment they ask (a metrics scrape):
the optimizer processes alive, the fit queue, open suggestions. Every number is one the
store holds; nothing is estimated."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from honed.service.optimizer import LoopSettings
from honed.service.optimizer import fit_due
from honed.service.suggestions import OPTIMIZER_ALIVE_SECONDS
from honed.storage.base import Connection
from honed.storage.optimizer import OptimizerQueue
from honed.storage.optimizer import OptimizerSignals
from honed.storage.optimizer import lease_is_live
from honed.storage.suggestions import SuggestionStore


@dataclass(frozen=True)
class OperationsSnapshot:
    #: Optimizer processes that sent a heartbeat within OPTIMIZER_ALIVE_SECONDS (the
    #: test suggestion requests use to decide whether to wait for one).
    optimizers_alive: int
    #: Open, non-deleted suggestions of active experiments.
    open_suggestions: int
    #: Suggestion requests that found no candidate they could take and wait for a fit,
    #: as they signalled it to the optimizer (reset when the fit is stored).
    waiting_requests: int
    #: Experiments that need a fit which no live optimizer process has begun.
    queued_fits: int
    #: Experiments a live optimizer process is fitting now (holds their lease).
    running_fits: int
    #: Unused candidates ready for hand-out, all experiments together.
    ready_candidates: int
    #: The longest of the experiments' newest fits, in seconds (None: no fit stored yet).
    longest_last_fit_seconds: float | None


class OperationsRoles(SuggestionStore, OptimizerQueue, OptimizerSignals, Connection, Protocol):
    """Suggestion counts, the optimizer's queue as its processes read it, and whether the
    database answers."""


class OperationsService:
    def __init__(self, storage: OperationsRoles, loop: LoopSettings | None = None) -> None:
        self._storage = storage
        self._loop = loop or LoopSettings()

    def ping(self) -> None:
        """The health check: raise ServiceUnavailableError when the database cannot be
        reached."""
        self._storage.ping()

    def snapshot(self) -> OperationsSnapshot:
        """Three reads (no lock, no write); about what one idle step of an optimizer
        process costs."""
        work = self._storage.optimizer_work()
        now = time.time()
        fits = [w.fit_seconds for w in work if w.fit_seconds is not None]
        return OperationsSnapshot(
            optimizers_alive=self._storage.live_optimizers(OPTIMIZER_ALIVE_SECONDS),
            open_suggestions=self._storage.count_open_suggestions(),
            waiting_requests=sum(w.waiting for w in work),
            queued_fits=sum(fit_due(w, now, self._loop) for w in work),
            running_fits=sum(
                lease_is_live(w.lease_until, w.lease_owner_seen_at, now) for w in work
            ),
            ready_candidates=sum(w.ready_candidates for w in work),
            longest_last_fit_seconds=max(fits) if fits else None,
        )
