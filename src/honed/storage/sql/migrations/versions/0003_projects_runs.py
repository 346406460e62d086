"""Projects, AI experiments (runs_only, project), training runs and checkpoints

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("runs_only", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("project", sa.String(length=32), nullable=True))
        batch_op.create_index(
            "ix_experiments_client_project", ["client_id", "project"], unique=False
        )

    op.create_table(
        "projects",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_projects_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index(
        "uq_projects_client_reference", "projects", ["client_id", "reference"], unique=True
    )

    op.create_table(
        "training_runs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("project", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", ID, nullable=True),
        sa.Column("suggestion_id", ID, nullable=True),
        sa.Column("observation_id", ID, nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
        sa.Column("completed", sa.Double(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("checkpoint_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_training_runs_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_training_runs_experiment_id_experiments"),
        ),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["suggestions.id"],
            name=op.f("fk_training_runs_suggestion_id_suggestions"),
        ),
        sa.ForeignKeyConstraint(
            ["observation_id"],
            ["observations.id"],
            name=op.f("fk_training_runs_observation_id_observations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_runs")),
    )
    op.create_index(
        "ix_training_runs_client_project", "training_runs", ["client_id", "project"], unique=False
    )
    op.create_index(
        "ix_training_runs_experiment_state",
        "training_runs",
        ["experiment_id", "state"],
        unique=False,
    )

    op.create_table(
        "checkpoints",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("training_run_id", ID, nullable=False),
        sa.Column("values", JSON, nullable=False),
        sa.Column("metadata", JSON, nullable=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.id"],
            name=op.f("fk_checkpoints_training_run_id_training_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
    )
    op.create_index(
        op.f("ix_checkpoints_training_run_id"), "checkpoints", ["training_run_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_checkpoints_training_run_id"), table_name="checkpoints")
    op.drop_table("checkpoints")
    op.drop_index("ix_training_runs_experiment_state", table_name="training_runs")
    op.drop_index("ix_training_runs_client_project", table_name="training_runs")
    op.drop_table("training_runs")
    op.drop_index("uq_projects_client_reference", table_name="projects")
    op.drop_table("projects")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index("ix_experiments_client_project")
        batch_op.drop_column("project")
        batch_op.drop_column("runs_only")
