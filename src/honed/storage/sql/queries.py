"""Query helpers shared by the SQL storage modules."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

from sqlalchemy import BigInteger
from sqlalchemy import ColumnElement
from sqlalchemy import Double
from sqlalchemy import Table
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import literal
from sqlalchemy import null
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import true
from sqlalchemy.orm import Session

from honed.domain.experiment import ExperimentState
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.errors import NotFoundError
from honed.storage.observations import ObservationOrder
from honed.storage.sql.models import EXPERIMENTS
from honed.storage.sql.models import OBSERVATIONS
from honed.storage.sql.models import SUGGESTIONS
from honed.storage.sql.models import ExperimentRow
from honed.storage.sql.models import ObservationRow

Row = TypeVar("Row")
Item = TypeVar("Item")


def get_row(session: Session, model: type[Any], row_id: int) -> Any:
    row = session.get(model, row_id)
    if row is None:
        raise NotFoundError()
    return row


def count_rows(
    session: Session, conditions: Sequence[ColumnElement[bool]], model: type[Any]
) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def paginate(
    session: Session,
    model: Any,
    conditions: Sequence[ColumnElement[bool]],
    page: PageRequest,
    to_domain: Callable[[Row], Item],
    key: ColumnElement[Any] | None = None,
) -> Page[Item]:
    """One page of ``model`` rows ordered by ``key`` (None: id alone), then id.

    Keyset paging as SigOpt's pager does it, but in SQL: a marker is the (key, id) of an
    item, ``before`` keeps smaller pairs, ``after`` larger ones, and a NULL key is larger
    than any value. Descending fills a page from the top of what the bounds keep (newest
    first by default) unless only ``after`` is given; ascending fills it from the bottom
    unless only ``before`` is given.
    """
    count = count_rows(session, conditions, model)
    if page.limit == 0:
        return Page(items=[], count=count)
    sort_key = key if key is not None else literal(None)
    query = select(model, sort_key).where(*conditions)
    if page.before is not None:
        query = query.where(_beyond(model.id, key, page.before, page.before_value, above=False))
    if page.after is not None:
        query = query.where(_beyond(model.id, key, page.after, page.after_value, above=True))
    if page.ascending:
        from_top = page.before is not None and page.after is None
    else:
        from_top = page.before is not None or page.after is None
    # Spelled out, not NULLS LAST: SQLite and PostgreSQL put NULLs at opposite ends.
    order = [model.id] if key is None else [case((key.is_(None), 1), else_=0), key, model.id]
    query = query.order_by(*(column.desc() if from_top else column for column in order))
    rows: list[Any] = list(session.execute(query.limit(page.limit + 1)).all())
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    if not from_top:
        rows.reverse()
    # rows now run from the largest key down.
    lower: tuple[Any, Any] | None = rows[-1] if rows else None
    upper: tuple[Any, Any] | None = rows[0] if rows else None
    if from_top:
        lower = lower if more else None
        upper = upper if page.ascending else None
    elif not more:
        upper = None
    if page.ascending:
        rows.reverse()
    return Page(
        items=[to_domain(row) for row, _value in rows],
        count=count,
        before=lower[0].id if lower is not None else None,
        after=upper[0].id if upper is not None else None,
        before_value=lower[1] if lower is not None else None,
        after_value=upper[1] if upper is not None else None,
    )


def _beyond(
    row_id: Any, key: ColumnElement[Any] | None, marker_id: int, marker: Any, above: bool
) -> ColumnElement[bool]:
    """Rows whose (key, id) is above (or below) the marker's; a NULL key is the largest."""
    tie: ColumnElement[bool] = row_id > marker_id if above else row_id < marker_id
    if key is None:
        return tie
    if marker is None:
        if above:
            return and_(key.is_(None), tie)
        return or_(key.is_not(None), tie)
    if above:
        return or_(key.is_(None), key > marker, and_(key == marker, tie))
    return and_(key.is_not(None), or_(key < marker, and_(key == marker, tie)))


def observation_sort_key(order: ObservationOrder, dialect: str) -> ColumnElement[Any] | None:
    """The SQL value an observation list is sorted by (None: id alone)."""
    key: ColumnElement[Any]
    if order.field == "id":
        return None
    if order.field == "created":
        key = ObservationRow.created.expression
    elif order.field in ("value", "value_stddev"):
        # A fixed path (index, "value"): json_extract on SQLite, #>> with a cast on PostgreSQL.
        key = ObservationRow.values[(order.metric_index, order.field)].as_float()
    elif order.field == "parameter":
        key = _assignment(order.parameter, order.text, dialect)
    elif order.field == "task" and order.task_costs:
        # The task's cost: the names are the experiment's own, a handful.
        key = case(
            *(
                (ObservationRow.task == name, literal(cost, Double()))
                for name, cost in order.task_costs
            ),
            else_=null(),
        )
    else:
        raise ValueError(f"unknown observation order {order.field!r}")
    return key


def _assignment(name: str, text: bool, dialect: str) -> ColumnElement[Any]:
    """A parameter's assignment. Not a JSON path on SQLite: its paths cannot spell every
    parameter name (a double quote, non-ASCII as SQLAlchemy escapes it), so the key is
    matched through json_each, whose values are SQL numbers or text already."""
    if dialect == "sqlite":
        entries = func.json_each(ObservationRow.assignments).table_valued("key", "value")
        return select(entries.c.value).where(entries.c.key == name).scalar_subquery()
    assigned = ObservationRow.assignments[name]
    key: ColumnElement[Any] = assigned.as_string() if text else assigned.as_float()
    return key


def experiment_updated_key() -> ColumnElement[Any]:
    """When an experiment last changed, as its ``updated`` field renders it: observation
    inserts leave the experiment row alone (they must not queue behind suggestion
    creation's lock on it), so its newest observation counts too."""
    newest = (
        select(func.max(ObservationRow.created))
        .where(ObservationRow.experiment_id == ExperimentRow.id, ~ObservationRow.deleted)
        .scalar_subquery()
    )
    newest_or_zero = func.coalesce(newest, 0.0)
    return case(
        (newest_or_zero > ExperimentRow.updated, newest_or_zero), else_=ExperimentRow.updated
    )


# A row's ``modified`` as whole microseconds, modulo this prime, in the checksum below: a
# sum of residues under 2**31 stays within a 64-bit integer for billions of rows.
_CHECKSUM_MODULUS = 2_147_483_647


def _writes(table: Table, experiment_id: int) -> Any:
    """How many rows the experiment has in ``table`` (deletes are soft, so the count never
    falls), the newest ``modified`` and a checksum of all of them. The checksum catches a
    write whose timestamp is not the newest: on PostgreSQL two transactions may commit in
    the other order than they read the clock. All from the (experiment_id, modified)
    index, without reading a row."""
    micros = cast(table.c.modified * 1_000_000, BigInteger) % _CHECKSUM_MODULUS
    return (
        select(
            func.count().label("count"),
            func.max(table.c.modified).label("latest"),
            func.coalesce(func.sum(micros), 0).label("checksum"),
        )
        .where(table.c.experiment_id == experiment_id)
        .subquery()
    )


def experiment_version(session: Session, experiment_id: int) -> str:
    """ExperimentStore.experiment_version: the experiment's ``updated`` (every update of
    it, and observation deletes, set it) and its observations' and suggestions' writes."""
    observations = _writes(OBSERVATIONS, experiment_id)
    suggestions = _writes(SUGGESTIONS, experiment_id)
    query = (
        select(EXPERIMENTS.c.updated, observations, suggestions)
        .select_from(
            EXPERIMENTS.join(observations, true()).join(suggestions, true()),
        )
        .where(EXPERIMENTS.c.id == experiment_id)
    )
    row = session.execute(query).first()
    if row is None:
        raise NotFoundError()
    return ":".join(repr(value) if isinstance(value, float) else str(value) for value in row)


def optimized_experiments() -> list[ColumnElement[bool]]:
    """The experiments the optimizer loop considers (OptimizerQueue.optimizer_work)."""
    return [
        EXPERIMENTS.c.state == ExperimentState.ACTIVE.value,
        EXPERIMENTS.c.type == "offline",
        ~EXPERIMENTS.c.development,
    ]
