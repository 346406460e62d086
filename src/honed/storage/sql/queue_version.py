"""OptimizerQueue.optimizer_work_version, read by every idle optimizer loop ten times a
second: a ``Prepared`` statement (see prepared.py) costs it a fraction of the CPU that
SQLAlchemy's execution would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select

from honed.storage.sql.database import RawTransaction
from honed.storage.sql.models import EXPERIMENTS
from honed.storage.sql.models import OBSERVATIONS
from honed.storage.sql.models import OPTIMIZER_STATE
from honed.storage.sql.models import SUGGESTIONS
from honed.storage.sql.prepared import Prepared
from honed.storage.sql.queries import optimized_experiments


def _recent_writes(table: Table) -> Any:
    """The sum of the listed experiment's ``modified`` in ``table`` after ``b_since``: it
    moves with every write there (each sets ``modified``; deletes are soft), also one that
    commits after a newer one. From the (experiment_id, modified) index, past ``b_since``."""
    return (
        select(func.sum(table.c.modified))
        .where(table.c.experiment_id == EXPERIMENTS.c.id, table.c.modified > bindparam("b_since"))
        .scalar_subquery()
    )


_STATE = OPTIMIZER_STATE.c

#: Per experiment ``optimizer_work`` lists: its ``updated``, its optimizer state as writes
#: leave it, and its recent writes.
WORK_VERSION = Prepared(
    select(
        EXPERIMENTS.c.id,
        EXPERIMENTS.c.updated,
        _STATE.fitted_at,
        _STATE.error_at,
        _STATE.waiting,
        _STATE.demand_at,
        _STATE.lease_owner,
        _STATE.lease_until,
        _recent_writes(OBSERVATIONS).label("observations"),
        _recent_writes(SUGGESTIONS).label("suggestions"),
    )
    .join(OPTIMIZER_STATE, _STATE.experiment_id == EXPERIMENTS.c.id)
    .where(*optimized_experiments())
    .order_by(EXPERIMENTS.c.id)
)


def optimizer_work_version(tx: RawTransaction, since: float) -> tuple[tuple[Any, ...], ...]:
    return tuple(tuple(row) for row in WORK_VERSION.rows(tx, {"b_since": since}))
