"""One index on each experiment's suggestions by state and point hash

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# (experiment_id, state, deleted, point_hash) serves both what 0001's (experiment_id,
# state, deleted) served (the open suggestions, by their prefix) and 0011's lookups of a
# few points among them, so every insert and close of a suggestion updates one index
# fewer (docs/decisions.md: The worker loop decodes a spec once and updates one index
# fewer).


def upgrade() -> None:
    op.create_index(
        "ix_suggestions_experiment_state_point",
        "suggestions",
        ["experiment_id", "state", "deleted", "point_hash"],
    )
    op.drop_index("ix_suggestions_experiment_point", table_name="suggestions")
    op.drop_index("ix_suggestions_experiment_state", table_name="suggestions")


def downgrade() -> None:
    op.create_index(
        "ix_suggestions_experiment_state", "suggestions", ["experiment_id", "state", "deleted"]
    )
    op.create_index(
        "ix_suggestions_experiment_point",
        "suggestions",
        ["experiment_id", "point_hash", "state", "deleted"],
    )
    op.drop_index("ix_suggestions_experiment_state_point", table_name="suggestions")
