"""Files of training runs, a client's tags, and the ids of both on each run

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        # Existing runs have no files and no tags.
        batch_op.add_column(sa.Column("file_ids", JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("tag_ids", JSON, nullable=False, server_default="[]"))

    op.create_table(
        "run_files",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("training_run_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("filename", sa.String(length=1024), nullable=True),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("content_length", sa.BigInteger(), nullable=False),
        sa.Column("content_md5", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("signing_key", sa.String(length=64), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("uploaded", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_run_files_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["training_run_id"],
            ["training_runs.id"],
            name=op.f("fk_run_files_training_run_id_training_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_files")),
        sa.UniqueConstraint("key", name=op.f("uq_run_files_key")),
    )
    op.create_index(
        op.f("ix_run_files_training_run_id"), "run_files", ["training_run_id"], unique=False
    )

    op.create_table(
        "tags",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("color", sa.String(length=7), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_tags_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("client_id", "name", name="uq_tags_client_name"),
    )


def downgrade() -> None:
    op.drop_table("tags")
    op.drop_index(op.f("ix_run_files_training_run_id"), table_name="run_files")
    op.drop_table("run_files")
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.drop_column("tag_ids")
        batch_op.drop_column("file_ids")
