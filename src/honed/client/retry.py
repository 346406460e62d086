"""When a request may be sent again, and how long to wait before it is."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

# Methods that change nothing, or change it to the same end state, when repeated.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits grow ``base_seconds * 2**k`` up to ``max_seconds``,
    with jitter so many workers that lost the server together do not return together."""

    attempts: int = 5
    base_seconds: float = 0.2
    max_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base_seconds < 0 or self.max_seconds < self.base_seconds:
            raise ValueError("RetryPolicy: need 0 <= base_seconds <= max_seconds")

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        delay: float = min(self.max_seconds, self.base_seconds * 2**attempt)
        return delay * random.uniform(0.5, 1.0)


def may_retry_error(request: httpx.Request, error: httpx.TransportError) -> bool:
    """A connection that never opened sent nothing: any request may go again. Once sent, only
    a request that is safe to repeat (idempotent method or an Idempotency-Key) may."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return True
    return request.method in IDEMPOTENT_METHODS or "idempotency-key" in request.headers


def may_retry_status(status: int) -> bool:
    """503: the server said it did not do the work (its database was unreachable)."""
    return status == 503
