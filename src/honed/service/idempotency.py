"""Idempotent observation creates.

A client that sends ``Idempotency-Key: <key>`` with ``POST .../observations`` (or
``.../observations/batch``) and retries with the same key after a timeout, a dropped
connection or a 503 gets the first answer back and never a second observation. Keys are per
client (tenant), kept for ``KEY_RETENTION_SECONDS``, and stored in the transaction that
stores the observations, so they hold across server processes on one database. The same key
with a different request answers 422.

Without a key, honed still recognises a plain retry: an observation that names a suggestion
which already has an observation with the same values, failed flag and metadata returns that
observation instead of storing a copy (see ``Storage.observe``). sigopt-server stores every
observation it is sent (several may name one suggestion); honed differs only for exact
repeats, which a worker loop never means as a second evaluation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Sequence

from honed.domain.records import ObservationInput
from honed.errors import InvalidRequestError
from honed.storage.observations import IdempotencyKey
from honed.storage.observations import ObservationStore

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
KEY_RETENTION_SECONDS = 24 * 3600.0
PURGE_EVERY_SECONDS = 3600.0


def checked_key(key: str) -> str:
    """Keys are 1 to 255 printable ASCII characters (a UUID is the usual choice)."""
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise InvalidRequestError(
            f"Invalid {HEADER} header: use 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


def fingerprint(experiment_id: int, given: Sequence[ObservationInput], batch: bool) -> str:
    """A digest of what the request asks for, to refuse a key reused for another one."""
    payload = {
        "experiment": experiment_id,
        "batch": batch,
        "observations": [_fields(item) for item in given],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _fields(given: ObservationInput) -> dict[str, object]:
    """An input's fields; the task's only when sent, so that a plain observation's digest
    is the one a server before multitask stored for the same key."""
    fields = dataclasses.asdict(given)
    if not given.task_sent and given.task is None:
        del fields["task"], fields["task_sent"]
    return fields


class KeyPurger:
    """Forgets old keys now and then, at most once per PURGE_EVERY_SECONDS per process."""

    def __init__(self, storage: ObservationStore) -> None:
        self._storage = storage
        self._next = 0.0
        self._lock = threading.Lock()

    def maybe_purge(self) -> None:
        now = time.monotonic()
        if now < self._next or not self._lock.acquire(blocking=False):
            return
        try:
            self._next = now + PURGE_EVERY_SECONDS
            self._storage.purge_idempotency_keys(time.time() - KEY_RETENTION_SECONDS)
        finally:
            self._lock.release()


def idempotency_for(
    client_id: int,
    key: str | None,
    experiment_id: int,
    given: Sequence[ObservationInput],
    batch: bool,
) -> IdempotencyKey | None:
    if key is None:
        return None
    return IdempotencyKey(client_id, checked_key(key), fingerprint(experiment_id, given, batch))
