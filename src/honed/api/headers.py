"""honed's own request headers: SigOpt clients never send them, honed's own client may."""

from __future__ import annotations

import math

from honed.errors import InvalidRequestError

#: On ``POST .../suggestions``: the most seconds this request may wait for a fresh model
#: point (the server's own bound still applies); then it takes the newest model point, or a
#: Sobol point when the optimizer has none. A Scheduler sends what is left of its timeout.
MAX_WAIT = "X-Honed-Max-Wait"


def max_wait(value: str | None) -> float | None:
    """The ``MAX_WAIT`` header's seconds, or None when it was not sent."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise InvalidRequestError(
            f"Invalid {MAX_WAIT} header {value!r}: give the most seconds this request may "
            "wait for a fresh model point, a number >= 0"
        )
    return seconds
