"""Values a process reads from the store at most once per interval, one read at a time.

The cached reads of the hand-out path (whether an optimizer process is alive, an
experiment's newest fit marker and its turn among the fits) fall due for many requests at
once: a burst's first asks, or the waiters a fit wakes, in as many worker threads. Each of
them read, each with a connection of the pool (docs/decisions.md: A burst on PostgreSQL:
requests step on the event loop, cached reads one at a time). Here a request that finds
the value due while another thread reads it takes the last value read, which was at most
one interval old when that read began; only the first read of a key is waited for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic
from typing import TypeVar
from typing import cast

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


@dataclass
class _Slot(Generic[Value]):
    lock: threading.Lock
    value: Value | None = None
    read_at: float = -float("inf")
    read: bool = False


class Refreshed(Generic[Key, Value]):
    """``get(key)``: ``read(key)``'s value, read again once ``interval()`` seconds have
    passed since the last read began (``interval`` is called each time: tests and callers
    may change it)."""

    def __init__(self, read: Callable[[Key], Value], interval: Callable[[], float]) -> None:
        self._read = read
        self._interval = interval
        self._slots: dict[Key, _Slot[Value]] = {}
        self._slots_lock = threading.Lock()

    def get(self, key: Key) -> Value:
        slot = self._slot(key)
        if self._due(slot) and slot.lock.acquire(blocking=not slot.read):
            try:
                if self._due(slot):  # unless another thread read it while this one waited
                    began = time.monotonic()
                    slot.value = self._read(key)
                    slot.read_at, slot.read = began, True
            finally:
                slot.lock.release()
        # Read by now: a first read is waited for (and read here if it failed there).
        return cast("Value", slot.value)

    def _due(self, slot: _Slot[Value]) -> bool:
        return time.monotonic() - slot.read_at >= self._interval()

    def _slot(self, key: Key) -> _Slot[Value]:
        slot = self._slots.get(key)
        if slot is None:
            with self._slots_lock:
                slot = self._slots.setdefault(key, _Slot(threading.Lock()))
        return slot
