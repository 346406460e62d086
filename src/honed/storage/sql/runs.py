"""The SQL implementation of projects, training runs and checkpoints (a mixin of SqlStorage;
the contract and its invariants are in honed.storage.base)."""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Sequence

from sqlalchemy import ColumnElement
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from honed.domain.experiment import Experiment
from honed.domain.experiment import Metadata
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.projects import Project
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.runs import Checkpoint
from honed.domain.runs import RunCounts
from honed.domain.runs import RunState
from honed.domain.runs import TrainingRun
from honed.errors import ConflictError
from honed.errors import NotFoundError
from honed.storage.observations import NewObservation
from honed.storage.projects import ProjectPatch
from honed.storage.runs import NewTrainingRun
from honed.storage.runs import RunUpdate
from honed.storage.sql import convert
from honed.storage.sql.codec import values_to_json
from honed.storage.sql.database import Transactions
from honed.storage.sql.models import CheckpointRow
from honed.storage.sql.models import ClientRow
from honed.storage.sql.models import ExperimentRow
from honed.storage.sql.models import ProjectRow
from honed.storage.sql.models import SuggestionRow
from honed.storage.sql.models import TrainingRunRow
from honed.storage.sql.queries import get_row
from honed.storage.sql.queries import paginate


class ProjectsAndRuns:
    _tx: Transactions

    def _insert_observations(
        self,
        session: Session,
        experiment_id: int,
        observations: Sequence[NewObservation],
        now: float,
    ) -> list[Observation]:
        raise NotImplementedError  # SqlStorage's

    # --- projects -----------------------------------------------------------------------
    def create_project(
        self, client_id: int, reference: str, name: str, metadata: Metadata | None
    ) -> Project:
        now = time.time()
        with self._tx.write() as session:
            get_row(session, ClientRow, client_id)
            if _project_row(session, client_id, reference) is not None:
                raise _duplicate(reference)
            row = ProjectRow(
                client_id=client_id,
                reference=reference,
                name=name,
                meta=dict(metadata) if metadata is not None else None,
                created=now,
                updated=now,
                deleted=False,
            )
            session.add(row)
            try:
                session.flush()
            except ConflictError:  # another process created it since the check
                raise _duplicate(reference) from None
            return convert.project(row)

    def get_project(self, client_id: int, reference: str) -> Project:
        with self._tx.read() as session:
            return convert.project(_existing_project(session, client_id, reference))

    def list_projects(
        self, client_id: int, page: PageRequest, deleted: bool | None = False
    ) -> Page[Project]:
        conditions = [ProjectRow.client_id == client_id]
        if deleted is not None:
            conditions.append(ProjectRow.deleted == deleted)
        with self._tx.read() as session:
            return paginate(session, ProjectRow, conditions, page, convert.project)

    def update_project(self, client_id: int, reference: str, patch: ProjectPatch) -> Project:
        with self._tx.write() as session:
            row = _existing_project(session, client_id, reference)
            if patch.name is not None:
                row.name = patch.name
            if patch.set_metadata:
                row.meta = dict(patch.metadata) if patch.metadata is not None else None
            if patch.deleted is not None:
                row.deleted = patch.deleted
            row.updated = time.time()
            return convert.project(row)

    # --- training runs --------------------------------------------------------------------
    def create_training_runs(
        self, client_id: int, runs: Sequence[NewTrainingRun]
    ) -> list[TrainingRun]:
        now = time.time()
        with self._tx.write() as session:
            get_row(session, ClientRow, client_id)
            for reference in {run.project for run in runs}:
                _existing_project(session, client_id, reference)
            rows = []
            for run in runs:
                observation_id = None
                if run.observation is not None:
                    assert run.experiment_id is not None
                    (observation,) = self._insert_observations(
                        session, run.experiment_id, [run.observation], now
                    )
                    observation_id = observation.id
                rows.append(
                    TrainingRunRow(
                        client_id=client_id,
                        project=run.project,
                        experiment_id=run.experiment_id,
                        suggestion_id=run.suggestion_id,
                        observation_id=observation_id,
                        state=run.state.value,
                        data=dict(run.data),
                        created=now,
                        updated=now,
                        completed=now if run.state.is_finished else None,
                        deleted=False,
                        checkpoint_count=0,
                    )
                )
            session.add_all(rows)
            session.flush()
            return [convert.training_run(row) for row in rows]

    def get_training_run(self, run_id: int) -> TrainingRun:
        with self._tx.read() as session:
            return convert.training_run(get_row(session, TrainingRunRow, run_id))

    def list_training_runs(
        self,
        client_id: int,
        project: str,
        page: PageRequest,
        experiment_id: int | None = None,
        deleted: bool | None = False,
    ) -> Page[TrainingRun]:
        conditions: list[ColumnElement[bool]] = [
            TrainingRunRow.client_id == client_id,
            TrainingRunRow.project == project,
        ]
        if experiment_id is not None:
            conditions.append(TrainingRunRow.experiment_id == experiment_id)
        if deleted is not None:
            conditions.append(TrainingRunRow.deleted == deleted)
        with self._tx.read() as session:
            return paginate(session, TrainingRunRow, conditions, page, convert.training_run)

    def update_training_run(
        self, run_id: int, change: Callable[[TrainingRun, Experiment | None], RunUpdate]
    ) -> TrainingRun:
        now = time.time()
        with self._tx.write() as session:
            # The row lock serializes updates of one run on PostgreSQL (SQLite's writers are
            # serialized already), so finishing it twice at once stores one observation.
            row = session.scalars(
                select(TrainingRunRow).where(TrainingRunRow.id == run_id).with_for_update()
            ).first()
            if row is None:
                raise NotFoundError()
            experiment = None
            if row.experiment_id is not None:
                experiment = convert.experiment(get_row(session, ExperimentRow, row.experiment_id))
            new = change(convert.training_run(row), experiment)
            if new.project != row.project:
                _existing_project(session, row.client_id, new.project)
                row.project = new.project
            if new.observation is not None and not _withdrawn(session, new.observation):
                if row.experiment_id is None or row.observation_id is not None:
                    raise ValueError("only a run of an experiment without one gets an observation")
                (observation,) = self._insert_observations(
                    session, row.experiment_id, [new.observation], now
                )
                row.observation_id = observation.id
            row.state = new.state.value
            row.data = dict(new.data)
            row.deleted = new.deleted
            if new.state.is_finished and row.completed is None:
                row.completed = now
            row.updated = now
            return convert.training_run(row)

    def delete_experiment_runs(self, experiment_id: int) -> int:
        with self._tx.write() as session:
            result = session.execute(
                update(TrainingRunRow)
                .where(TrainingRunRow.experiment_id == experiment_id, ~TrainingRunRow.deleted)
                .values(deleted=True, updated=time.time())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def run_counts(self, experiment_id: int) -> RunCounts:
        with self._tx.read() as session:
            counts: dict[str, int] = dict(
                session.execute(
                    select(TrainingRunRow.state, func.count())
                    .where(TrainingRunRow.experiment_id == experiment_id, ~TrainingRunRow.deleted)
                    .group_by(TrainingRunRow.state)
                ).all()
            )
        active = counts.pop(RunState.ACTIVE.value, 0)
        return RunCounts(active=active, finished=sum(counts.values()))

    def runs_for_observations(
        self, experiment_id: int, observation_ids: Sequence[int]
    ) -> list[TrainingRun]:
        if not observation_ids:
            return []
        with self._tx.read() as session:
            rows = session.scalars(
                select(TrainingRunRow).where(
                    TrainingRunRow.experiment_id == experiment_id,
                    TrainingRunRow.observation_id.in_(list(observation_ids)),
                    ~TrainingRunRow.deleted,
                )
            )
            by_observation = {row.observation_id: convert.training_run(row) for row in rows}
        return [by_observation[i] for i in observation_ids if i in by_observation]

    def create_checkpoint(
        self, run_id: int, values: Sequence[MetricValue], metadata: Metadata | None
    ) -> Checkpoint:
        now = time.time()
        with self._tx.write() as session:
            result = session.execute(
                update(TrainingRunRow)
                .where(TrainingRunRow.id == run_id)
                .values(checkpoint_count=TrainingRunRow.checkpoint_count + 1, updated=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFoundError()
            row = CheckpointRow(
                training_run_id=run_id,
                values=values_to_json(tuple(values)),
                meta=dict(metadata) if metadata is not None else None,
                created=now,
            )
            session.add(row)
            session.flush()
            return convert.checkpoint(row)

    def list_checkpoints(self, run_id: int, page: PageRequest) -> Page[Checkpoint]:
        with self._tx.read() as session:
            get_row(session, TrainingRunRow, run_id)
            return paginate(
                session,
                CheckpointRow,
                [CheckpointRow.training_run_id == run_id],
                page,
                convert.checkpoint,
            )


def _withdrawn(session: Session, observation: NewObservation) -> bool:
    """Whether the suggestion the observation names was deleted (e.g. with every open
    suggestion of the experiment): the run then finishes without an observation."""
    if observation.suggestion_id is None:
        return False
    suggestion = session.get(SuggestionRow, observation.suggestion_id)
    return suggestion is None or suggestion.deleted


def _project_row(session: Session, client_id: int, reference: str) -> ProjectRow | None:
    return session.scalars(
        select(ProjectRow).where(
            ProjectRow.client_id == client_id, ProjectRow.reference == reference
        )
    ).first()


def _existing_project(session: Session, client_id: int, reference: str) -> ProjectRow:
    row = _project_row(session, client_id, reference)
    if row is None:
        raise NotFoundError()
    return row


def _duplicate(reference: str) -> ConflictError:
    return ConflictError(f"The experiment project with id `{reference}` already exists.")
