"""The worker loop's statements, and its observe transaction, on ``Prepared`` statements
(the suggestion create transaction is in suggestion_batch.py).

SqlStorage delegates here; the invariants are the Storage contract's (honed.storage.base).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter
from sqlalchemy import ColumnElement
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import bindparam
from sqlalchemy import cast
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from honed.domain.experiment import Experiment
from honed.domain.experiment import Metadata
from honed.domain.parameters import point_hash
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionState
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import UnprocessableError
from honed.storage.observations import IdempotencyKey
from honed.storage.observations import NewObservation
from honed.storage.optimizer import LOADED_CANDIDATES
from honed.storage.optimizer import Candidate
from honed.storage.optimizer import CandidateBasis
from honed.storage.sql import convert
from honed.storage.sql.codec import values_from_json
from honed.storage.sql.codec import values_to_json
from honed.storage.sql.database import RawTransaction
from honed.storage.sql.models import CANDIDATES
from honed.storage.sql.models import EXPERIMENTS
from honed.storage.sql.models import IDEMPOTENCY_KEYS
from honed.storage.sql.models import OBSERVATIONS
from honed.storage.sql.models import OPTIMIZER_STATE
from honed.storage.sql.models import QUEUED
from honed.storage.sql.models import SUGGESTIONS
from honed.storage.sql.prepared import Pending
from honed.storage.sql.prepared import Prepared


def _row_columns(table: Table) -> list[ColumnElement[Any]]:
    """A table's columns, ``metadata`` labelled ``meta`` as the ORM rows name it, so the
    converters read these rows and ORM rows alike."""
    return [column.label("meta") if column.name == "metadata" else column for column in table.c]


SUGGESTION_COLUMNS = _row_columns(SUGGESTIONS)
OBSERVATION_COLUMNS = _row_columns(OBSERVATIONS)
_EXPERIMENT_ID: BindParameter[int] = bindparam("experiment_id")

# The spec as its JSON text, which convert.experiment decodes once per distinct text
# (codec.spec_from_text), not on every request.
_experiment = select(
    *(cast(c, Text).label(c.name) if c.name == "spec" else c for c in EXPERIMENTS.c)
).where(EXPERIMENTS.c.id == _EXPERIMENT_ID)
EXPERIMENT = Prepared(_experiment)
# The row lock serializes suggestion creation per experiment on PostgreSQL, across
# processes; on SQLite BEGIN IMMEDIATE already holds the database lock. FOR NO KEY UPDATE,
# not FOR UPDATE: inserting an observation checks its foreign key to the experiment with a
# KEY SHARE lock, which FOR UPDATE blocks, so every observation queued behind suggestion
# creation (docs/decisions.md: Suggestion creation locks the experiment FOR NO KEY UPDATE).
EXPERIMENT_FOR_UPDATE = Prepared(_experiment.with_for_update(key_share=True))
_OPEN = (
    SUGGESTIONS.c.experiment_id == _EXPERIMENT_ID,
    SUGGESTIONS.c.state == SuggestionState.OPEN.value,
    ~SUGGESTIONS.c.deleted,
)
OPEN_SUGGESTIONS = Prepared(select(*SUGGESTION_COLUMNS).where(*_OPEN).order_by(SUGGESTIONS.c.id))
OPEN_POINTS = Prepared(select(SUGGESTIONS.c.point_hash).where(*_OPEN))
OPEN_COUNT = Prepared(select(func.count().label("count")).select_from(SUGGESTIONS).where(*_OPEN))
# Up to this many open suggestions a suggestion create reads all their hashes with the
# experiment's row, in its first round trip; with more, it asks only about the points it
# considers, an index lookup each (docs/decisions.md: A suggestion create reads only the
# open points it considers).
OPEN_READ_AT_ONCE = 64
OPEN_POINTS_AT_ONCE = Prepared(
    select(SUGGESTIONS.c.point_hash, SUGGESTIONS.c.lease_until)
    .where(*_OPEN)
    .limit(OPEN_READ_AT_ONCE + 1)
)
NEXT_QUEUED = Prepared(
    select(QUEUED).where(QUEUED.c.experiment_id == _EXPERIMENT_ID).order_by(QUEUED.c.id).limit(1)
)
DELETE_QUEUED = Prepared(delete(QUEUED).where(QUEUED.c.id == bindparam("b_id")))
# Locked (PostgreSQL): two reports of one suggestion at once queue here, so the second sees
# the first and is recognised as a repeat (the close below would lock it anyway). Only a
# suggestion of the experiment: an observation create reads it before it checks the caller.
SUGGESTION = Prepared(
    select(*SUGGESTION_COLUMNS)
    .where(
        SUGGESTIONS.c.id == bindparam("suggestion_id"),
        SUGGESTIONS.c.experiment_id == _EXPERIMENT_ID,
    )
    .with_for_update()
)
EXPIRE = Prepared(
    update(SUGGESTIONS)
    .where(
        SUGGESTIONS.c.experiment_id == _EXPERIMENT_ID,
        SUGGESTIONS.c.state == SuggestionState.OPEN.value,
        ~SUGGESTIONS.c.deleted,
        SUGGESTIONS.c.lease_until < bindparam("b_now"),
    )
    .values(deleted=True, modified=bindparam("b_modified"))
)
SET_CURSOR = Prepared(
    update(EXPERIMENTS)
    .where(EXPERIMENTS.c.id == bindparam("b_id"))
    .values(engine_cursor=bindparam("b_cursor"))
)
_SUGGESTION_KEYS = (
    "experiment_id",
    "assignments",
    "point_hash",
    "source",
    "state",
    "metadata",
    "created",
    "deleted",
    "lease_until",
    "model",
    "task",
    "modified",
)
INSERT_SUGGESTION = Prepared(insert(SUGGESTIONS).returning(SUGGESTIONS.c.id), _SUGGESTION_KEYS)
CLOSE_SUGGESTION = Prepared(
    update(SUGGESTIONS)
    .where(SUGGESTIONS.c.id == bindparam("b_id"))
    .values(state=SuggestionState.CLOSED.value, modified=bindparam("b_modified"))
)
_OBSERVATION_KEYS = (
    "experiment_id",
    "suggestion_id",
    "assignments",
    "values",
    "failed",
    "metadata",
    "created",
    "deleted",
    "point_hash",
    "modified",
    "task",
)
INSERT_OBSERVATION = Prepared(insert(OBSERVATIONS).returning(OBSERVATIONS.c.id), _OBSERVATION_KEYS)
INSERT_OBSERVATION_WITH_ID = Prepared(
    insert(OBSERVATIONS).returning(OBSERVATIONS.c.id), ("id", *_OBSERVATION_KEYS)
)
# PostgreSQL only: ids for observations to come, from the table's own sequence (as an
# insert would take them), so that what lists them is sent with the inserts.
NEXT_OBSERVATION_IDS = Prepared(
    select(
        func.nextval(func.pg_get_serial_sequence("observations", "id")).label("id")
    ).select_from(func.generate_series(1, bindparam("b_count")))
)
OBSERVATIONS_OF_SUGGESTION = Prepared(
    select(*OBSERVATION_COLUMNS).where(
        OBSERVATIONS.c.suggestion_id == bindparam("suggestion_id"), ~OBSERVATIONS.c.deleted
    )
)
IDEMPOTENCY_KEY = Prepared(
    select(IDEMPOTENCY_KEYS).where(
        IDEMPOTENCY_KEYS.c.client_id == bindparam("client_id"),
        IDEMPOTENCY_KEYS.c.key == bindparam("key"),
    )
)
INSERT_IDEMPOTENCY_KEY = Prepared(
    insert(IDEMPOTENCY_KEYS),
    ("client_id", "key", "experiment_id", "request_hash", "observation_ids", "created"),
)
OBSERVATION = Prepared(
    select(*OBSERVATION_COLUMNS).where(OBSERVATIONS.c.id == bindparam("observation_id"))
)
ALL_OBSERVATIONS = Prepared(
    select(*OBSERVATION_COLUMNS)
    .where(OBSERVATIONS.c.experiment_id == _EXPERIMENT_ID, ~OBSERVATIONS.c.deleted)
    .order_by(OBSERVATIONS.c.id)
)
COUNT_SUCCESSES = Prepared(
    select(func.count().label("count"))
    .select_from(OBSERVATIONS)
    .where(
        OBSERVATIONS.c.experiment_id == _EXPERIMENT_ID,
        ~OBSERVATIONS.c.deleted,
        ~OBSERVATIONS.c.failed,
    )
)
UNUSED_CANDIDATES = Prepared(
    select(CANDIDATES)
    .where(CANDIDATES.c.experiment_id == _EXPERIMENT_ID, ~CANDIDATES.c.used)
    .order_by(CANDIDATES.c.basis_modified.desc(), CANDIDATES.c.rank, CANDIDATES.c.id)
    .limit(LOADED_CANDIDATES)
)
FITTED = Prepared(
    select(
        OPTIMIZER_STATE.c.fitted_modified,
        OPTIMIZER_STATE.c.fitted_count,
        OPTIMIZER_STATE.c.fitted_batch,
        OPTIMIZER_STATE.c.fitted_pending,
        OPTIMIZER_STATE.c.fitted_at,
        OPTIMIZER_STATE.c.fit_seconds,
        OPTIMIZER_STATE.c.error_at,
    ).where(OPTIMIZER_STATE.c.experiment_id == _EXPERIMENT_ID)
)
# Observations created, changed or deleted after a fit read its data (index on modified).
CHANGED_SINCE = Prepared(
    select(OBSERVATIONS.c.suggestion_id).where(
        OBSERVATIONS.c.experiment_id == _EXPERIMENT_ID,
        OBSERVATIONS.c.modified > bindparam("b_basis"),
    )
)
USE_CANDIDATE = Prepared(
    update(CANDIDATES)
    .where(CANDIDATES.c.id == bindparam("b_id"), CANDIDATES.c.experiment_id == _EXPERIMENT_ID)
    .values(used=True)
)


def _among(table: Table, *where: ColumnElement[bool]) -> Callable[[int], Prepared]:
    """Statements reading which of ``count`` point hashes (bound as ``h0``...) ``table``
    has a row of under ``where``: one statement per count (a handful of points at a time),
    each an index lookup per hash, however many rows the experiment has."""

    @lru_cache(maxsize=64)
    def statement(count: int) -> Prepared:
        return Prepared(
            select(table.c.point_hash).where(
                *where, table.c.point_hash.in_([bindparam(f"h{i}") for i in range(count)])
            )
        )

    return statement


observed_among_statement = _among(
    OBSERVATIONS, OBSERVATIONS.c.experiment_id == _EXPERIMENT_ID, ~OBSERVATIONS.c.deleted
)
open_among_statement = _among(SUGGESTIONS, *_OPEN)


def metadata_json(metadata: Metadata | None) -> dict[str, Any] | None:
    return dict(metadata) if metadata is not None else None


def candidate_basis(tx: RawTransaction, experiment_id: int) -> CandidateBasis:
    key = {"experiment_id": experiment_id}
    state = FITTED.first(tx, key)
    if state is None:
        raise NotFoundError()
    basis = state.fitted_modified if state.fitted_modified is not None else -1.0
    pending = set(state.fitted_pending or ())
    changed = CHANGED_SINCE.scalars(tx, {**key, "b_basis": basis})
    return CandidateBasis(
        observations=state.fitted_count,
        batch=state.fitted_batch,
        unaccounted=sum(1 for s in changed if s is None or s not in pending),
        marker=(state.fitted_at, state.error_at),
        fit_seconds=state.fit_seconds,
    )


def expire_suggestions(tx: RawTransaction, experiment_id: int, now: float) -> int:
    return EXPIRE.run(
        tx, {"experiment_id": experiment_id, "b_now": now, "b_modified": time.time()}
    )


def observe(
    tx: RawTransaction,
    experiment_id: int,
    prepare: Callable[[Experiment], Sequence[NewObservation]],
    idempotency: IdempotencyKey | None = None,
    named: Sequence[int | None] = (),
) -> tuple[Experiment, list[Observation]]:
    """``Storage.observe``. On PostgreSQL in two round trips: the experiment, the key, the
    ``named`` suggestions and (with a key) the new observations' ids read together, then
    the writes with COMMIT."""
    # No row lock and no write to the experiment row: observations must not queue behind
    # suggestion creation, which locks that row.
    now = time.time()
    experiment_sent = EXPERIMENT.send(tx, {"experiment_id": experiment_id})
    key_sent = (
        IDEMPOTENCY_KEY.send(tx, {"client_id": idempotency.client_id, "key": idempotency.key})
        if idempotency is not None
        else None
    )
    # SQLite reads each when it comes to it: a sent SELECT stays active until read.
    pipelined = tx.pipeline is not None
    suggestions = NamedSuggestions(tx, experiment_id, named if pipelined else ())
    # The key lists the observations' ids: known in advance, it goes with the inserts.
    ids_sent = (
        NEXT_OBSERVATION_IDS.send(tx, {"b_count": len(named)})
        if pipelined and idempotency is not None and named
        else None
    )
    experiment_row = experiment_sent.first()
    if experiment_row is None:
        raise NotFoundError()
    experiment = convert.experiment(experiment_row)
    # First: prepare checks the caller's access, which a replay needs as much.
    observations = prepare(experiment)
    if idempotency is not None:
        assert key_sent is not None
        replayed = _replayed_key(tx, experiment_id, idempotency, key_sent.first())
        if replayed is not None:
            return experiment, replayed
    ids = ids_sent.scalars() if ids_sent is not None else []
    sent = send_observations(tx, experiment_id, observations, now, suggestions, ids)
    if idempotency is not None:
        INSERT_IDEMPOTENCY_KEY.send(
            tx,
            {
                "client_id": idempotency.client_id,
                "key": idempotency.key,
                "experiment_id": experiment_id,
                "request_hash": idempotency.request_hash,
                "observation_ids": [item.id for item in sent],
                "created": now,
            },
        )
    tx.commit_sent()
    return experiment, [item.observation() for item in sent]


def insert_observations(
    tx: RawTransaction,
    experiment_id: int,
    observations: Sequence[NewObservation],
    now: float,
) -> list[Observation]:
    """Insert in the caller's transaction, closing the suggestions they name (see
    ``send_observations``)."""
    sent = send_observations(
        tx, experiment_id, observations, now, NamedSuggestions(tx, experiment_id, ()), []
    )
    return [item.observation() for item in sent]


def send_observations(
    tx: RawTransaction,
    experiment_id: int,
    observations: Sequence[NewObservation],
    now: float,
    suggestions: NamedSuggestions,
    ids: Sequence[int],
) -> list[_Sent]:
    """Send the inserts, closing the suggestions they name. A repeat of a stored
    observation of a closed suggestion (same values, failed flag and metadata) stores
    nothing and stands for that observation. ``ids``: taken from the table's sequence for
    them, in order (PostgreSQL; else the insert takes one)."""
    unused_ids = iter(ids)
    created: list[_Sent] = []
    for index, new in enumerate(observations):
        assignments = new.assignments
        task = new.task
        if new.suggestion_id is not None:
            suggestion = suggestions.row(new.suggestion_id, index, len(observations))
            if suggestion.state == SuggestionState.CLOSED.value:
                repeated = _repeated_observation(tx, new)
                if repeated is not None:
                    created.append(_Sent(repeated))
                    continue
            else:
                CLOSE_SUGGESTION.send(tx, {"b_id": suggestion.id, "b_modified": now})
            assignments = suggestion.assignments
            task = suggestion.task
        assert assignments is not None
        row: dict[str, Any] = {
            "experiment_id": experiment_id,
            "suggestion_id": new.suggestion_id,
            "assignments": dict(assignments),
            "values": values_to_json(new.values),
            "failed": new.failed,
            "metadata": metadata_json(new.metadata),
            "created": now,
            "deleted": False,
            "point_hash": point_hash(assignments, task),
            "modified": now,
            "task": task,
        }
        given_id = next(unused_ids, None)
        if given_id is None:
            inserted = _Sent(INSERT_OBSERVATION.send(tx, row), row)
        else:
            row["id"] = given_id
            inserted = _Sent(INSERT_OBSERVATION_WITH_ID.send(tx, row), row)
        # Read at once unless pipelined (PostgreSQL): SQLite keeps each unread INSERT ...
        # RETURNING as an active statement, and every further insert cost more.
        if tx.pipeline is None:
            inserted.observation()
        created.append(inserted)
    return created


class _Sent:
    """An observation sent for insertion (its id read when asked for, see
    ``send_observations``), or a stored one it repeats."""

    def __init__(self, sent: Pending | Observation, row: dict[str, Any] | None = None) -> None:
        self._sent = sent
        self._row = row

    @property
    def id(self) -> int:
        if self._row is not None and "id" in self._row:
            return int(self._row["id"])
        return self.observation().id

    def observation(self) -> Observation:
        if not isinstance(self._sent, Observation):
            assert self._row is not None
            self._sent = _inserted(self._sent, self._row)
        return self._sent


def _inserted(sent: Pending, row: dict[str, Any]) -> Observation:
    (observation_id,) = sent.scalars()
    return Observation(
        id=observation_id,
        experiment_id=row["experiment_id"],
        suggestion_id=row["suggestion_id"],
        assignments=row["assignments"],
        values=values_from_json(row["values"]),
        failed=row["failed"],
        metadata=row["metadata"],
        created=int(row["created"]),
        task=row["task"],
    )


class NamedSuggestions:
    """The suggestion rows an observe transaction's observations name, locked. The ones
    named in advance are sent for at once, to travel with the transaction's first reads
    (PostgreSQL); any other is read when asked for."""

    def __init__(self, tx: RawTransaction, experiment_id: int, named: Sequence[int | None]):
        self._tx, self._experiment_id = tx, experiment_id
        self._sent = {
            suggestion_id: SUGGESTION.send(
                tx, {"suggestion_id": suggestion_id, "experiment_id": experiment_id}
            )
            for suggestion_id in dict.fromkeys(named)
            if suggestion_id is not None
        }

    def row(self, suggestion_id: int, index: int, total: int) -> Any:
        """As ``suggestion_for_observation``. Each row sent for is read once: a suggestion
        named again in the batch is read again, after the writes sent so far (its close)."""
        sent = self._sent.pop(suggestion_id, None)
        if sent is None:
            return suggestion_for_observation(
                self._tx, self._experiment_id, suggestion_id, index, total
            )
        return _usable_suggestion(sent.first(), self._experiment_id, suggestion_id, index, total)


def suggestion_for_observation(
    tx: RawTransaction, experiment_id: int, suggestion_id: int, index: int, total: int
) -> Any:
    """The suggestion row an observation names, or a 400 saying why it cannot be used."""
    row = SUGGESTION.first(tx, {"suggestion_id": suggestion_id, "experiment_id": experiment_id})
    return _usable_suggestion(row, experiment_id, suggestion_id, index, total)


def _usable_suggestion(
    row: Any | None, experiment_id: int, suggestion_id: int, index: int, total: int
) -> Any:
    if row is None:
        prefix = f"Error in observation {index + 1}/{total}: " if total > 1 else ""
        raise InvalidRequestError(
            f"{prefix}Invalid suggestion: {suggestion_id} is not a suggestion of experiment "
            f"{experiment_id}"
        )
    if row.deleted and row.lease_until is None:
        # An expired suggestion keeps its lease and still takes its late report.
        raise InvalidRequestError(f"Invalid suggestion: {suggestion_id} has been deleted")
    return row


def open_suggestions(tx: RawTransaction, experiment_id: int) -> list[Suggestion]:
    """Oldest first."""
    rows = OPEN_SUGGESTIONS.rows(tx, {"experiment_id": experiment_id})
    return [convert.suggestion(row) for row in rows]


def all_observations(tx: RawTransaction, experiment_id: int) -> list[Observation]:
    rows = ALL_OBSERVATIONS.rows(tx, {"experiment_id": experiment_id})
    return [convert.observation(row) for row in rows]


def unused_candidates(tx: RawTransaction, experiment_id: int) -> list[Candidate]:
    rows = UNUSED_CANDIDATES.rows(tx, {"experiment_id": experiment_id})
    return [
        Candidate(
            id=row.id,
            experiment_id=row.experiment_id,
            assignments=dict(row.assignments),
            basis_modified=row.basis_modified,
            rank=row.rank,
            task=row.task,
        )
        for row in rows
    ]


def hashes_among(
    statement: Callable[[int], Prepared], tx: RawTransaction, experiment_id: int, hashes: set[str]
) -> set[str]:
    if not hashes:
        return set()
    ordered = sorted(hashes)
    params: dict[str, Any] = {f"h{i}": value for i, value in enumerate(ordered)}
    params["experiment_id"] = experiment_id
    return set(statement(len(ordered)).scalars(tx, params))


def _repeated_observation(tx: RawTransaction, new: NewObservation) -> Observation | None:
    """A stored observation of the same suggestion with the same content, if any."""
    values = values_to_json(new.values)
    metadata = metadata_json(new.metadata)
    rows = OBSERVATIONS_OF_SUGGESTION.rows(tx, {"suggestion_id": new.suggestion_id})
    for row in rows:
        if row.values == values and row.failed == new.failed and row.meta == metadata:
            return convert.observation(row)
    return None


def _replayed_key(
    tx: RawTransaction, experiment_id: int, idempotency: IdempotencyKey, row: Any | None
) -> list[Observation] | None:
    """The observations stored with this key before (``row``: its stored row), or None for
    a new key."""
    if row is None:
        return None
    if row.request_hash != idempotency.request_hash or row.experiment_id != experiment_id:
        raise UnprocessableError(
            "Invalid Idempotency-Key: this key was used for a different request; send a new "
            "key with each new request"
        )
    sent = [OBSERVATION.send(tx, {"observation_id": i}) for i in row.observation_ids]
    return [convert.observation(found) for s in sent if (found := s.first()) is not None]
