"""A proposal's time budget: past its deadline, the GP fit and the acquisition optimization
give up with FitBudgetExceeded, which the optimizer loop records as the fit's error.

BoTorch's mixed optimizer takes no timeout, and a timeout that merely ends an optimization
early would leave the rest of the proposal running: so the deadline is checked where every
optimizer spends its time, at each evaluation of the acquisition function (a forward
pre-hook) and at each L-BFGS-B step of the GP fit (a callback, see ``check``).

No torch at import: the CLI reads the default budget from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from time import monotonic
from typing import TYPE_CHECKING
from typing import Any

if TYPE_CHECKING:
    import torch

#: The default budget of one proposal (fit and candidates), in seconds.
DEFAULT_FIT_BUDGET_SECONDS = 300.0
#: Below the optimizer's lease on an experiment (LoopSettings.lease_seconds, 600 s): a fit
#: that outlived it could be taken over by another optimizer while it runs.
MAX_FIT_BUDGET_SECONDS = 500.0


class FitBudgetExceeded(TimeoutError):
    """A proposal ran past its budget; nothing it computed is kept."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = monotonic() + seconds

    def check(self, *_: Any) -> None:
        """Raise once the deadline has passed (takes and ignores any arguments, so that it
        serves as a hook or a callback as it is)."""
        if monotonic() > self._at:
            raise FitBudgetExceeded(
                f"the model fit and its candidates took longer than the optimizer's budget "
                f"of {self.seconds:g} s (honed optimizer --fit-budget); try a smaller search "
                "space or fewer categorical values"
            )


_current: ContextVar[Deadline | None] = ContextVar("honed_fit_deadline", default=None)


@contextmanager
def running(deadline: Deadline) -> Iterator[Deadline]:
    """Makes ``deadline`` the one ``check`` enforces (the GP fit reads it from here rather
    than through every function between the engine and the fit's optimizer)."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def check(*_: Any) -> None:
    """Raise FitBudgetExceeded when the running proposal is past its deadline; usable as a
    SciPy or BoTorch optimizer callback."""
    deadline = _current.get()
    if deadline is not None:
        deadline.check()


def guard(module: torch.nn.Module, deadline: Deadline) -> None:
    """Check ``deadline`` before every call of ``module`` (an acquisition function)."""
    module.register_forward_pre_hook(deadline.check)
