"""Query helpers shared by the SQL storage modules."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any
from typing import TypeVar

from sqlalchemy import ColumnElement
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from honed.errors import NotFoundError
from honed.storage.base import Page
from honed.storage.base import PageRequest

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
) -> Page[Item]:
    """Newest first. With ``after`` only, the page is the oldest ``limit`` newer items."""
    count = count_rows(session, conditions, model)
    if page.limit == 0:
        return Page(items=[], count=count)
    query = select(model).where(*conditions)
    if page.before is not None:
        query = query.where(model.id < page.before)
    if page.after is not None and page.before is None:
        query = query.where(model.id > page.after).order_by(model.id).limit(page.limit + 1)
        rows = list(session.scalars(query))
        more_newer = len(rows) > page.limit
        rows = rows[: page.limit][::-1]
        return Page(
            items=[to_domain(r) for r in rows],
            count=count,
            before=rows[-1].id if rows else None,
            after=rows[0].id if rows and more_newer else None,
        )
    if page.after is not None:
        query = query.where(model.id > page.after)
    rows = list(session.scalars(query.order_by(model.id.desc()).limit(page.limit + 1)))
    more_older = len(rows) > page.limit
    rows = rows[: page.limit]
    return Page(
        items=[to_domain(r) for r in rows],
        count=count,
        before=rows[-1].id if rows and more_older else None,
        after=None,
    )
