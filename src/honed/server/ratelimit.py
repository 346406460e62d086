"""Per-token rate limits: a token bucket per API token, in each server process.

Off by default: a fleet of workers polling one experiment must never be throttled by
surprise. ``honed serve --rate-limit R`` allows each token R requests per second on average
with bursts of ``--rate-burst`` requests; beyond that the answer is 429 with ``Retry-After``
(the sigopt client retries 429 by itself, with backoff). Buckets live in the process, so
with N server processes a token may reach up to N x R across them.
"""

from __future__ import annotations

import math
import time

from honed.errors import RateLimitedError

MAX_TRACKED_TOKENS = 100_000


class RateLimiter:
    """Not thread-safe: called from the event loop only (honed.server.auth.caller)."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 requests per second")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        # token id -> (tokens left, monotonic time of that count)
        self._buckets: dict[int, tuple[float, float]] = {}

    def check(self, token_id: int) -> None:
        """Take one request from the token's bucket, or raise RateLimitedError."""
        now = time.monotonic()
        left, at = self._buckets.get(token_id, (self.burst, now))
        left = min(self.burst, left + (now - at) * self.rate)
        if left < 1.0:
            self._buckets[token_id] = (left, now)
            wait = math.ceil((1.0 - left) / self.rate)
            raise RateLimitedError(
                f"Too many requests with this API token (limit {self.rate:g} per second, "
                f"bursts of {self.burst:g}); retry after {wait} s",
                retry_after=wait,
            )
        if len(self._buckets) >= MAX_TRACKED_TOKENS and token_id not in self._buckets:
            self._buckets.clear()
        self._buckets[token_id] = (left - 1.0, now)
