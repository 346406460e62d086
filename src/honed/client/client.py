"""honed's own Python client: one interface over a remote server or an embedded database."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Any

import httpx

from honed.api import headers
from honed.client.models import JSON
from honed.client.models import BestAssignments
from honed.client.models import Experiment
from honed.client.models import NewObservation
from honed.client.models import Observation
from honed.client.models import Suggestion
from honed.client.retry import RetryPolicy
from honed.client.retry import may_retry_error
from honed.client.retry import may_retry_status
from honed.errors import ServiceUnavailableError
from honed.errors import error_for_status

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

PAGE_LIMIT = 1000


def is_remote(connection: str) -> bool:
    return connection.startswith(("http://", "https://"))


def database_url(connection: str) -> str:
    """A SQLAlchemy URL as given, or a file path made into an absolute SQLite URL."""
    if "://" in connection:
        return connection
    return f"sqlite:///{Path(connection).expanduser().resolve()}"


class Client:
    """The calls honed's tools need, with typed results.

    ``connection`` is a server URL (``http(s)://...``, with ``token``) or a database: a SQLite
    file path, a ``sqlite:///`` URL or a ``postgresql+psycopg://`` URL, served by honed's app
    in this process (``optimizers`` model processes are started for it; 0 serves Sobol).

    Requests that failed to connect, and 503 answers, are retried with backoff under
    ``retry``. Observation creates carry an ``Idempotency-Key`` so a retry after a lost
    answer cannot record the same observation twice on servers that honour it.
    """

    def __init__(
        self,
        connection: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        optimizers: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._embedded: Any = None
        if is_remote(connection):
            if not token:
                raise ValueError("A token is needed to reach a honed server at " + connection)
            self._http = httpx.Client(
                base_url=connection.rstrip("/"), auth=(token, ""), timeout=timeout
            )
        else:
            from honed.client.embedded import EmbeddedTransport

            self._embedded = EmbeddedTransport(database_url(connection), optimizers)
            self._http = httpx.Client(
                base_url="http://embedded",
                transport=self._embedded,
                auth=(self._embedded.secret, ""),
                timeout=timeout,
            )

    @property
    def embedded(self) -> bool:
        return self._embedded is not None

    def close(self) -> None:
        self._http.close()
        if self._embedded is not None:
            self._embedded.close()
            self._embedded = None

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- transport ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSON:
        """One call; retried on connection errors and 503 as far as that is safe."""
        request = self._http.build_request(method, path, json=json, params=params, headers=headers)
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                response = self._http.send(request)
            except httpx.TransportError as error:
                if last or not may_retry_error(request, error):
                    raise ServiceUnavailableError(
                        f"honed at {self.connection} is unreachable: {error!r}"
                    ) from error
                self._sleep(self.retry.wait(attempt))
                continue
            if may_retry_status(response.status_code) and not last:
                self._sleep(self.retry.wait(attempt))
                continue
            return _decode(response)
        raise AssertionError("unreachable")  # pragma: no cover

    def _pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[JSON]:
        """Every item of a paginated list, oldest first."""
        query = {"limit": PAGE_LIMIT, **(params or {})}
        pages: list[list[JSON]] = []
        while True:
            page = self.request("GET", path, params=query)
            pages.append(page.get("data") or [])
            before = (page.get("paging") or {}).get("before")
            if before is None:
                break
            query["before"] = before
        for page_items in reversed(pages):
            yield from reversed(page_items)

    # --- notebooks ------------------------------------------------------------------------
    def to_dataframe(self, experiment_id: str) -> pd.DataFrame:
        """The experiment's observations, one row each, columns as ``honed export`` writes
        them (pandas, loaded on first use)."""
        from honed import notebook

        data = self._experiment_with_observations(experiment_id)
        path = f"/v1/experiments/{experiment_id}/suggestions"
        # Deleted suggestions too: one that expired before its late report, or was deleted
        # after its result, still chose its point.
        suggestions = itertools.chain(self._pages(path), self._pages(path, {"deleted": "true"}))
        sources = {int(s["id"]): s["source"] for s in suggestions if s.get("source")}
        return notebook.frame_of(*data, sources=sources)

    def best_so_far_figure(self, experiment_id: str, metric: str | None = None) -> go.Figure:
        """The best value so far against the number of observations (plotly); ``metric``
        picks one of several."""
        from honed import notebook

        data = self._experiment_with_observations(experiment_id)
        return notebook.figure_of(*data, metric=metric)

    def _experiment_with_observations(self, experiment_id: str) -> tuple[JSON, list[JSON]]:
        experiment = self.request("GET", f"/v1/experiments/{experiment_id}")
        return experiment, list(self._pages(f"/v1/experiments/{experiment_id}/observations"))

    # --- experiments ----------------------------------------------------------------------
    def create_experiment(self, body: Mapping[str, Any]) -> Experiment:
        return Experiment.from_json(self.request("POST", "/v1/experiments", json=dict(body)))

    def fetch_experiment(self, experiment_id: str) -> Experiment:
        return Experiment.from_json(self.request("GET", f"/v1/experiments/{experiment_id}"))

    def list_experiments(self, state: str = "active") -> list[Experiment]:
        items = self._pages("/v1/experiments", {"state": state})
        return [Experiment.from_json(item) for item in items]

    # --- suggestions ----------------------------------------------------------------------
    def create_suggestion(
        self,
        experiment_id: str,
        metadata: Mapping[str, Any] | None = None,
        assignments: Mapping[str, Any] | None = None,
        max_wait: float | None = None,
        task: str | None = None,
    ) -> Suggestion:
        """``max_wait``: the most seconds to wait for a fresh model point (honed's own
        header); then the newest model point, or Sobol when the optimizer has none.
        ``task``: multitask, the task of a manual suggestion (with ``assignments``)."""
        body: JSON = {}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if assignments is not None:
            body["assignments"] = dict(assignments)
        if task is not None:
            body["task"] = task
        path = f"/v1/experiments/{experiment_id}/suggestions"
        sent = {headers.MAX_WAIT: f"{max(max_wait, 0.0):g}"} if max_wait is not None else None
        return Suggestion.from_json(self.request("POST", path, json=body, headers=sent))

    def list_suggestions(self, experiment_id: str, open_only: bool = False) -> list[Suggestion]:
        params = {"state": "open"} if open_only else {}
        items = self._pages(f"/v1/experiments/{experiment_id}/suggestions", params)
        return [Suggestion.from_json(item) for item in items]

    def update_suggestion(
        self, experiment_id: str, suggestion_id: str, metadata: Mapping[str, Any] | None
    ) -> Suggestion:
        path = f"/v1/experiments/{experiment_id}/suggestions/{suggestion_id}"
        body = {"metadata": dict(metadata) if metadata is not None else None}
        return Suggestion.from_json(self.request("PUT", path, json=body))

    def delete_suggestion(self, experiment_id: str, suggestion_id: str) -> None:
        self.request("DELETE", f"/v1/experiments/{experiment_id}/suggestions/{suggestion_id}")

    # --- observations ---------------------------------------------------------------------
    def create_observation(
        self,
        experiment_id: str,
        observation: NewObservation,
        idempotency_key: str | None = None,
    ) -> Observation:
        key = idempotency_key or uuid.uuid4().hex
        data = self.request(
            "POST",
            f"/v1/experiments/{experiment_id}/observations",
            json=observation.to_json(),
            headers={"Idempotency-Key": key},
        )
        return Observation.from_json(data)

    def create_observations(
        self,
        experiment_id: str,
        observations: Sequence[NewObservation],
        idempotency_key: str | None = None,
    ) -> list[Observation]:
        key = idempotency_key or uuid.uuid4().hex
        data = self.request(
            "POST",
            f"/v1/experiments/{experiment_id}/observations/batch",
            json={"observations": [o.to_json() for o in observations]},
            headers={"Idempotency-Key": key},
        )
        return [Observation.from_json(item) for item in data.get("data") or []]

    def list_observations(self, experiment_id: str) -> list[Observation]:
        items = self._pages(f"/v1/experiments/{experiment_id}/observations")
        return [Observation.from_json(item) for item in items]

    def best_assignments(self, experiment_id: str) -> list[BestAssignments]:
        data = self.request("GET", f"/v1/experiments/{experiment_id}/best_assignments")
        return [BestAssignments.from_json(item) for item in data.get("data") or []]


def _decode(response: httpx.Response) -> JSON:
    if (response.status_code == 204 or not response.content) and response.is_success:
        return {}
    try:
        data = response.json()
    except ValueError:
        data = None
    if not response.is_success:
        message = (
            data.get("message")
            if isinstance(data, dict) and data.get("message")
            else response.text[:500] or response.reason_phrase
        )
        raise error_for_status(response.status_code, str(message))
    if not isinstance(data, dict):
        raise error_for_status(502, f"honed answered with something not JSON: {response.text!r}")
    return data
