"""honed: a self-hosted Bayesian optimization service that speaks the SigOpt REST API."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# `honed.Scheduler` and friends, imported on first use so `import honed` stays light.
_LAZY = {
    "Scheduler": "honed.scheduler",
    "SchedulerOptions": "honed.scheduler",
    "Runner": "honed.scheduler",
    "report": "honed.scheduler",
    "Client": "honed.client",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'honed' has no attribute {name!r}")
