"""Optimizer candidates, its per-experiment state, observation point hashes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from honed.domain.parameters import point_hash

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


OLD_UNIQUE = "state = 'open' AND NOT deleted AND source IN ('engine', 'fallback')"
NEW_UNIQUE = "state = 'open' AND NOT deleted AND source IN ('engine', 'optimizer', 'fallback')"


def _unique_open_point(where: str) -> None:
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.drop_index("uq_suggestions_open_point")
        batch_op.create_index(
            "uq_suggestions_open_point",
            ["experiment_id", "point_hash"],
            unique=True,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def upgrade() -> None:
    # Optimizer-chosen suggestions are unique among open ones too.
    _unique_open_point(NEW_UNIQUE)
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("point_hash", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("modified", sa.Double(), nullable=True))
    _backfill_observations()
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.alter_column("point_hash", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("modified", existing_type=sa.Double(), nullable=False)
        batch_op.create_index(
            "ix_observations_experiment_point", ["experiment_id", "point_hash"], unique=False
        )
        batch_op.create_index(
            "ix_observations_experiment_modified", ["experiment_id", "modified"], unique=False
        )

    op.create_table(
        "candidates",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("assignments", JSON, nullable=False),
        sa.Column("point_hash", sa.String(length=32), nullable=False),
        sa.Column("basis_modified", sa.Double(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_candidates_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_candidates")),
    )
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_candidates_experiment_used", ["experiment_id", "used"], unique=False
        )

    op.create_table(
        "optimizer_state",
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("fitted_modified", sa.Double(), nullable=True),
        sa.Column("fitted_count", sa.Integer(), nullable=False),
        sa.Column("stored_candidates", sa.Integer(), nullable=False),
        sa.Column("fitted_at", sa.Double(), nullable=True),
        sa.Column("fit_seconds", sa.Double(), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.Double(), nullable=True),
        sa.Column("demand_at", sa.Double(), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("error_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_optimizer_state_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_optimizer_state")),
    )
    # Every experiment has its optimizer state row from creation on (no upserts later).
    op.execute(
        "INSERT INTO optimizer_state (experiment_id, fitted_count, stored_candidates) "
        "SELECT id, 0, 0 FROM experiments"
    )
    op.create_table(
        "optimizer_processes",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_optimizer_processes")),
    )


def _backfill_observations() -> None:
    connection = op.get_bind()
    observations = sa.table(
        "observations",
        sa.column("id", ID),
        sa.column("assignments", JSON),
        sa.column("created", sa.Double()),
        sa.column("point_hash", sa.String(32)),
        sa.column("modified", sa.Double()),
    )
    rows = connection.execute(
        sa.select(observations.c.id, observations.c.assignments, observations.c.created)
    ).all()
    for row_id, assignments, created in rows:
        connection.execute(
            observations.update()
            .where(observations.c.id == row_id)
            .values(point_hash=point_hash(assignments), modified=created)
        )


def downgrade() -> None:
    _unique_open_point(OLD_UNIQUE)
    op.drop_table("optimizer_processes")
    op.drop_table("optimizer_state")
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_index("ix_candidates_experiment_used")
    op.drop_table("candidates")
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_index("ix_observations_experiment_modified")
        batch_op.drop_index("ix_observations_experiment_point")
        batch_op.drop_column("modified")
        batch_op.drop_column("point_hash")
