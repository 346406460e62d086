"""Tokens bound to one experiment (dashboard share links)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key to an existing table without a copy.
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("experiment_id", ID, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_tokens_experiment_id_experiments"),
            "experiments",
            ["experiment_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_tokens_experiment_id_experiments"), type_="foreignkey"
        )
        batch_op.drop_column("experiment_id")
