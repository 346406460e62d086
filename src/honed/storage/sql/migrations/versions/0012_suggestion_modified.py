"""When each suggestion was last written

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Set on every write of a suggestion but a lease extension (insert, close, metadata,
# expiry, delete), as observations.modified is: with the experiment's updated, it tells
# the dashboard whether an experiment's page changed without reading its records
# (ExperimentStore.experiment_version). Rows stored before get their creation time.


def upgrade() -> None:
    # NOT NULL with a default, added in place: SQLite cannot make a column NOT NULL without
    # copying the table, and dropping the old copy fails the foreign keys of the
    # observations and training runs that name suggestions.
    op.add_column(
        "suggestions",
        sa.Column("modified", sa.Double(), server_default=sa.text("0"), nullable=False),
    )
    suggestions = sa.table("suggestions", sa.column("created"), sa.column("modified"))
    op.execute(suggestions.update().values(modified=suggestions.c.created))
    op.create_index(
        "ix_suggestions_experiment_modified", "suggestions", ["experiment_id", "modified"]
    )


def downgrade() -> None:
    op.drop_index("ix_suggestions_experiment_modified", table_name="suggestions")
    # In place on SQLite too (3.35+), for the same reason.
    op.execute("ALTER TABLE suggestions DROP COLUMN modified")
