"""Multitask: a point's hash covers its task

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from honed.domain.parameters import point_hash

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The tables whose rows carry a point_hash and a task; queued suggestions have no hash.
TABLES = ("suggestions", "observations", "candidates")
# Rows read and rewritten per round trip: a large experiment is not held in memory at once.
CHUNK = 1000
# The sources whose open suggestions the unique index covers (models.OPEN_UNIQUE_POINT).
UNIQUE_SOURCES = ("engine", "optimizer", "fallback")


def upgrade() -> None:
    """Only rows with a task change: a plain experiment's hashes are what they were."""
    for name in TABLES:
        _rehash(name, point_hash)


def downgrade() -> None:
    """Back to hashes of the assignments alone. Refused while two open suggestions of one
    experiment share their assignments at different tasks: the older revision allows one
    open suggestion per point, so the unique index would be broken."""
    _refuse_open_duplicates()
    for name in TABLES:
        _rehash(name, lambda assignments, task: point_hash(assignments))


def _table(name: str) -> sa.TableClause:
    return sa.table(
        name,
        sa.column("id", ID),
        sa.column("assignments", JSON),
        sa.column("task", sa.String(100)),
        sa.column("point_hash", sa.String(32)),
    )


def _rows_with_a_task(table: sa.TableClause) -> Iterator[Any]:
    """``(id, assignments, task)`` of the rows that have a task, by id, a chunk at a time."""
    connection = op.get_bind()
    last = None
    while True:
        query = (
            sa.select(table.c.id, table.c.assignments, table.c.task)
            .where(table.c.task.is_not(None))
            .order_by(table.c.id)
            .limit(CHUNK)
        )
        if last is not None:
            query = query.where(table.c.id > last)
        rows = connection.execute(query).all()
        yield from rows
        if len(rows) < CHUNK:
            return
        last = rows[-1].id


def _rehash(name: str, digest: Callable[[Any, str | None], str]) -> None:
    table = _table(name)
    update = (
        table.update()
        .where(table.c.id == sa.bindparam("b_id"))
        .values(point_hash=sa.bindparam("b_hash"))
    )
    batch: list[dict[str, Any]] = []
    for row in _rows_with_a_task(table):
        batch.append({"b_id": row.id, "b_hash": digest(row.assignments, row.task)})
        if len(batch) == CHUNK:
            op.get_bind().execute(update, batch)
            batch = []
    if batch:
        op.get_bind().execute(update, batch)


def _refuse_open_duplicates() -> None:
    table = sa.table(
        "suggestions",
        sa.column("id", ID),
        sa.column("experiment_id", ID),
        sa.column("assignments", JSON),
        sa.column("task", sa.String(100)),
        sa.column("state", sa.String(10)),
        sa.column("deleted", sa.Boolean()),
        sa.column("source", sa.String(20)),
    )
    open_rows = op.get_bind().execute(
        sa.select(table.c.id, table.c.experiment_id, table.c.assignments).where(
            table.c.task.is_not(None),
            table.c.state == "open",
            sa.not_(table.c.deleted),
            table.c.source.in_(UNIQUE_SOURCES),
        )
    )
    seen: dict[tuple[int, str], int] = {}
    for row in open_rows:
        key = (row.experiment_id, point_hash(row.assignments))
        if key in seen:
            raise RuntimeError(
                f"cannot downgrade below 0010: open suggestions {seen[key]} and {row.id} of "
                f"experiment {row.experiment_id} are the same assignments at two tasks; "
                "delete or observe one of them first"
            )
        seen[key] = row.id
