"""How a scheduler trial reads from the records it is kept in (``honed.scheduler.record``
writes them): its status, reason, times and intermediate values live in suggestion and
observation metadata, so the API, the dashboard and a resumed scheduler see one truth.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from honed.domain.records import Observation

STATUS_KEY = "honed_status"
REASON_KEY = "honed_reason"
STARTED_KEY = "honed_started"
ENDED_KEY = "honed_ended"
PROGRESS_PREFIX = "honed_progress_"
EARLY_STOPPED = "early_stopped"


def join_chunks(prefix: str, metadata: Mapping[str, Any] | None) -> Any:
    """A JSON value split over ``<prefix>0``, ``<prefix>1``, ... (metadata values are
    strings of at most 500 characters); None when there is none."""
    if not metadata:
        return None
    keys = sorted(
        (int(k[len(prefix) :]), k)
        for k in metadata
        if k.startswith(prefix) and k[len(prefix) :].isdigit()
    )
    if not keys:
        return None
    return json.loads("".join(str(metadata[k]) for _, k in keys))


def is_early_stopped(observation: Observation) -> bool:
    """Ended by an early-stopping rule: its value is a partial one (the curve's last)."""
    return (observation.metadata or {}).get(STATUS_KEY) == EARLY_STOPPED


def status_of(observation: Observation) -> str:
    """completed | failed | early_stopped."""
    if observation.failed:
        return "failed"
    return EARLY_STOPPED if is_early_stopped(observation) else "completed"


def progress_curve(suggestion_metadata: Mapping[str, Any] | None) -> list[tuple[float, float]]:
    """The intermediate values a trial reported, ``(step, value)`` by step."""
    try:
        pairs = join_chunks(PROGRESS_PREFIX, suggestion_metadata) or []
        return sorted((float(step), float(value)) for step, value in pairs)
    except (ValueError, TypeError):  # metadata a user wrote by hand under these keys
        return []


def number_of(metadata: Mapping[str, Any] | None, key: str) -> float | None:
    value = (metadata or {}).get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
