"""Runners shipped with honed. Ray and Dask are imported only by their own modules (extras
``honed[ray]``, ``honed[dask]``)."""

from __future__ import annotations

from honed.scheduler.runners.local import CallableRunner
from honed.scheduler.runners.subprocess import SubprocessRunner

__all__ = ["CallableRunner", "SubprocessRunner"]
