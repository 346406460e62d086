"""A small read-only HTTP client for the CLI and the notebook helpers (httpx, v1 API).

Kept in one module so that it can give way to ``honed.client`` without touching its
callers: they use only :class:`Remote` and the wire JSON it returns.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

import httpx

from honed.errors import HonedError
from honed.errors import error_for_status

JSON = dict[str, Any]
DEFAULT_URL = "http://127.0.0.1:8080"
PAGE_LIMIT = 1000


class Remote:
    """The v1 API of one honed server, as one token sees it.

    Args:
        url: the server; ``SIGOPT_API_URL`` or http://127.0.0.1:8080 when None.
        token: an API token; ``SIGOPT_API_TOKEN`` when None.
        transport: what carries the requests instead of the network (the CLI passes an
            embedded database's, honed.client.embedded).

    Raises:
        HonedError: the server's error (its message and status) for any failed request.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        url = url or os.environ.get("SIGOPT_API_URL") or DEFAULT_URL
        token = token or os.environ.get("SIGOPT_API_TOKEN")
        if not token:
            raise HonedError("No API token: pass --token (or token=...) or set SIGOPT_API_TOKEN.")
        self.url = url.rstrip("/")
        # Redirects followed: /v1/experiments/{id} answers an AI experiment with a 301 to
        # /v1/aiexperiments/{id}.
        self._http = httpx.Client(
            base_url=self.url,
            auth=(token, ""),
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, path: str, **params: Any) -> JSON:
        try:
            response = self._http.get(path, params=params)
        except httpx.HTTPError as error:
            raise HonedError(f"Cannot reach {self.url}: {error}") from None
        body: JSON
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.is_error:
            message = body.get("message") or f"HTTP {response.status_code} from {path}"
            raise error_for_status(response.status_code, message)
        return body

    def pages(
        self,
        path: str,
        on_page: Callable[[int, int], None] | None = None,
        **params: Any,
    ) -> Iterator[JSON]:
        """Every item of a paginated list, newest first; ``on_page(done, total)`` after each."""
        before = None
        done = 0
        while True:
            query = {"limit": PAGE_LIMIT, **params}
            if before is not None:
                query["before"] = before
            page = self.get(path, **query)
            data = page.get("data", [])
            yield from data
            done += len(data)
            if on_page is not None:
                on_page(done, int(page.get("count") or done))
            before = (page.get("paging") or {}).get("before")
            if not data or before is None:
                return

    def experiments(self, state: str = "active") -> list[JSON]:
        return list(self.pages("/v1/experiments", state=state))

    def experiment(self, experiment_id: str) -> JSON:
        return self.get(f"/v1/experiments/{experiment_id}")

    def observations(
        self, experiment_id: str, on_page: Callable[[int, int], None] | None = None
    ) -> list[JSON]:
        """Every observation, oldest first."""
        items = list(self.pages(f"/v1/experiments/{experiment_id}/observations", on_page))
        return sorted(items, key=lambda o: int(o["id"]))

    def suggestions_by_id(
        self, experiment_id: str, on_page: Callable[[int, int], None] | None = None
    ) -> dict[int, JSON]:
        """Every suggestion by id, for what the exports show of the observations that
        answered them (their ``source``, honed's extension, and intermediate values).
        Deleted suggestions too (listed apart, after the others): one that expired before
        its late report, or was deleted after its result, still chose its point."""
        path = f"/v1/experiments/{experiment_id}/suggestions"
        items = itertools.chain(self.pages(path, on_page), self.pages(path, deleted="true"))
        return {int(s["id"]): s for s in items}

    def suggestion_sources(
        self, experiment_id: str, on_page: Callable[[int, int], None] | None = None
    ) -> dict[int, str]:
        """Each suggestion's ``source`` by id: the exports' ``source``."""
        return sources_of(self.suggestions_by_id(experiment_id, on_page))

    def open_suggestions(self, experiment_id: str) -> list[JSON]:
        items = self.pages(f"/v1/experiments/{experiment_id}/suggestions", state="open")
        return sorted(items, key=lambda s: int(s["id"]))

    def best_assignments(self, experiment_id: str) -> list[JSON]:
        return list(self.pages(f"/v1/experiments/{experiment_id}/best_assignments"))


def sources_of(suggestions: Mapping[int, JSON]) -> dict[int, str]:
    """The ``source`` of each v1 suggestion that has one, by id."""
    return {i: s["source"] for i, s in suggestions.items() if s.get("source")}
