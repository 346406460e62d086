"""A running Scheduler's trials by state, for Prometheus (``Scheduler.serve_metrics``):
counted from the scheduler's own trials when scraped, so the loop does nothing for it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry
from prometheus_client import start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus


class TrialCollector(Collector):
    def __init__(self, experiment_id: str, trials: Mapping[int, Trial]) -> None:
        self._experiment_id = experiment_id
        self._trials = trials

    def collect(self) -> Iterator[Metric]:
        # A copy first: the loop adds trials meanwhile, in its own thread.
        counts = Counter(trial.status for trial in list(self._trials.values()))
        family = GaugeMetricFamily(
            "honed_scheduler_trials",
            "The Scheduler's trials by state (pending, running, completed, failed, "
            "early_stopped).",
            labels=["experiment", "state"],
        )
        for status in TrialStatus:
            family.add_metric([self._experiment_id, status.value], counts[status])
        yield family


def serve_trial_metrics(
    experiment_id: str, trials: Mapping[int, Trial], host: str, port: int
) -> WSGIServer:
    """``honed_scheduler_trials`` at http://host:port/metrics from a daemon thread, in a
    registry of its own; ``shutdown()`` the server returned to stop it."""
    registry = CollectorRegistry()
    registry.register(TrialCollector(experiment_id, trials))
    server, _thread = start_http_server(port, host, registry)
    return server
