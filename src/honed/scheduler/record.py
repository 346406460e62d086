"""How a trial is kept in the store: on its suggestion while open, on its observation once
finished. No table of its own, so the API and the dashboard show the same trials.

Suggestion metadata: ``honed_trial`` (index), ``honed_key`` (the name runners give the
trial, unique across stores), ``honed_status`` (pending | running),
``honed_attempts``, ``honed_started`` (epoch s), runner metadata and intermediate values as
JSON split over ``honed_runner_<k>`` / ``honed_progress_<k>`` (SigOpt metadata values are
strings of at most 500 characters). Observation metadata: ``honed_trial``, ``honed_status``
(completed | failed | early_stopped), ``honed_reason``, ``honed_started``, ``honed_ended``.
"""

from __future__ import annotations

import json
from typing import Any

from honed.client.models import Observation
from honed.client.models import Suggestion
from honed.domain import trials
from honed.scheduler.trial import Trial
from honed.scheduler.trial import TrialStatus

CHUNK = 500
MAX_CHUNKS = 40
INDEX = "honed_trial"
KEY = "honed_key"
STATUS = trials.STATUS_KEY  # the keys the server reads back (honed.domain.trials)
REASON_LENGTH = 500
HOSTNAME = "hostname"  # in a runner's metadata: the machine the trial runs on


def _split(prefix: str, value: Any, what: str) -> dict[str, str]:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(
            f"{what} is {len(text)} characters of JSON; at most {CHUNK * MAX_CHUNKS} are stored"
        )
    return {f"{prefix}{k}": chunk for k, chunk in enumerate(chunks)}


_join = trials.join_chunks


def suggestion_metadata(trial: Trial) -> dict[str, Any]:
    data: dict[str, Any] = {
        INDEX: trial.index,
        STATUS: trial.status.value,
        "honed_attempts": trial.deploy_attempts,
    }
    if trial.key:
        data[KEY] = trial.key
    if trial.started is not None:
        data["honed_started"] = trial.started
    if trial.runner_metadata:
        data |= _split("honed_runner_", trial.runner_metadata, "The runner's metadata")
    if trial.progress:
        curve = [[step, value] for step, value in sorted(trial.progress.items())]
        data |= _split(trials.PROGRESS_PREFIX, curve[-200:], "The intermediate values")
    return data


def observation_metadata(trial: Trial) -> dict[str, Any]:
    data: dict[str, Any] = {INDEX: trial.index, STATUS: trial.status.value}
    if trial.reason:
        data["honed_reason"] = trial.reason[-REASON_LENGTH:]
    if trial.started is not None:
        data["honed_started"] = trial.started
    if trial.ended is not None:
        data["honed_ended"] = trial.ended
    hostname = trial.runner_metadata.get(HOSTNAME)
    if isinstance(hostname, str) and hostname:
        # Where the trial ran, under the key workers report theirs: the dashboard's
        # timeline and workers panel group by it.
        data[HOSTNAME] = hostname[:REASON_LENGTH]
    return data


def is_trial(suggestion: Suggestion) -> bool:
    return INDEX in suggestion.metadata


def trial_from_records(suggestion: Suggestion, observation: Observation | None) -> Trial:
    meta = suggestion.metadata
    done = observation.metadata if observation is not None else {}
    return Trial(
        index=int(meta[INDEX]),
        id=suggestion.id,
        assignments=dict(suggestion.assignments),
        # Trials stored before keys existed are named by their suggestion id.
        key=str(meta.get(KEY) or suggestion.id),
        status=_status(meta, observation),
        runner_metadata=_join("honed_runner_", meta) or {},
        deploy_attempts=int(meta.get("honed_attempts", 0)),
        started=_float(done.get("honed_started")) or _float(meta.get("honed_started")),
        progress={float(s): float(v) for s, v in _join(trials.PROGRESS_PREFIX, meta) or []},
        source=suggestion.source,
        model=suggestion.model,
        task=suggestion.task,
        values=dict(observation.values) if observation is not None else {},
        reason=done.get("honed_reason"),
        ended=(
            _float(done.get("honed_ended")) or float(observation.created)
            if observation is not None
            else None
        ),
        observation_id=observation.id if observation is not None else None,
    )


def _status(meta: dict[str, Any], observation: Observation | None) -> TrialStatus:
    if observation is None:
        return TrialStatus.RUNNING if meta.get(STATUS) == "running" else TrialStatus.PENDING
    stored = observation.metadata.get(STATUS)
    if stored in {s.value for s in TrialStatus if s.terminal}:
        return TrialStatus(stored)
    return TrialStatus.FAILED if observation.failed else TrialStatus.COMPLETED


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None
