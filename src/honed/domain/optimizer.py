"""What users see of the optimizer's work on an experiment.

A plain value: storage reads it (``OptimizerSignals.optimizer_status``) and api renders it,
and api depends on the domain only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptimizerStatus:
    """What the optimizer did last for one experiment (shown to users)."""

    fitted_count: int
    fitted_at: float | None
    fit_seconds: float | None
    ready_candidates: int
    error: str | None
    error_at: float | None
    #: A live optimizer process holds the experiment's lease: a fit is running.
    fitting: bool = False
