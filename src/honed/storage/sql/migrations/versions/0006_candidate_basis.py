"""What the model behind the candidates knew, and what it knew for each suggestion

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("optimizer_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fitted_pending", JSON, nullable=True))
        batch_op.add_column(sa.Column("fitted_suggestion_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("fitted_batch", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column("waiting", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.drop_column("model")
    with op.batch_alter_table("optimizer_state", schema=None) as batch_op:
        batch_op.drop_column("waiting")
        batch_op.drop_column("fitted_batch")
        batch_op.drop_column("fitted_suggestion_id")
        batch_op.drop_column("fitted_pending")
