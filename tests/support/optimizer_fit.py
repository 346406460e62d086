"""One optimizer fit in a process of its own, as `honed optimizer` runs it, reporting the
process's peak memory and what the model saw (for tests/test_optimizer_scale.py and
benchmarks).

    python -m tests.support.optimizer_fit DATABASE_URL EXPERIMENT_ID [LIMIT_MB FIT_BUDGET]

``LIMIT_MB``: the process's address space is limited to it (``resource.setrlimit``), so a
fit that would take more fails here instead of pressing on the machine; ``FIT_BUDGET``:
the optimizer's budget per fit, in seconds.

prints one JSON object: ``experiment`` (the id fitted, or null), ``rss_before_mb`` (peak RSS
with torch and BoTorch imported, before the fit), ``rss_peak_mb`` (after it), and from the
engine's log record ``training_points``, ``fit_seconds``, ``candidate_seconds``.
"""

from __future__ import annotations

import json
import logging
import resource
import sys
from typing import Any

from honed.engine.botorch.factory import botorch_engine_factory
from honed.service.optimizer import LoopSettings
from honed.service.optimizer import OptimizerLoop
from honed.storage.sql.storage import SqlStorage


class EngineRecords(logging.Handler):
    """Keeps the fields the BoTorch engine logs with each proposal."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        for name in ("training_points", "fit_seconds", "candidate_seconds"):
            if hasattr(record, name):
                self.fields[name] = getattr(record, name)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(
    database_url: str,
    experiment_id: int,
    limit_mb: int | None = None,
    fit_budget: float | None = None,
) -> dict[str, Any]:
    if limit_mb is not None:
        limit = limit_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    records = EngineRecords()
    engine_logger = logging.getLogger("honed.engine.botorch.engine")
    engine_logger.addHandler(records)
    engine_logger.setLevel(logging.INFO)
    factory = (
        botorch_engine_factory(fit_budget) if fit_budget is not None else botorch_engine_factory()
    )
    import botorch  # noqa: F401  (counted in the baseline, as in a running optimizer)

    storage = SqlStorage.from_url(database_url)
    try:
        loop = OptimizerLoop(storage, factory, settings=LoopSettings(settle_seconds=0.0))
        before = peak_rss_mb()
        fitted = loop.step()
        result: dict[str, Any] = {
            "experiment": fitted,
            "rss_before_mb": before,
            "rss_peak_mb": peak_rss_mb(),
            **records.fields,
        }
        if fitted is not None:
            result["error"] = storage.optimizer_status(experiment_id).error
        return result
    finally:
        storage.close()


if __name__ == "__main__":
    limits = (int(sys.argv[3]), float(sys.argv[4])) if len(sys.argv) > 3 else (None, None)
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), *limits)))
