"""The suggestion create transaction: one lock of the experiment, one read of its row and
open points, and the decisions of one or more requests taken one after the other (a
hand-out queue's group commit; docs/decisions.md: Suggestion creates of one experiment
committed in groups).

SqlStorage delegates here; the invariants are the Storage contract's (honed.storage.base).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from honed.domain.experiment import Experiment
from honed.domain.parameters import point_hash
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionState
from honed.errors import HonedError
from honed.errors import NotFoundError
from honed.storage.optimizer import LOADED_CANDIDATES
from honed.storage.optimizer import Candidate
from honed.storage.optimizer import CandidateBasis
from honed.storage.sql import convert
from honed.storage.sql.database import RawTransaction
from honed.storage.sql.hot import COUNT_SUCCESSES
from honed.storage.sql.hot import DELETE_QUEUED
from honed.storage.sql.hot import EXPERIMENT_FOR_UPDATE
from honed.storage.sql.hot import EXPIRE
from honed.storage.sql.hot import INSERT_SUGGESTION
from honed.storage.sql.hot import NEXT_QUEUED
from honed.storage.sql.hot import OPEN_COUNT
from honed.storage.sql.hot import OPEN_POINTS
from honed.storage.sql.hot import OPEN_POINTS_AT_ONCE
from honed.storage.sql.hot import OPEN_READ_AT_ONCE
from honed.storage.sql.hot import SET_CURSOR
from honed.storage.sql.hot import USE_CANDIDATE
from honed.storage.sql.hot import all_observations
from honed.storage.sql.hot import candidate_basis
from honed.storage.sql.hot import hashes_among
from honed.storage.sql.hot import metadata_json
from honed.storage.sql.hot import observed_among_statement
from honed.storage.sql.hot import open_among_statement
from honed.storage.sql.hot import open_suggestions
from honed.storage.sql.hot import unused_candidates
from honed.storage.sql.prepared import Pending
from honed.storage.suggestions import Declined
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision

Decide = Callable[[SuggestionContext], SuggestionDecision | Declined]


def create_suggestions(
    tx: RawTransaction, experiment_id: int, decisions: Sequence[Decide[Declined]]
) -> list[Suggestion | Declined | HonedError]:
    key = {"experiment_id": experiment_id}
    # One round trip on PostgreSQL: the server runs these in order, so the reads see the
    # state after the row lock was granted.
    locked = EXPERIMENT_FOR_UPDATE.send(tx, key)
    open_sent = OPEN_POINTS_AT_ONCE.send(tx, key)
    queued_sent = NEXT_QUEUED.send(tx, key)
    row = locked.first()
    open_points = open_sent.rows()
    queued = queued_sent.first()
    if row is None:
        raise NotFoundError()
    experiment = convert.experiment(row)
    ttl = experiment.spec.suggestion_ttl_seconds
    now = time.time()
    if ttl is not None:
        EXPIRE.send(tx, {**key, "b_now": now, "b_modified": now})
    open_hashes: set[str] | None = None
    if len(open_points) <= OPEN_READ_AT_ONCE:
        # Every open point, read before the EXPIRE: those it closes are left out here.
        open_hashes = {
            p.point_hash
            for p in open_points
            if ttl is None or p.lease_until is None or p.lease_until >= now
        }
        open_count = len(open_hashes)
    else:
        # Counted, and later asked about, after the EXPIRE: what it closed is not open.
        (open_count,) = OPEN_COUNT.scalars(tx, key)
        if open_count <= OPEN_READ_AT_ONCE * len(decisions):
            # A batch reads them all when that is fewer rows per decision than a first
            # round trip reads: a lookup per decision cost more than the decision.
            open_hashes = set(OPEN_POINTS.scalars(tx, key))
    batch = _Batch(tx, experiment_id, row, experiment, open_hashes, int(open_count), queued)
    outcomes: list[Suggestion | Declined | HonedError | _Inserted] = []
    for decide in decisions:
        try:
            decision = decide(batch.context())
        except HonedError as error:  # this request's own answer; the others go on
            outcomes.append(error)
            continue
        outcomes.append(
            batch.take(decision) if isinstance(decision, SuggestionDecision) else decision
        )
    if batch.cursor != row.engine_cursor:
        SET_CURSOR.send(tx, {"b_id": experiment_id, "b_cursor": batch.cursor})
    # The writes and COMMIT in one round trip: the experiment's row lock, which every
    # suggestion of this experiment queues on, is held one round trip less.
    tx.commit_sent()
    return [o.suggestion() if isinstance(o, _Inserted) else o for o in outcomes]


class _Inserted:
    """A suggestion sent for insertion, its id read after the commit was sent (pipelined
    on PostgreSQL) or at once (SQLite keeps an unread INSERT ... RETURNING active, and
    every later statement costs more)."""

    def __init__(
        self, sent: Pending, values: dict[str, Any], decision: SuggestionDecision
    ) -> None:
        self._values = values
        self._decision = decision
        self._sent: Pending | None = sent
        self._id: int | None = None

    def read_id(self) -> None:
        if self._sent is not None:
            (self._id,) = self._sent.scalars()
            self._sent = None

    def suggestion(self) -> Suggestion:
        self.read_id()
        assert self._id is not None
        values, new = self._values, self._decision.suggestion
        lease_until = values["lease_until"]
        return Suggestion(
            id=self._id,
            experiment_id=values["experiment_id"],
            assignments=values["assignments"],
            state=SuggestionState.OPEN,
            source=new.source,
            metadata=values["metadata"],
            created=int(values["created"]),
            lease_until=int(lease_until) if lease_until is not None else None,
            model=new.model,
            task=new.task,
        )


class _Batch:
    """The experiment as the decisions of one transaction leave it, one after the other:
    each ``context`` counts the suggestions taken before it as open."""

    def __init__(
        self,
        tx: RawTransaction,
        experiment_id: int,
        row: Any,
        experiment: Experiment,
        open_hashes: set[str] | None,
        open_count: int,
        queued: Any | None,
    ) -> None:
        self._tx = tx
        self._experiment_id = experiment_id
        self._key = {"experiment_id": experiment_id}
        self._experiment = experiment
        self._ttl = experiment.spec.suggestion_ttl_seconds
        #: Every open point when there were few (else asked about in the database).
        self._open_hashes = open_hashes
        self._open_count = open_count
        #: Points this transaction handed out.
        self._taken: set[str] = set()
        self._queued = queued
        self._queued_read = True
        self.cursor: int = row.engine_cursor
        self._candidates: list[Candidate] | None = None
        self._used: set[int] = set()
        self._successes: int | None = None
        self._basis: CandidateBasis | None = None
        self._observations: list[Observation] | None = None

    def context(self) -> SuggestionContext:
        if not self._queued_read:
            self._queued = NEXT_QUEUED.first(self._tx, self._key)
            self._queued_read = True
        queued = self._queued
        return SuggestionContext(
            experiment=self._experiment,
            open_count=self._open_count,
            next_queued=convert.queued_suggestion(queued) if queued is not None else None,
            cursor=self.cursor,
            open_among=self._open_among,
            load_open_hashes=self._load_open_hashes,
            # The loaders read after the EXPIRE and this transaction's inserts.
            load_open_suggestions=lambda: open_suggestions(self._tx, self._experiment_id),
            load_observations=self._load_observations,
            load_candidates=self._load_candidates,
            observed_among=lambda hashes: hashes_among(
                observed_among_statement, self._tx, self._experiment_id, hashes
            ),
            count_successes=self._count_successes,
            load_basis=self._load_basis,
        )

    def take(self, decision: SuggestionDecision) -> _Inserted:
        """Send the decision's writes; the next context sees them."""
        tx, new = self._tx, decision.suggestion
        if new.queued_id is not None:
            if self._queued is None or self._queued.id != new.queued_id:
                raise ValueError("a decision may only consume the next queued suggestion")
            DELETE_QUEUED.send(tx, {"b_id": new.queued_id})
            # The next one is read only when another decision follows.
            self._queued_read = False
        if decision.candidate_id is not None:
            USE_CANDIDATE.send(tx, {"b_id": decision.candidate_id, **self._key})
            self._used.add(decision.candidate_id)
        self.cursor = decision.cursor
        created = time.time()
        hashed = point_hash(new.assignments, new.task)
        values: dict[str, Any] = {
            "experiment_id": self._experiment_id,
            "assignments": dict(new.assignments),
            "point_hash": hashed,
            "source": new.source.value,
            "state": SuggestionState.OPEN.value,
            "metadata": metadata_json(new.metadata),
            "created": created,
            "deleted": False,
            "lease_until": created + self._ttl if self._ttl is not None else None,
            "model": convert.model_json(new.model),
            "task": new.task,
            "modified": created,
        }
        inserted = _Inserted(INSERT_SUGGESTION.send(tx, values), values, decision)
        if tx.pipeline is None:
            inserted.read_id()
        self._taken.add(hashed)
        self._open_count += 1
        return inserted

    def _open_among(self, hashes: set[str]) -> set[str]:
        if self._open_hashes is not None:
            return hashes & (self._open_hashes | self._taken)
        # The database sees this transaction's inserts.
        return hashes_among(open_among_statement, self._tx, self._experiment_id, hashes)

    def _load_open_hashes(self) -> frozenset[str]:
        if self._open_hashes is not None:
            return frozenset(self._open_hashes | self._taken)
        return frozenset(OPEN_POINTS.scalars(self._tx, self._key))

    def _load_candidates(self) -> list[Candidate]:
        """Unused candidates, read once per transaction; the ones this transaction took
        are left out (read again once every one read is taken and more may be stored)."""
        cached = self._candidates
        remaining = [c for c in cached if c.id not in self._used] if cached is not None else []
        if cached is None or (not remaining and len(cached) >= LOADED_CANDIDATES):
            self._candidates = unused_candidates(self._tx, self._experiment_id)
            remaining = [c for c in self._candidates if c.id not in self._used]
        return remaining

    def _count_successes(self) -> int:
        if self._successes is None:
            self._successes = int(COUNT_SUCCESSES.scalars(self._tx, self._key)[0])
        return self._successes

    def _load_basis(self) -> CandidateBasis:
        if self._basis is None:
            self._basis = candidate_basis(self._tx, self._experiment_id)
        return self._basis

    def _load_observations(self) -> list[Observation]:
        if self._observations is None:
            self._observations = all_observations(self._tx, self._experiment_id)
        return list(self._observations)
