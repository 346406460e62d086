"""Requests waiting for a fit, watched once per experiment in each server process.

A request that waits for the optimizer (``FitWait``) awaits an event of its experiment;
one task per experiment with waiters reads the fit marker every POLL_SECONDS (a thread
hop on PostgreSQL, inline for a local store) and sets the event when a fit lands, waking
them all: they then step, and the hand-out queue serves them in arrival order. Polled per
request, 1,000 waiters cost 20,000 steps a second (each a thread hop on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from dataclasses import field

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from honed.service.suggestions import POLL_SECONDS
from honed.service.suggestions import FitWait
from honed.storage.optimizer import FitMarker

logger = logging.getLogger(__name__)


@dataclass
class _Watch:
    marker: FitMarker
    landed: asyncio.Event = field(default_factory=asyncio.Event)
    waiters: int = 0


class FitWatch:
    """The watches of one app (one event loop)."""

    def __init__(self) -> None:
        self._watches: dict[int, _Watch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def wait(self, wait: FitWait, local: bool) -> None:
        """Return once a fit lands (the experiment's marker moves from the one its watch
        began with), after ``wait.seconds``, or when the watch fails: the request steps
        again and reads for itself."""
        experiment_id = wait.experiment_id
        watch = self._watches.get(experiment_id)
        if watch is None:
            watch = _Watch(wait.marker)
            self._watches[experiment_id] = watch
            task = asyncio.create_task(self._watch(experiment_id, watch, wait, local))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        watch.waiters += 1
        try:
            await asyncio.wait_for(watch.landed.wait(), wait.seconds)
        except TimeoutError:
            pass
        finally:
            watch.waiters -= 1

    async def _watch(self, experiment_id: int, watch: _Watch, wait: FitWait, local: bool) -> None:
        try:
            while True:
                await asyncio.sleep(POLL_SECONDS)
                if watch.waiters == 0:
                    return
                if local:
                    marker = wait.poll(experiment_id)
                else:
                    marker = await run_in_threadpool(wait.poll, experiment_id)
                if marker != watch.marker:
                    return
        except Exception:  # the waiters step again and meet the error themselves
            logger.exception("watching experiment %s for a fit failed", experiment_id)
        finally:
            if self._watches.get(experiment_id) is watch:
                del self._watches[experiment_id]
            watch.landed.set()


def fit_watch(state: State) -> FitWatch:
    """The app's watch, made on first use."""
    found: FitWatch | None = getattr(state, "fit_watch", None)
    if found is None:
        found = state.fit_watch = FitWatch()
    return found
