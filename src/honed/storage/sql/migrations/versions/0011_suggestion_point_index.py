"""An index on each experiment's suggestions by point hash

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# A suggestion create asks whether the few points it considers are open; with many open
# suggestions it looks them up here instead of reading every open one. The state columns
# make it the index SQLite's planner picks for that query (it prefers the index that
# matches more of the query's terms).


def upgrade() -> None:
    op.create_index(
        "ix_suggestions_experiment_point",
        "suggestions",
        ["experiment_id", "point_hash", "state", "deleted"],
    )


def downgrade() -> None:
    op.drop_index("ix_suggestions_experiment_point", table_name="suggestions")
