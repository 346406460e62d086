"""The experiment page's data, built once per version of its records.

A page polls every few seconds. An unchanged experiment is a 304 decided from the records'
version (routes.experiment_detail), for a few index reads. A changed one is built here and
kept (``PageCache``) for every other tab and person watching the same experiment, who would
otherwise each build it again after every change: at 30,000 observations a build is about
0.4 s of a core (docs/decisions.md: The dashboard's experiment page at 30,000 observations).
"""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pydantic_core

from honed.domain.tenancy import Token
from honed.server.dashboard import render
from honed.service.summaries import SummaryService

#: How many built pages a server process keeps, and how many bytes of them together: the
#: 30,000-observation page is 10 MB, so a few large experiments watched at once stay built
#: while the cache never holds more than a few such pages (one larger is not kept).
CACHED_PAGES = 8
CACHED_BYTES = 64 * 2**20


@dataclass(frozen=True)
class BuiltPage:
    """A page's data as JSON, but for what the clock changes: ``now`` and the open
    suggestions' ``age``, added by ``content``."""

    experiment_id: int
    #: The records' version it was built from (SummaryService.version).
    records: str
    #: ``render.page_version``: its ETag, unquoted.
    version: str
    fresh_until: int | None
    #: The JSON object without ``now`` and ``open_suggestions``.
    rest: bytes
    open_suggestions: tuple[dict[str, Any], ...]

    def content(self, now: int) -> bytes:
        """The page's JSON at ``now``."""
        clock = {
            "now": now,
            "open_suggestions": [
                {**s, "age": max(0, now - s["created"])} for s in self.open_suggestions
            ],
        }
        return _encoded(clock)[:-1] + b"," + self.rest[1:]

    def fresh_at(self, now: float) -> bool:
        return self.fresh_until is None or now < self.fresh_until


def build(summaries: SummaryService, caller: Token, experiment_id: int) -> BuiltPage:
    with _collection_paused():
        detail = summaries.detail(caller, experiment_id)
        data = render.detail_json(detail)
        clocked = data.pop("open_suggestions")
        del data["now"]
        rest = _encoded(data)
    return BuiltPage(
        experiment_id=experiment_id,
        records=detail.version,
        version=data["version"],
        fresh_until=detail.fresh_until,
        rest=rest,
        open_suggestions=tuple({k: v for k, v in s.items() if k != "age"} for s in clocked),
    )


def _encoded(data: dict[str, Any]) -> bytes:
    """JSON by pydantic-core's encoder (it comes with pydantic), much faster than json.dumps
    on a large page (docs/decisions.md: The dashboard's experiment page at 30,000
    observations). A value that is no finite number (none is stored; the API refuses them)
    is null rather than a page that fails."""
    return pydantic_core.to_json(data, inf_nan_mode="null")


class PageCache:
    """The most recently used built pages, the newest of each experiment only, bounded by
    ``pages`` and ``size`` (bytes). Thread-safe: the dashboard's routes run in a pool."""

    def __init__(self, pages: int = CACHED_PAGES, size: int = CACHED_BYTES) -> None:
        self._pages = pages
        self._size = size
        self._held: OrderedDict[int, BuiltPage] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, experiment_id: int, records: str, now: float) -> BuiltPage | None:
        """The page built from ``records`` if kept and still true at ``now``."""
        with self._lock:
            page = self._held.get(experiment_id)
            if page is None or page.records != records or not page.fresh_at(now):
                return None
            self._held.move_to_end(experiment_id)
            return page

    def put(self, page: BuiltPage) -> None:
        with self._lock:
            self._held.pop(page.experiment_id, None)
            if len(page.rest) > self._size:
                return
            self._held[page.experiment_id] = page
            while len(self._held) > self._pages or self._bytes() > self._size:
                self._held.popitem(last=False)

    def _bytes(self) -> int:
        return sum(len(page.rest) for page in self._held.values())


_paused = 0
_was_enabled = False
_pause_lock = threading.Lock()


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a page is built: a build makes many objects and
    no reference cycles, and the collections its allocations set off (each scanning every
    object alive) cost much of its time (docs/decisions.md: The dashboard's experiment page
    at 30,000 observations). Overlapping builds in other threads keep it paused until the
    last ends; a collector the program turned off stays off."""
    global _paused, _was_enabled
    with _pause_lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pause_lock:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()
