"""Operators' metrics (prometheus-client): what each process records as it works.

Off unless ``honed serve --metrics-port`` turns them on: then ``create_app`` installs the
request middleware, the hand-out observer and the pool sampler below, and the optimizer
processes record their fits. ``honed serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` before any
of its processes imports this module, so each writes its values to files there, which the
endpoint merges (``honed.server.scrape``); what the store knows (open suggestions, the fit
queue, live optimizers) is read there at scrape time, not here.

On the request path: one counter and one histogram per request, a counter per suggestion
handed out, all in memory (a file mapped into memory with several processes); nothing
here touches the database.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import Counter
from prometheus_client import Gauge
from prometheus_client import Histogram
from starlette.routing import Mount
from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from honed.domain.records import Suggestion

#: Requests up to the longest a suggestion may wait for a fresh model point by default
#: (60 s), and beyond.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
FIT_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
#: Any other method (a client may send anything) is counted as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "MERGE"})
#: The route of a request that matched none (a 404): paths themselves would make one
#: series per path a client tries.
UNMATCHED = "unmatched"
POOL_SAMPLE_SECONDS = 1.0

REQUESTS = Counter(
    "honed_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "honed_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, waits for the optimizer "
    "included, by method and route template.",
    ["method", "route"],
    buckets=REQUEST_BUCKETS,
)
SUGGESTIONS = Counter(
    "honed_suggestions",
    "Suggestions handed out, by source (engine, optimizer, fallback, manual, queued), "
    "freshness of the optimizer's model (fresh, stale; none for other sources) and "
    "candidate (batch, pool; none for other sources).",
    ["source", "freshness", "candidate"],
)
SUGGESTION_WAIT_SECONDS = Histogram(
    "honed_suggestion_wait_seconds",
    "How long suggestion requests that found no candidate they could take waited for the "
    "optimizer before they were served.",
    buckets=REQUEST_BUCKETS,
)
FIT_SECONDS = Histogram(
    "honed_optimizer_fit_duration_seconds",
    "Model fits of the optimizer processes (each with its candidates), by outcome.",
    ["outcome"],
    buckets=FIT_BUCKETS,
)
POOL_CHECKED_OUT = Gauge(
    "honed_db_pool_checked_out",
    "Database connections in use by the server processes (sampled each second).",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "honed_db_pool_size",
    "Database connections the server processes' pools keep (--db-pool-size per process "
    "on PostgreSQL).",
    multiprocess_mode="livesum",
)


def route_template(scope: Scope) -> str:
    """The path template of the route that served the request (as the router set it)."""
    route = scope.get("route")
    if isinstance(route, Mount):
        return route.path + "/{path}"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    """ASGI middleware, outermost: counts every HTTP request and times it to the end of its
    answer. An exception that escapes the app is counted as the 500 it becomes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._series: dict[tuple[str, str, int], tuple[Callable[[], None], Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope["method"] if scope["method"] in METHODS else "other"
        key = (method, route_template(scope), status)
        series = self._series.get(key)
        if series is None:  # the label lookup (and its lock) once per series
            counter = REQUESTS.labels(key[0], key[1], str(status))
            series = self._series[key] = (counter.inc, REQUEST_SECONDS.labels(key[0], key[1]))
        count, duration = series
        count()
        duration.observe(seconds)


class HandOutMetrics:
    """The ``HandOutObserver`` of an instrumented app."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], Callable[[], None]] = {}

    def handed_out(self, suggestion: Suggestion, waited_seconds: float | None) -> None:
        model = suggestion.model
        if model is None:
            freshness = candidate = "none"
        else:
            freshness = "fresh" if model.fresh else "stale"
            candidate = "pool" if model.pool else "batch"
        key = (suggestion.source.value, freshness, candidate)
        count = self._series.get(key)
        if count is None:
            count = self._series[key] = SUGGESTIONS.labels(*key).inc
        count()
        if waited_seconds is not None:
            SUGGESTION_WAIT_SECONDS.observe(waited_seconds)


def record_fit(seconds: float, failed: bool) -> None:
    """An optimizer loop's ``on_fit``."""
    FIT_SECONDS.labels("error" if failed else "ok").observe(seconds)


def sample_pool(pool_use: Callable[[], tuple[int, int]]) -> None:
    """Keep the pool gauges of this process current from a daemon thread: each request
    costs nothing for them."""

    def sample() -> None:
        while True:
            checked_out, size = pool_use()
            POOL_CHECKED_OUT.set(checked_out)
            POOL_SIZE.set(size)
            time.sleep(POOL_SAMPLE_SECONDS)

    threading.Thread(target=sample, name="metrics-pool", daemon=True).start()
