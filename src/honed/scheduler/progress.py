"""Intermediate values a trial function reports while it runs, for early stopping.

A trial function run by ``CallableRunner``, ``RayRunner`` or ``DaskRunner`` calls
``honed.scheduler.report(step, value)``; the runner put a *sink* in place around the call
(``reporting``) that keeps the curve where the trial runs (a file, the actor, the Dask
scheduler), so that the runner's ``poll`` returns it as ``Poll.progress``, also from a
scheduler resumed in another process.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from honed.scheduler.errors import NotInTrialError

Value = float | dict[str, float]
Sink = Callable[[float, Value], None]

# The trial of the calling thread; new threads start without it (before Python 3.14), so
# a process that runs a single trial also answers for threads the trial function started.
_sink: ContextVar[Sink | None] = ContextVar("honed_trial_sink", default=None)
_running: list[Sink] = []
_lock = threading.Lock()


def report(step: float, value: float | Mapping[str, float]) -> None:
    """Report an intermediate value of the running trial, e.g. its validation loss after an
    epoch: ``report(epoch, loss)`` for the objective, or ``report(epoch, {"loss": loss,
    "accuracy": acc})``. Steps are numbers that grow as the trial goes on (epochs,
    iterations, seconds); reporting a step again replaces its value. The scheduler's
    ``early_stopping`` rule reads the objective's curve and may stop the trial; its last
    value is then the trial's result.

    Works inside a trial run by ``CallableRunner``, ``RayRunner`` or ``DaskRunner``
    (``SubprocessRunner`` commands print ``{"step": 3, "loss": 0.4}`` lines instead);
    anywhere else it raises ``NotInTrialError``.
    """
    sink = _sink.get() or _only_running()
    sink(*checked(step, value))


@contextmanager
def reporting(sink: Sink) -> Iterator[None]:
    """Send what ``report`` is given in this thread (and, if it is the process's only
    trial, in threads the trial starts) to ``sink``, for the duration of the block."""
    token = _sink.set(sink)
    with _lock:
        _running.append(sink)
    try:
        yield
    finally:
        _sink.reset(token)
        with _lock:
            _running.remove(sink)


def checked(step: Any, value: Any) -> tuple[float, Value]:
    """``step`` and ``value`` as plain floats, or an error naming what to fix."""
    number = _number(step, "step")
    if isinstance(value, Mapping):
        if not value:
            raise ValueError("report() got an empty dict: give at least one {metric: value}")
        values = {}
        for name, metric_value in value.items():
            if not isinstance(name, str):
                raise TypeError(f"report() metric names are strings, not {name!r}")
            values[name] = _number(metric_value, f"the value of {name!r}")
        return number, values
    return number, _number(value, "value")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"report() {what} must be a number, not {type(value).__name__} {value!r} "
            "(for a tensor, pass tensor.item())"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(
            f"report() {what} is {number}: report finite numbers (a trial that diverged "
            "can raise an exception, which fails it)"
        )
    return number


def _only_running() -> Sink:
    with _lock:
        running = list(_running)
    if len(running) == 1:
        return running[0]
    if not running:
        raise NotInTrialError(
            "honed.scheduler.report() was called outside a trial: call it from the "
            "function a CallableRunner, RayRunner or DaskRunner runs as a trial (a "
            'SubprocessRunner command prints lines such as {"step": 3, "loss": 0.4} '
            "instead)"
        )
    raise NotInTrialError(
        f"honed.scheduler.report() was called from a thread that runs no trial, in a process "
        f"running {len(running)} trials: call it from the thread that runs the trial function"
    )
