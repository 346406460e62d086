"""The BoTorch engine for an optimizer process, built on first use.

Importing this module loads no torch: an optimizer process imports it at start and begins
to send heartbeats, and torch (several seconds to import) comes with the first engine.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from honed.engine.base import Engine
from honed.engine.botorch.budget import DEFAULT_FIT_BUDGET_SECONDS

if TYPE_CHECKING:
    from honed.engine.botorch.model import WarmStart


def botorch_engine_factory(
    fit_budget_seconds: float = DEFAULT_FIT_BUDGET_SECONDS,
) -> Callable[[], Engine]:
    """The BoTorch engine with warm starts kept for the life of this process; a proposal
    past ``fit_budget_seconds`` fails (the loop records the error). torch is imported by
    the first call, which ``OptimizerLoop.run`` makes while it already sends heartbeats:
    API processes see an optimizer starting, not none."""
    warm_starts: MutableMapping[int, WarmStart] = {}

    def engine() -> Engine:
        import torch
        from threadpoolctl import threadpool_limits

        from honed.engine.botorch.engine import BoTorchEngine

        # Parallelism comes from processes: with the other core busy, OpenMP threads made
        # fits several times slower, and so did the BLAS threads of SciPy's Cholesky
        # factorizations in the fit (docs/decisions.md: One BLAS thread per optimizer).
        torch.set_num_threads(1)
        threadpool_limits(1)
        return BoTorchEngine(warm_starts=warm_starts, fit_budget_seconds=fit_budget_seconds)

    return engine
