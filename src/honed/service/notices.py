"""Log lines that would repeat per request, at most once per interval per key."""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable


class Throttle:
    """``due(key)``: whether a notice about ``key`` may be logged now; it may once per
    ``seconds``, and then says how many were held back since the last one."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        #: Key -> (when its last notice was logged, notices held back since).
        self._last: dict[Hashable, tuple[float, int]] = {}

    def due(self, key: Hashable, now: float | None = None) -> int | None:
        """The count held back since the last notice when one is due now (it is counted
        as logged), else None (it is counted as held back)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last.get(key)
            if last is None or now - last[0] >= self._seconds:
                self._last[key] = (now, 0)
                return 0 if last is None else last[1]
            self._last[key] = (last[0], last[1] + 1)
            return None
