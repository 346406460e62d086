"""Multitask: the task of each suggestion, queued suggestion, observation and candidate

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The records of a multitask experiment name the task they are (to be) evaluated at; those
# of a plain experiment, and every record stored before, have none. The tasks themselves
# are in the experiment's spec JSON.
TABLES = ("suggestions", "queued_suggestions", "observations", "candidates")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("task", sa.String(length=100), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("task")
