"""The SQL implementation of the Storage contract (see honed.storage.base for invariants)."""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import exc
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import Metadata
from honed.domain.optimizer import OptimizerStatus
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.parameters import Assignments
from honed.domain.parameters import point_hash
from honed.domain.records import Observation
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionState
from honed.domain.tenancy import Client
from honed.domain.tenancy import Token
from honed.domain.tenancy import TokenType
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import ServiceUnavailableError
from honed.storage.base import Storage
from honed.storage.experiments import ExperimentPatch
from honed.storage.experiments import ExperimentQuery
from honed.storage.observations import IdempotencyKey
from honed.storage.observations import NewObservation
from honed.storage.observations import ObservationOrder
from honed.storage.observations import ObservationPatch
from honed.storage.observations import ObservationTotals
from honed.storage.optimizer import LEASE_OWNER_SILENT_SECONDS
from honed.storage.optimizer import CandidateSet
from honed.storage.optimizer import FitInputs
from honed.storage.optimizer import FitMarker
from honed.storage.optimizer import FitTurn
from honed.storage.optimizer import OptimizerWork
from honed.storage.optimizer import lease_is_live
from honed.storage.sql import convert
from honed.storage.sql import hot
from honed.storage.sql import suggestion_batch
from honed.storage.sql import totals
from honed.storage.sql.analyses import SqlModelAnalyses
from honed.storage.sql.attachments import SqlRunAttachments
from honed.storage.sql.codec import spec_to_json
from honed.storage.sql.codec import values_to_json
from honed.storage.sql.database import DEFAULT_POOL_SIZE
from honed.storage.sql.database import Database
from honed.storage.sql.database import RawTransaction
from honed.storage.sql.database import Transactions
from honed.storage.sql.database import open_database
from honed.storage.sql.migrate import upgrade
from honed.storage.sql.models import CANDIDATES
from honed.storage.sql.models import IDEMPOTENCY_KEYS
from honed.storage.sql.models import OPTIMIZER_STATE
from honed.storage.sql.models import SUGGESTIONS
from honed.storage.sql.models import CandidateRow
from honed.storage.sql.models import ClientRow
from honed.storage.sql.models import ExperimentRow
from honed.storage.sql.models import ObservationRow
from honed.storage.sql.models import OptimizerProcessRow
from honed.storage.sql.models import OptimizerStateRow
from honed.storage.sql.models import ProjectRow
from honed.storage.sql.models import QueuedSuggestionRow
from honed.storage.sql.models import SuggestionRow
from honed.storage.sql.models import TokenRow
from honed.storage.sql.queries import count_rows as _count
from honed.storage.sql.queries import experiment_updated_key
from honed.storage.sql.queries import experiment_version as _experiment_version
from honed.storage.sql.queries import get_row as _get
from honed.storage.sql.queries import observation_sort_key
from honed.storage.sql.queries import optimized_experiments
from honed.storage.sql.queries import paginate as _paginate
from honed.storage.sql.queue_version import optimizer_work_version
from honed.storage.sql.runs import ProjectsAndRuns
from honed.storage.suggestions import Declined
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision

Child = TypeVar("Child", SuggestionRow, ObservationRow, QueuedSuggestionRow)


def _json(metadata: Metadata | None) -> dict[str, Any] | None:
    return dict(metadata) if metadata is not None else None


class SqlStorage(ProjectsAndRuns, SqlRunAttachments, SqlModelAnalyses, Storage):
    def __init__(self, database: Database) -> None:
        self.database = database
        self._tx = Transactions(database)
        self.local = database.is_sqlite

    @classmethod
    def from_url(
        cls, url: str, migrate: bool = True, pool_size: int = DEFAULT_POOL_SIZE
    ) -> SqlStorage:
        """``pool_size``: connections this process keeps to PostgreSQL (unused on SQLite).

        A URL that names no usable database is InvalidRequestError; one that cannot be
        opened (no such directory, not a database file, no server) ServiceUnavailableError.
        """
        try:
            database = open_database(url, pool_size)
        except exc.ArgumentError as error:  # unreadable, or a dialect that is not installed
            raise InvalidRequestError(f"database URL {_shown(url)}: {error}") from error
        try:
            if migrate:
                upgrade(database)
        except exc.DBAPIError as error:
            database.dispose()
            raise ServiceUnavailableError(
                f"cannot open the database {_shown(url)}: {error.orig}"
            ) from error
        return cls(database)

    # --- tenants and tokens -------------------------------------------------------------
    def create_client(self, name: str) -> Client:
        with self._tx.write() as session:
            row = ClientRow(name=name, created=time.time())
            session.add(row)
            session.flush()
            return convert.client(row)

    def get_client(self, client_id: int) -> Client:
        with self._tx.read() as session:
            return convert.client(_get(session, ClientRow, client_id))

    def first_client(self) -> Client | None:
        with self._tx.read() as session:
            row = session.scalars(select(ClientRow).order_by(ClientRow.id).limit(1)).first()
            return convert.client(row) if row is not None else None

    def create_token(
        self,
        client_id: int,
        token_hash: str,
        token_type: TokenType,
        permissions: str,
        description: str | None = None,
        experiment_id: int | None = None,
    ) -> Token:
        with self._tx.write() as session:
            _get(session, ClientRow, client_id)
            if experiment_id is not None:
                experiment = _get(session, ExperimentRow, experiment_id)
                if experiment.client_id != client_id:
                    raise NotFoundError(f"Experiment {experiment_id} not found")
            row = TokenRow(
                client_id=client_id,
                token_hash=token_hash,
                token_type=token_type.value,
                permissions=permissions,
                description=description,
                created=time.time(),
                revoked=False,
                experiment_id=experiment_id,
            )
            session.add(row)
            session.flush()
            return convert.token(row)

    def find_token(self, token_hash: str) -> Token | None:
        with self._tx.read() as session:
            row = session.scalars(
                select(TokenRow).where(TokenRow.token_hash == token_hash)
            ).first()
            return convert.token(row) if row is not None else None

    def list_tokens(self, client_id: int) -> list[Token]:
        with self._tx.read() as session:
            rows = session.scalars(
                select(TokenRow).where(TokenRow.client_id == client_id).order_by(TokenRow.id)
            )
            return [convert.token(row) for row in rows]

    def revoke_token(self, token_id: int) -> Token:
        with self._tx.write() as session:
            row = _get(session, TokenRow, token_id)
            row.revoked = True
            return convert.token(row)

    # --- experiments --------------------------------------------------------------------
    def create_experiment(self, client_id: int, spec: ExperimentSpec) -> Experiment:
        now = time.time()
        with self._tx.write() as session:
            _get(session, ClientRow, client_id)
            _check_project(session, client_id, spec.project)
            row = ExperimentRow(
                client_id=client_id,
                name=spec.name,
                type=spec.type.value,
                state=ExperimentState.ACTIVE.value,
                development=spec.development,
                spec=spec_to_json(spec),
                created=now,
                updated=now,
                engine_cursor=0,
                runs_only=spec.runs_only,
                project=spec.project,
            )
            session.add(row)
            session.flush()
            session.add(
                OptimizerStateRow(experiment_id=row.id, fitted_count=0, stored_candidates=0)
            )
            return convert.experiment(row)

    def get_experiment(self, experiment_id: int) -> Experiment:
        with self._tx.read() as session:
            return convert.experiment(_get(session, ExperimentRow, experiment_id))

    def experiment_version(self, experiment_id: int) -> str:
        with self._tx.read() as session:
            return _experiment_version(session, experiment_id)

    def list_experiments(
        self,
        client_id: int,
        page: PageRequest,
        states: Sequence[ExperimentState] = (ExperimentState.ACTIVE,),
        development: bool | None = None,
        project: str | None = None,
        runs_only: bool | None = False,
        experiment_id: int | None = None,
        query: ExperimentQuery | None = None,
    ) -> Page[Experiment]:
        query = query or ExperimentQuery()
        conditions = [
            ExperimentRow.client_id == client_id,
            ExperimentRow.state.in_([s.value for s in states]),
        ]
        if experiment_id is not None:
            conditions.append(ExperimentRow.id == experiment_id)
        if development is not None:
            conditions.append(ExperimentRow.development == development)
        if project is not None:
            conditions.append(ExperimentRow.project == project)
        if runs_only is not None:
            conditions.append(ExperimentRow.runs_only == runs_only)
        if query.search:
            conditions.append(
                func.lower(ExperimentRow.name).contains(query.search.lower(), autoescape=True)
            )
        if query.created_from is not None:
            conditions.append(ExperimentRow.created >= query.created_from)
        if query.created_before is not None:
            conditions.append(ExperimentRow.created < query.created_before)
        key = experiment_updated_key() if query.recent else None
        with self._tx.read() as session:
            return _paginate(session, ExperimentRow, conditions, page, convert.experiment, key)

    def update_experiment(self, experiment_id: int, patch: ExperimentPatch) -> Experiment:
        with self._tx.write() as session:
            # Locked before it is read (PostgreSQL): the spec is rewritten whole, so two
            # updates at once would otherwise lose one's fields.
            row = session.scalars(
                select(ExperimentRow)
                .where(ExperimentRow.id == experiment_id)
                .with_for_update(key_share=True)
            ).first()
            if row is None:
                raise NotFoundError()
            spec = spec_to_json(patch.spec) if patch.spec is not None else dict(row.spec)
            if patch.spec is not None:
                # The name and project live in columns of their own, not in the JSON spec.
                row.name = patch.spec.name
                if patch.spec.project != row.project:
                    _check_project(session, row.client_id, patch.spec.project)
                    row.project = patch.spec.project
            if patch.name is not None:
                row.name = patch.name
            if patch.state is not None:
                row.state = patch.state.value
            if patch.set_observation_budget:
                spec["observation_budget"] = patch.observation_budget
            if patch.set_parallel_bandwidth:
                spec["parallel_bandwidth"] = patch.parallel_bandwidth
            if patch.set_metadata:
                spec["metadata"] = _json(patch.metadata)
            row.spec = spec
            row.updated = time.time()
            return convert.experiment(row)

    # --- suggestions --------------------------------------------------------------------
    def create_suggestion(
        self,
        experiment_id: int,
        decide: Callable[[SuggestionContext], SuggestionDecision | Declined],
    ) -> Suggestion | Declined:
        (outcome,) = self.create_suggestions(experiment_id, [decide])
        if isinstance(outcome, HonedError):
            raise outcome
        return outcome

    def create_suggestions(
        self,
        experiment_id: int,
        decisions: Sequence[Callable[[SuggestionContext], SuggestionDecision | Declined]],
    ) -> list[Suggestion | Declined | HonedError]:
        # The hot path of the service: one transaction on prepared statements.
        with self._tx.raw_write() as tx:
            return suggestion_batch.create_suggestions(tx, experiment_id, decisions)

    def get_suggestion(self, experiment_id: int, suggestion_id: int) -> Suggestion:
        with self._tx.read() as session:
            return convert.suggestion(
                _get_child(session, SuggestionRow, experiment_id, suggestion_id)
            )

    def list_suggestions(
        self,
        experiment_id: int,
        page: PageRequest,
        open_only: bool = False,
        deleted: bool | None = False,
        ids: Sequence[int] | None = None,
    ) -> Page[Suggestion]:
        conditions: list[ColumnElement[bool]] = [SuggestionRow.experiment_id == experiment_id]
        if deleted is not None:
            conditions.append(SuggestionRow.deleted == deleted)
        if open_only:
            conditions.append(SuggestionRow.state == SuggestionState.OPEN.value)
        if ids is not None:
            conditions.append(SuggestionRow.id.in_(list(ids)))
        with self._tx.read() as session:
            return _paginate(session, SuggestionRow, conditions, page, convert.suggestion)

    def update_suggestion_metadata(
        self, experiment_id: int, suggestion_id: int, metadata: Metadata | None
    ) -> Suggestion:
        with self._tx.write() as session:
            row = _get_child(session, SuggestionRow, experiment_id, suggestion_id)
            row.meta = _json(metadata)
            row.modified = time.time()
            return convert.suggestion(row)

    def extend_suggestion_lease(
        self,
        experiment_id: int,
        suggestion_id: int,
        lease_until: float,
        metadata: Metadata | None = None,
        set_metadata: bool = False,
    ) -> Suggestion:
        with self._tx.write() as session:
            # Locked before it is read: an extension that read the row before another's
            # commit would write back its own, earlier lease (PostgreSQL).
            row = _get_child(session, SuggestionRow, experiment_id, suggestion_id, lock=True)
            if set_metadata:
                row.meta = _json(metadata)
                row.modified = time.time()
            if (
                row.state == SuggestionState.OPEN.value
                and not row.deleted
                and row.lease_until is not None
                and row.lease_until >= time.time()
            ):
                row.lease_until = max(row.lease_until, lease_until)
            return convert.suggestion(row)

    def expire_suggestions(self, experiment_id: int, now: float) -> int:
        with self._tx.raw_write() as tx:
            return hot.expire_suggestions(tx, experiment_id, now)

    def delete_suggestions(
        self, experiment_id: int, suggestion_id: int | None = None, open_only: bool = False
    ) -> int:
        with self._tx.write() as session:
            conditions = [SuggestionRow.experiment_id == experiment_id, ~SuggestionRow.deleted]
            if suggestion_id is not None:
                _get_child(session, SuggestionRow, experiment_id, suggestion_id)
                conditions.append(SuggestionRow.id == suggestion_id)
            if open_only:
                conditions.append(SuggestionRow.state == SuggestionState.OPEN.value)
            # No lease on a deleted suggestion: expiry (which keeps it) is told apart by it.
            result = session.execute(
                update(SuggestionRow)
                .where(*conditions)
                .values(deleted=True, lease_until=None, modified=time.time())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # --- queued suggestions ---------------------------------------------------------------
    def create_queued_suggestion(
        self, experiment_id: int, assignments: Assignments, task: str | None = None
    ) -> QueuedSuggestion:
        with self._tx.write() as session:
            _get(session, ExperimentRow, experiment_id)
            row = QueuedSuggestionRow(
                experiment_id=experiment_id,
                assignments=dict(assignments),
                created=time.time(),
                task=task,
            )
            session.add(row)
            session.flush()
            return convert.queued_suggestion(row)

    def get_queued_suggestion(self, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        with self._tx.read() as session:
            row = _get_child(session, QueuedSuggestionRow, experiment_id, queued_id)
            return convert.queued_suggestion(row)

    def list_queued_suggestions(
        self, experiment_id: int, page: PageRequest
    ) -> Page[QueuedSuggestion]:
        conditions = [QueuedSuggestionRow.experiment_id == experiment_id]
        with self._tx.read() as session:
            return _paginate(
                session, QueuedSuggestionRow, conditions, page, convert.queued_suggestion
            )

    def delete_queued_suggestion(self, experiment_id: int, queued_id: int) -> None:
        with self._tx.write() as session:
            session.delete(_get_child(session, QueuedSuggestionRow, experiment_id, queued_id))

    # --- observations -------------------------------------------------------------------
    def observe(
        self,
        experiment_id: int,
        prepare: Callable[[Experiment], Sequence[NewObservation]],
        idempotency: IdempotencyKey | None = None,
        named: Sequence[int | None] = (),
    ) -> tuple[Experiment, list[Observation]]:
        with self._tx.raw_write() as tx:
            return hot.observe(tx, experiment_id, prepare, idempotency, named)

    def _insert_observations(
        self,
        session: Session,
        experiment_id: int,
        observations: Sequence[NewObservation],
        now: float,
    ) -> list[Observation]:
        """Insert in the caller's transaction, closing the suggestions they name."""
        return hot.insert_observations(_raw(session), experiment_id, observations, now)

    def purge_idempotency_keys(self, older_than: float) -> int:
        with self._tx.write() as session:
            result = session.execute(
                delete(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.created < older_than)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def get_observation(self, experiment_id: int, observation_id: int) -> Observation:
        with self._tx.read() as session:
            row = _get_child(session, ObservationRow, experiment_id, observation_id)
            return convert.observation(row)

    def list_observations(
        self,
        experiment_id: int,
        page: PageRequest,
        deleted: bool = False,
        order: ObservationOrder | None = None,
    ) -> Page[Observation]:
        conditions = [
            ObservationRow.experiment_id == experiment_id,
            ObservationRow.deleted == deleted,
        ]
        with self._tx.read() as session:
            key = observation_sort_key(
                order or ObservationOrder(), session.get_bind().dialect.name
            )
            return _paginate(session, ObservationRow, conditions, page, convert.observation, key)

    def all_observations(self, experiment_id: int) -> list[Observation]:
        with self._tx.raw_read() as tx:
            return hot.all_observations(tx, experiment_id)

    def count_observations(self, experiment_id: int) -> int:
        with self._tx.read() as session:
            return _count(
                session,
                [ObservationRow.experiment_id == experiment_id, ~ObservationRow.deleted],
                ObservationRow,
            )

    def observation_totals(self, experiment: Experiment) -> ObservationTotals:
        with self._tx.read() as session:
            return totals.observation_totals(session, experiment)

    def pareto_front(self, experiment: Experiment) -> list[Observation]:
        with self._tx.read() as session:
            return totals.pareto_front(session, experiment)

    def update_observation(
        self, experiment_id: int, observation_id: int, patch: ObservationPatch
    ) -> Observation:
        with self._tx.write() as session:
            row = _get_child(session, ObservationRow, experiment_id, observation_id)
            if patch.suggestion_id is not None:
                suggestion = hot.suggestion_for_observation(
                    _raw(session), experiment_id, patch.suggestion_id, 0, 1
                )
                session.execute(
                    update(SUGGESTIONS)
                    .where(SUGGESTIONS.c.id == suggestion.id)
                    .values(state=SuggestionState.CLOSED.value, modified=time.time())
                )
                row.suggestion_id = suggestion.id
                row.assignments = dict(suggestion.assignments)
                row.task = suggestion.task
            elif patch.assignments is not None:
                row.suggestion_id = None
                row.assignments = dict(patch.assignments)
            if patch.set_task and patch.suggestion_id is None:
                row.task = patch.task
            row.point_hash = point_hash(row.assignments, row.task)
            row.modified = time.time()
            if patch.failed is not None:
                row.failed = patch.failed
            if patch.values is not None:
                row.values = values_to_json(patch.values)
            if patch.set_metadata:
                row.meta = _json(patch.metadata)
            return convert.observation(row)

    def delete_observations(self, experiment_id: int, observation_id: int | None = None) -> int:
        with self._tx.write() as session:
            conditions = [ObservationRow.experiment_id == experiment_id, ~ObservationRow.deleted]
            if observation_id is not None:
                _get_child(session, ObservationRow, experiment_id, observation_id)
                conditions.append(ObservationRow.id == observation_id)
            result = session.execute(
                update(ObservationRow)
                .where(*conditions)
                .values(deleted=True, modified=time.time())
            )
            _get(session, ExperimentRow, experiment_id).updated = time.time()
            return int(result.rowcount)  # type: ignore[attr-defined]

    # --- the optimizer's candidates -----------------------------------------------------
    def optimizer_work(self) -> list[OptimizerWork]:
        observations = (
            select(
                ObservationRow.experiment_id,
                func.max(ObservationRow.modified).label("latest"),
                func.count().filter(~ObservationRow.deleted).label("total"),
                func.count()
                .filter(~ObservationRow.deleted, ~ObservationRow.failed)
                .label("successes"),
            )
            .group_by(ObservationRow.experiment_id)
            .subquery()
        )
        open_counts = (
            select(
                SuggestionRow.experiment_id,
                func.count().label("open"),
                func.max(SuggestionRow.id).label("latest_open"),
            )
            .where(SuggestionRow.state == SuggestionState.OPEN.value, ~SuggestionRow.deleted)
            .group_by(SuggestionRow.experiment_id)
            .subquery()
        )
        ready = (
            select(CandidateRow.experiment_id, func.count().label("ready"))
            .where(~CandidateRow.used)
            .group_by(CandidateRow.experiment_id)
            .subquery()
        )
        query = (
            select(
                ExperimentRow,
                OptimizerStateRow,
                observations.c.latest,
                observations.c.total,
                observations.c.successes,
                open_counts.c.open,
                open_counts.c.latest_open,
                ready.c.ready,
                OptimizerProcessRow.seen_at,
            )
            .join(OptimizerStateRow, OptimizerStateRow.experiment_id == ExperimentRow.id)
            .outerjoin(
                OptimizerProcessRow, OptimizerProcessRow.name == OptimizerStateRow.lease_owner
            )
            .outerjoin(observations, observations.c.experiment_id == ExperimentRow.id)
            .outerjoin(open_counts, open_counts.c.experiment_id == ExperimentRow.id)
            .outerjoin(ready, ready.c.experiment_id == ExperimentRow.id)
            .where(*optimized_experiments())
            .order_by(ExperimentRow.id)
        )
        with self._tx.read() as session:
            return [
                OptimizerWork(
                    experiment=convert.experiment(experiment),
                    latest_modified=latest,
                    observation_count=total or 0,
                    success_count=successes or 0,
                    open_count=open_count or 0,
                    ready_candidates=ready_count or 0,
                    fitted_modified=state.fitted_modified,
                    fitted_count=state.fitted_count,
                    stored_candidates=state.stored_candidates,
                    fitted_at=state.fitted_at,
                    fit_seconds=state.fit_seconds,
                    demand_at=state.demand_at,
                    lease_until=state.lease_until,
                    lease_owner=state.lease_owner,
                    error_at=state.error_at,
                    lease_owner_seen_at=owner_seen_at,
                    fitted_suggestion_id=state.fitted_suggestion_id,
                    latest_open_id=latest_open,
                    waiting=state.waiting,
                )
                for (
                    experiment,
                    state,
                    latest,
                    total,
                    successes,
                    open_count,
                    latest_open,
                    ready_count,
                    owner_seen_at,
                ) in session.execute(query)
            ]

    def optimizer_work_version(self, since: float) -> Hashable:
        with self._tx.raw_read() as tx:
            return optimizer_work_version(tx, since)

    def claim_experiment(self, experiment_id: int, owner: str, lease_seconds: float) -> bool:
        now = time.time()
        live_owners = select(OptimizerProcessRow.name).where(
            OptimizerProcessRow.seen_at >= now - LEASE_OWNER_SILENT_SECONDS
        )
        with self._tx.write() as session:
            result = session.execute(
                update(OPTIMIZER_STATE)
                .where(
                    OPTIMIZER_STATE.c.experiment_id == experiment_id,
                    (OPTIMIZER_STATE.c.lease_until.is_(None))
                    | (OPTIMIZER_STATE.c.lease_until < now)
                    | (OPTIMIZER_STATE.c.lease_owner == owner)
                    | OPTIMIZER_STATE.c.lease_owner.not_in(live_owners),
                )
                .values(lease_owner=owner, lease_until=now + lease_seconds)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def open_suggestions(self, experiment_id: int) -> list[Suggestion]:
        with self._tx.read() as session:
            return hot.open_suggestions(_raw(session), experiment_id)

    def count_open_suggestions(self) -> int:
        query = (
            select(func.count())
            .select_from(SuggestionRow)
            .join(ExperimentRow, ExperimentRow.id == SuggestionRow.experiment_id)
            .where(
                SuggestionRow.state == SuggestionState.OPEN.value,
                ~SuggestionRow.deleted,
                ExperimentRow.state == ExperimentState.ACTIVE.value,
            )
        )
        with self._tx.read() as session:
            return int(session.scalar(query) or 0)

    def fit_inputs(self, experiment_id: int) -> FitInputs:
        with self._tx.read() as session:
            basis = session.scalar(
                select(func.max(ObservationRow.modified)).where(
                    ObservationRow.experiment_id == experiment_id
                )
            )
            latest = session.scalar(
                select(func.max(SuggestionRow.id)).where(
                    SuggestionRow.experiment_id == experiment_id
                )
            )
            tx = _raw(session)
            return FitInputs(
                basis_modified=basis,
                latest_suggestion_id=latest,
                observations=hot.all_observations(tx, experiment_id),
                pending=hot.open_suggestions(tx, experiment_id),
            )

    def store_candidates(self, experiment_id: int, candidates: CandidateSet) -> None:
        now = time.time()
        inputs = candidates.inputs
        tasks = list(candidates.tasks) or [None] * len(candidates.points)
        if len(tasks) != len(candidates.points):
            raise ValueError("CandidateSet.tasks must be parallel to its points")
        with self._tx.write() as session:
            session.execute(
                delete(CANDIDATES).where(
                    CANDIDATES.c.experiment_id == experiment_id, ~CANDIDATES.c.used
                )
            )
            if candidates.points:
                session.execute(
                    insert(CANDIDATES),
                    [
                        {
                            "experiment_id": experiment_id,
                            "assignments": dict(point),
                            "point_hash": point_hash(point, task),
                            "basis_modified": inputs.basis_modified or 0.0,
                            "rank": rank,
                            "created": now,
                            "used": False,
                            "task": task,
                        }
                        for rank, (point, task) in enumerate(
                            zip(candidates.points, tasks, strict=True)
                        )
                    ],
                )
            session.execute(
                update(OPTIMIZER_STATE)
                .where(OPTIMIZER_STATE.c.experiment_id == experiment_id)
                .values(
                    fitted_modified=inputs.basis_modified,
                    fitted_count=len(inputs.observations),
                    fitted_pending=[s.id for s in inputs.pending],
                    fitted_suggestion_id=inputs.latest_suggestion_id,
                    fitted_batch=candidates.batch,
                    waiting=0,
                    stored_candidates=len(candidates.points),
                    fitted_at=now,
                    fit_seconds=candidates.fit_seconds,
                    error=None,
                    error_at=None,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def fit_marker(self, experiment_id: int) -> FitMarker:
        with self._tx.read() as session:
            row = session.execute(
                select(OptimizerStateRow.fitted_at, OptimizerStateRow.error_at).where(
                    OptimizerStateRow.experiment_id == experiment_id
                )
            ).first()
            if row is None:
                raise NotFoundError()
            return (row.fitted_at, row.error_at)

    def record_optimizer_error(self, experiment_id: int, message: str) -> None:
        with self._tx.write() as session:
            session.execute(
                update(OPTIMIZER_STATE)
                .where(OPTIMIZER_STATE.c.experiment_id == experiment_id)
                .values(
                    error=message[:2000], error_at=time.time(), lease_owner=None, lease_until=None
                )
            )

    def request_candidates(
        self, experiment_id: int, withdraw: bool = False, count: int = 1
    ) -> None:
        waiting = OPTIMIZER_STATE.c.waiting
        with self._tx.write() as session:
            if withdraw:
                statement = update(OPTIMIZER_STATE).values(
                    waiting=case((waiting > count, waiting - count), else_=0)
                )
            else:
                statement = update(OPTIMIZER_STATE).values(
                    demand_at=time.time(), waiting=waiting + count
                )
            session.execute(statement.where(OPTIMIZER_STATE.c.experiment_id == experiment_id))

    def ready_candidates(self, experiment_id: int) -> int:
        with self._tx.read() as session:
            return _count(
                session,
                [CandidateRow.experiment_id == experiment_id, ~CandidateRow.used],
                CandidateRow,
            )

    def optimizer_status(self, experiment_id: int) -> OptimizerStatus:
        with self._tx.read() as session:
            state = session.get(OptimizerStateRow, experiment_id)
            if state is None:
                raise NotFoundError()
            ready_count = _count(
                session,
                [CandidateRow.experiment_id == experiment_id, ~CandidateRow.used],
                CandidateRow,
            )
            return OptimizerStatus(
                fitted_count=state.fitted_count,
                fitted_at=state.fitted_at,
                fit_seconds=state.fit_seconds,
                ready_candidates=ready_count,
                error=state.error,
                error_at=state.error_at,
                fitting=self._lease_is_live(session, state, time.time()),
            )

    @staticmethod
    def _lease_is_live(session: Session, state: OptimizerStateRow, now: float) -> bool:
        owner = session.get(OptimizerProcessRow, state.lease_owner) if state.lease_owner else None
        return lease_is_live(state.lease_until, owner.seen_at if owner else None, now)

    def heartbeat(self, name: str) -> None:
        now = time.time()
        with self._tx.write() as session:
            row = session.get(OptimizerProcessRow, name)
            if row is None:
                session.add(OptimizerProcessRow(name=name, seen_at=now))
            else:
                row.seen_at = now

    def sign_off(self, name: str) -> None:
        with self._tx.write() as session:
            session.execute(
                update(OPTIMIZER_STATE)
                .where(OPTIMIZER_STATE.c.lease_owner == name)
                .values(lease_owner=None, lease_until=None)
            )
            session.execute(delete(OptimizerProcessRow).where(OptimizerProcessRow.name == name))

    def fit_turn(self, experiment_id: int, within_seconds: float) -> FitTurn:
        now = time.time()
        live = select(OptimizerProcessRow.name).where(
            OptimizerProcessRow.seen_at >= now - within_seconds
        )
        leases = select(OptimizerStateRow.experiment_id, OptimizerStateRow.lease_owner).where(
            OptimizerStateRow.lease_until > now, OptimizerStateRow.lease_owner.in_(live)
        )
        with self._tx.read() as session:
            held = session.execute(leases).all()
            processes = session.scalar(select(func.count()).select_from(live.subquery())) or 0
        return FitTurn(
            fitting=any(leased == experiment_id for leased, _ in held),
            live=processes,
            busy=len({owner for _, owner in held}),
        )

    def live_optimizers(self, within_seconds: float) -> int:
        with self._tx.read() as session:
            return _count(
                session,
                [OptimizerProcessRow.seen_at >= time.time() - within_seconds],
                OptimizerProcessRow,
            )

    # --- lifecycle ----------------------------------------------------------------------
    def ping(self) -> None:
        try:
            with self._tx.read() as session:
                session.execute(text("SELECT 1"))
        except ServiceUnavailableError:
            raise
        except Exception as error:  # any driver failure means the same to the caller
            raise ServiceUnavailableError(f"The database is unavailable: {error}") from error

    def pool_use(self) -> tuple[int, int]:
        return self.database.pool_use()

    def close(self) -> None:
        self._tx.close()
        self.database.dispose()


def _raw(session: Session) -> RawTransaction:
    """The session's own DB-API connection, for hot.py's statements in its transaction."""
    connection = session.connection()
    return RawTransaction(connection.connection.driver_connection, connection.dialect)


def _check_project(session: Session, client_id: int, reference: str | None) -> None:
    if reference is None:
        return
    found = session.scalar(
        select(ProjectRow.id).where(
            ProjectRow.client_id == client_id, ProjectRow.reference == reference
        )
    )
    if found is None:
        raise InvalidRequestError(
            f"Could not assign to project `{reference}`, the project does not exist"
        )


def _get_child(
    session: Session, model: type[Child], experiment_id: int, row_id: int, lock: bool = False
) -> Child:
    """The row ``row_id`` of experiment ``experiment_id``; ``lock``: FOR UPDATE on
    PostgreSQL (SQLite's write transaction already excludes every other writer)."""
    row = session.get(model, row_id, with_for_update=lock)
    if row is None or row.experiment_id != experiment_id:
        raise NotFoundError()
    return row


def _shown(url: str) -> str:
    """The URL for a message: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return url
