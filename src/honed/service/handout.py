"""A hand-out queue per experiment in each process: suggestion creates committed in groups.

The requests of one experiment that arrive while this process runs a create transaction
for it queue up; the next transaction takes up to ``MAX_BATCH`` of them, earliest arrival
first, and decides their points one after the other under one lock of the experiment
(``SuggestionStore.create_suggestions``). A burst of 1,000 first asks is some twenty
transactions instead of 1,000, and the waiters a fit wakes are served in the order they
came (docs/decisions.md: Suggestion creates of one experiment committed in groups).

Who runs a transaction: the request that finds no drain under way gets ``Queued.drain``,
and its runner calls it until it returns False: in its own thread (the embedded client;
``Queued.wait_here``), or on the server's event loop or in a worker thread. Every other
request only waits for ``Queued.answer``, which on a server holds no thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import wait
from dataclasses import dataclass
from dataclasses import field
from typing import Generic
from typing import TypeVar

from honed.errors import HonedError

#: Requests per transaction: it holds the experiment's lock, which other processes
#: queue on, for a few milliseconds per decision.
MAX_BATCH = 64

Request = TypeVar("Request")
Answer = TypeVar("Answer")


def _never(_answer: object) -> bool:
    return False


@dataclass(frozen=True)
class Queued(Generic[Answer]):
    """A request in its experiment's hand-out queue."""

    answer: Future[Answer]
    #: Set for the request that opened the queue: run it until it returns False.
    drain: Callable[[], bool] | None = None
    #: The queue's ``settles``.
    settles: Callable[[Answer], bool] = _never

    def settled(self) -> bool:
        """The answer is in, and what the request does with it needs no database: it is
        an error, or an answer ``settles`` says ends the request. A server steps on then
        in its event loop instead of a worker thread."""
        if not self.answer.done():
            return False
        return self.answer.exception() is not None or self.settles(self.answer.result())

    def wait_here(self) -> None:
        """Block this thread until the answer is in, draining here if it falls to us."""
        if self.drain is not None:
            while self.drain():
                pass
        wait([self.answer])


@dataclass
class _Entry(Generic[Request, Answer]):
    arrived: float
    request: Request
    answer: Future[Answer] = field(default_factory=Future)


class HandOutQueue(Generic[Request, Answer]):
    """``serve(experiment_id, requests)`` answers a batch in one transaction: an answer or
    a HonedError per request, in order; when it raises, nothing of the batch was stored
    and every request of it fails with that error. ``settles(answer)``: the request's
    step that reads this answer touches no database (``Queued.settled``)."""

    def __init__(
        self,
        serve: Callable[[int, list[Request]], Sequence[Answer | HonedError]],
        bound: int = MAX_BATCH,
        settles: Callable[[Answer], bool] = _never,
    ) -> None:
        self._serve = serve
        self._bound = bound
        self._settles = settles
        self._lock = threading.Lock()
        self._waiting: dict[int, list[_Entry[Request, Answer]]] = {}
        self._draining: set[int] = set()

    def submit(self, experiment_id: int, request: Request, arrived: float) -> Queued[Answer]:
        """Queue a request that arrived at ``arrived`` (any clock all requests share)."""
        entry: _Entry[Request, Answer] = _Entry(arrived, request)
        with self._lock:
            self._waiting.setdefault(experiment_id, []).append(entry)
            opens = experiment_id not in self._draining
            if opens:
                self._draining.add(experiment_id)
        if not opens:
            return Queued(entry.answer, settles=self._settles)
        return Queued(entry.answer, lambda: self.drain(experiment_id), self._settles)

    def waiting(self, experiment_id: int) -> int:
        """Requests of the experiment queued and not yet taken by a transaction."""
        with self._lock:
            return len(self._waiting.get(experiment_id, ()))

    def drain(self, experiment_id: int) -> bool:
        """Serve one batch; True while more are queued (call again), False once the queue
        is empty and the next request to come opens it anew."""
        with self._lock:
            queued = self._waiting.get(experiment_id, [])
            queued.sort(key=lambda entry: entry.arrived)
            batch = queued[: self._bound]
            del queued[: self._bound]
        # A request that went away meanwhile (its client hung up) gets no suggestion.
        batch = [entry for entry in batch if entry.answer.set_running_or_notify_cancel()]
        served = False
        try:
            if batch:
                self._answer(experiment_id, batch)
            served = True
        finally:
            with self._lock:
                more = bool(self._waiting.get(experiment_id))
                if not more:
                    self._waiting.pop(experiment_id, None)
                # Interrupted (only a BaseException gets here), the next request opens it.
                if not more or not served:
                    self._draining.discard(experiment_id)
        return more

    def _answer(self, experiment_id: int, batch: list[_Entry[Request, Answer]]) -> None:
        try:
            answers = self._serve(experiment_id, [entry.request for entry in batch])
        except BaseException as error:
            for entry in batch:
                entry.answer.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for entry, answer in zip(batch, answers, strict=True):
            if isinstance(answer, HonedError):
                entry.answer.set_exception(answer)
            else:
                entry.answer.set_result(answer)
