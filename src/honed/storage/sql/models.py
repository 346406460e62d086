"""Tables. Changing one needs an Alembic revision in ``migrations/versions``
(a test compares these models with the migrated schema)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Double
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import UniqueConstraint
from sqlalchemy import false
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JsonType = JSON().with_variant(postgresql.JSONB(), "postgresql")
# Integer primary keys that autoincrement on SQLite and are BIGINT on PostgreSQL.
IdType = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# An optimizer-chosen open suggestion; the unique index over these is the store's own
# guarantee that no two of them are the same point. Every point_hash column holds
# honed.domain.parameters.point_hash(assignments, task) of its row (task None: plain).
OPEN_UNIQUE_POINT = (
    "state = 'open' AND NOT deleted AND source IN ('engine', 'optimizer', 'fallback')"
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ClientRow(Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    created: Mapped[float] = mapped_column(Double)


class TokenRow(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_type: Mapped[str] = mapped_column(String(20))
    permissions: Mapped[str] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(String(200))
    created: Mapped[float] = mapped_column(Double)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set for a token that may read only this experiment (a share link).
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id"))


class ExperimentRow(Base):
    __tablename__ = "experiments"
    __table_args__ = (Index("ix_experiments_client_project", "client_id", "project"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    development: Mapped[bool] = mapped_column(Boolean, default=False)
    # Parameters, metrics, linear constraints and budget, as honed.storage.sql.codec writes them.
    spec: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created: Mapped[float] = mapped_column(Double)
    updated: Mapped[float] = mapped_column(Double)
    # The engine's position in its deterministic sequence (Sobol index, grid index).
    engine_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    # AI experiments (evaluated through training runs), and the project (reference id) an
    # experiment belongs to. Projects are never removed, so the reference stays valid.
    runs_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    project: Mapped[str | None] = mapped_column(String(32))


class SuggestionRow(Base):
    __tablename__ = "suggestions"
    __table_args__ = (
        # The open suggestions (by its prefix), and whether a few points are among them.
        Index(
            "ix_suggestions_experiment_state_point",
            "experiment_id",
            "state",
            "deleted",
            "point_hash",
        ),
        Index(
            "uq_suggestions_open_point",
            "experiment_id",
            "point_hash",
            unique=True,
            sqlite_where=text(OPEN_UNIQUE_POINT),
            postgresql_where=text(OPEN_UNIQUE_POINT),
        ),
        Index("ix_suggestions_experiment_modified", "experiment_id", "modified"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    assignments: Mapped[dict[str, Any]] = mapped_column(JsonType)
    point_hash: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10))
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonType)
    created: Mapped[float] = mapped_column(Double)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the experiment has a suggestion_ttl_seconds: past it the suggestion expires.
    lease_until: Mapped[float | None] = mapped_column(Double)
    # Optimizer suggestions: what the model knew (honed.domain.records.ModelBasis).
    model: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # Multitask: the task to evaluate (part of point_hash: the same assignments at another
    # task are another point).
    task: Mapped[str | None] = mapped_column(String(100))
    # Set on every write but a lease extension (insert, close, metadata, expiry, delete).
    modified: Mapped[float] = mapped_column(Double, server_default=text("0"))


class QueuedSuggestionRow(Base):
    __tablename__ = "queued_suggestions"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), index=True)
    assignments: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created: Mapped[float] = mapped_column(Double)
    task: Mapped[str | None] = mapped_column(String(100))


class ObservationRow(Base):
    __tablename__ = "observations"
    __table_args__ = (
        Index("ix_observations_experiment_deleted", "experiment_id", "deleted"),
        Index("ix_observations_experiment_point", "experiment_id", "point_hash"),
        Index("ix_observations_experiment_modified", "experiment_id", "modified"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id"), index=True)
    assignments: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # [{"name": str | None, "value": float, "value_stddev": float | None}, ...]
    values: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonType)
    created: Mapped[float] = mapped_column(Double)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    point_hash: Mapped[str] = mapped_column(String(32))
    # Set on create, update and delete: the optimizer refits when it moves.
    modified: Mapped[float] = mapped_column(Double)
    # Multitask: the task evaluated (its suggestion's, or given with the assignments).
    task: Mapped[str | None] = mapped_column(String(100))


class CandidateRow(Base):
    """A point the optimizer computed ahead, waiting to be handed out."""

    __tablename__ = "candidates"
    __table_args__ = (Index("ix_candidates_experiment_used", "experiment_id", "used"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    assignments: Mapped[dict[str, Any]] = mapped_column(JsonType)
    point_hash: Mapped[str] = mapped_column(String(32))
    # Which data the model saw: newer batches are preferred, ranks order a batch.
    basis_modified: Mapped[float] = mapped_column(Double)
    rank: Mapped[int] = mapped_column(Integer)
    created: Mapped[float] = mapped_column(Double)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    # Multitask: the task the point is to be evaluated at (honed.engine.tasks).
    task: Mapped[str | None] = mapped_column(String(100))


class OptimizerStateRow(Base):
    """Per experiment: what the optimizer last fitted, its lease, its last error."""

    __tablename__ = "optimizer_state"

    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), primary_key=True)
    fitted_modified: Mapped[float | None] = mapped_column(Double)
    fitted_count: Mapped[int] = mapped_column(Integer, default=0)
    # Candidates stored by the last fit: fewer ready now means some were handed out.
    stored_candidates: Mapped[int] = mapped_column(Integer, default=0)
    fitted_at: Mapped[float | None] = mapped_column(Double)
    fit_seconds: Mapped[float | None] = mapped_column(Double)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[float | None] = mapped_column(Double)
    demand_at: Mapped[float | None] = mapped_column(Double)
    error: Mapped[str | None] = mapped_column(String(2000))
    error_at: Mapped[float | None] = mapped_column(Double)
    # What the last stored fit was conditioned on (honed.storage.optimizer.FitInputs): the open
    # suggestions it treated as pending, the newest suggestion id when it read, and how
    # many of its candidates were optimised (the rest are its Thompson pool).
    fitted_pending: Mapped[list[int] | None] = mapped_column(JsonType)
    fitted_suggestion_id: Mapped[int | None] = mapped_column(BigInteger)
    fitted_batch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Requests that found nothing they could take since the last fit was stored.
    waiting: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class ModelAnalysisRow(Base):
    """Per experiment: the newest analysis of the optimizer's model (honed.domain.analysis),
    as JSON (storage/sql/analyses.py)."""

    __tablename__ = "model_analyses"

    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"), primary_key=True)
    observation_count: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[float] = mapped_column(Double)
    body: Mapped[dict[str, Any]] = mapped_column(JsonType)


class OptimizerProcessRow(Base):
    """Heartbeats of optimizer processes, so the API knows whether to wait for one."""

    __tablename__ = "optimizer_processes"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[float] = mapped_column(Double)


class ProjectRow(Base):
    __tablename__ = "projects"
    __table_args__ = (
        Index("uq_projects_client_reference", "client_id", "reference", unique=True),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    reference: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonType)
    created: Mapped[float] = mapped_column(Double)
    updated: Mapped[float] = mapped_column(Double)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class TrainingRunRow(Base):
    __tablename__ = "training_runs"
    __table_args__ = (
        Index("ix_training_runs_client_project", "client_id", "project"),
        Index("ix_training_runs_experiment_state", "experiment_id", "state"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    project: Mapped[str] = mapped_column(String(32))
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id"))
    suggestion_id: Mapped[int | None] = mapped_column(ForeignKey("suggestions.id"))
    observation_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id"))
    state: Mapped[str] = mapped_column(String(10))
    # What users report (name, assignments, values, metadata, logs, ...), normalized by
    # honed.domain.runs.check_run_data.
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)
    created: Mapped[float] = mapped_column(Double)
    updated: Mapped[float] = mapped_column(Double)
    completed: Mapped[float | None] = mapped_column(Double)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    checkpoint_count: Mapped[int] = mapped_column(Integer, default=0)
    # Ids of its files and tags, kept with the run (under its row lock) so that a run
    # and every list of runs read in one query, as sigopt-server keeps them in its data.
    file_ids: Mapped[list[int]] = mapped_column(JsonType, default=list, server_default="[]")
    tag_ids: Mapped[list[int]] = mapped_column(JsonType, default=list, server_default="[]")


class RunFileRow(Base):
    """A file of a training run; its bytes are in the file store under ``key``."""

    __tablename__ = "run_files"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    training_run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    filename: Mapped[str | None] = mapped_column(String(1024))
    content_type: Mapped[str] = mapped_column(String(120))
    content_length: Mapped[int] = mapped_column(BigInteger)
    content_md5: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    signing_key: Mapped[str] = mapped_column(String(64))
    created: Mapped[float] = mapped_column(Double)
    uploaded: Mapped[float | None] = mapped_column(Double)


class TagRow(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("client_id", "name", name="uq_tags_client_name"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(7))
    created: Mapped[float] = mapped_column(Double)


class CheckpointRow(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    training_run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id"), index=True)
    values: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonType)
    created: Mapped[float] = mapped_column(Double)


class IdempotencyKeyRow(Base):
    """An ``Idempotency-Key`` a client sent with an observation create, and its result.

    Written in the transaction that stores the observations, so a key is either stored with
    them or not at all."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("client_id", "key", name="uq_idempotency_keys_client_key"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"))
    key: Mapped[str] = mapped_column(String(255))
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    # What the request asked for: the same key with another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    observation_ids: Mapped[list[int]] = mapped_column(JsonType)
    created: Mapped[float] = mapped_column(Double, index=True)


# The tables, for Core statements (plain INSERT/UPDATE, and storage/sql/hot.py's prepared ones).
EXPERIMENTS: Table = ExperimentRow.__table__  # type: ignore[assignment]
SUGGESTIONS: Table = SuggestionRow.__table__  # type: ignore[assignment]
QUEUED: Table = QueuedSuggestionRow.__table__  # type: ignore[assignment]
OBSERVATIONS: Table = ObservationRow.__table__  # type: ignore[assignment]
CANDIDATES: Table = CandidateRow.__table__  # type: ignore[assignment]
OPTIMIZER_STATE: Table = OptimizerStateRow.__table__  # type: ignore[assignment]
IDEMPOTENCY_KEYS: Table = IdempotencyKeyRow.__table__  # type: ignore[assignment]
