"""Stopping a benchmark: Ctrl-C and SIGTERM both unwind through its clean-up."""

from __future__ import annotations

import signal
from types import FrameType


def unwind_on_stop() -> None:
    """Ctrl-C or SIGTERM raises KeyboardInterrupt in the main thread, so ``finally`` and
    ``with`` blocks stop the servers and workers; further ones are ignored so that the
    clean-up finishes."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")
