"""The ``/metrics`` endpoint of ``honed serve --metrics-port``: served by the command's own
process on a port of its own, apart from the API (no token; keep it on a private network).

Every process of the server (its API workers, its optimizer processes) writes its metrics
to files in one directory (prometheus-client's multiprocess mode, ``honed.server.metrics``);
a scrape merges them and adds what the store holds at that moment (``StoreCollector``).
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry
from prometheus_client import multiprocess
from prometheus_client import start_http_server
from prometheus_client import values
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from honed.errors import ServiceUnavailableError
from honed.service.operations import OperationsService

#: The variable that switches prometheus-client to multiprocess mode; it must be set
#: before the library is first imported in a process.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")


class StoreCollector(Collector):
    """Gauges read from the store when scraped (three reads): nothing is kept in memory,
    so every server process and every scrape sees the same numbers."""

    def __init__(self, operations: OperationsService) -> None:
        self._operations = operations

    def collect(self) -> Iterator[Metric]:
        try:
            snapshot = self._operations.snapshot()
        except ServiceUnavailableError:
            yield _gauge("honed_database_up", "Whether the scrape could read the database.", 0)
            return
        yield _gauge("honed_database_up", "Whether the scrape could read the database.", 1)
        yield _gauge(
            "honed_optimizer_processes_alive",
            "Optimizer processes that sent a heartbeat within the last 10 s.",
            snapshot.optimizers_alive,
        )
        yield _gauge(
            "honed_open_suggestions",
            "Open suggestions of active experiments (handed out, not yet observed or deleted).",
            snapshot.open_suggestions,
        )
        yield _gauge(
            "honed_fit_waiting_requests",
            "Suggestion requests waiting for the optimizer's next fit.",
            snapshot.waiting_requests,
        )
        yield _gauge(
            "honed_fit_queue_experiments",
            "Experiments that need a model fit which no live optimizer process has begun.",
            snapshot.queued_fits,
        )
        yield _gauge(
            "honed_fits_running",
            "Experiments a live optimizer process is fitting now.",
            snapshot.running_fits,
        )
        yield _gauge(
            "honed_candidates_ready",
            "Unused optimizer candidates ready for hand-out, all experiments together.",
            snapshot.ready_candidates,
        )
        if snapshot.longest_last_fit_seconds is not None:
            yield _gauge(
                "honed_fit_last_duration_seconds_max",
                "The longest of the experiments' newest model fits (seconds), as stored.",
                snapshot.longest_last_fit_seconds,
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class DeadProcessSweeper(Collector):
    """Drops the per-process gauges (database pool) of processes that have ended (a server
    worker that crashed and was replaced), as prometheus-client asks the server to. Runs
    first in each scrape; collects nothing itself."""

    def __init__(self, directory: str) -> None:
        self._directory = directory

    def collect(self) -> Iterator[Metric]:
        for path in glob.glob(os.path.join(self._directory, "gauge_live*.db")):
            found = _LIVE_GAUGE_FILE.search(os.path.basename(path))
            if found is not None and not _alive(int(found.group(1))):
                # (prometheus_client's multiprocess module is not annotated)
                multiprocess.mark_process_dead(int(found.group(1)), self._directory)  # type: ignore[no-untyped-call]
        return iter(())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the id: ours has ended
        return False
    return True


def registry(directory: str) -> CollectorRegistry:
    """What a scrape shows: every process's metrics from ``directory``; register a
    ``StoreCollector`` on it for the store's."""
    if not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError(
            f"{MULTIPROCESS_DIR_ENV} must be set before prometheus_client is imported"
        )
    merged = CollectorRegistry()
    merged.register(DeadProcessSweeper(directory))
    multiprocess.MultiProcessCollector(merged, directory)  # type: ignore[no-untyped-call]
    return merged


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> WSGIServer:
    """``registry`` at ``/metrics`` (at any path, as prometheus-client serves it) on
    ``host:port`` from a daemon thread; ``shutdown()`` the server returned to stop it."""
    server, _thread = start_http_server(port, host, registry)
    return server
