"""honed: a self-hosted Bayesian optimization service that speaks the SigOpt REST API."""

from __future__ import annotations

__version__ = "0.1.0"
