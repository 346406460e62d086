"""The newest analysis of the optimizer's model, per experiment

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "model_analyses",
        sa.Column("experiment_id", ID, nullable=False),
        sa.Column("observation_count", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.Double(), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_model_analyses_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_model_analyses")),
    )


def downgrade() -> None:
    op.drop_table("model_analyses")
