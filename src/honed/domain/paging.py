"""Pages of a list: the request, the page, and the sort value a marker carries.

Plain values in the domain because storage pages with them and api renders them (markers,
``pagination`` objects), and api depends on the domain only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic
from typing import TypeVar

T = TypeVar("T")

#: The value a list is sorted by at one item (before its id); None sorts above all values,
#: as in SigOpt (a failed observation has no value).
SortValue = float | str | None


@dataclass(frozen=True)
class PageRequest:
    """A list is ordered by a sort key, then id: by id alone unless a list says otherwise.

    ``before``/``after`` are exclusive bounds on that order, each an item's id with (for a
    sort other than id) the sort key's value at that item in ``before_value``/``after_value``.
    Descending (the default) pages from the top: the first page holds the largest keys and
    ``Page.before`` leads to smaller ones. Ascending pages from the bottom: the first page
    holds the smallest keys and ``Page.after`` leads to larger ones. limit may be 0.
    """

    limit: int = 100
    before: int | None = None
    after: int | None = None
    ascending: bool = False
    before_value: SortValue = None
    after_value: SortValue = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """``count`` is the total number of matching items, not the page size.

    ``before`` is the marker for the next page of smaller keys (None when there is none);
    ``after`` the marker for the next page of larger keys when the request paged upwards
    (with ``after`` only, or ascending). ``before_value``/``after_value`` are the sort key's
    values at those items, for a sort other than id.
    """

    items: list[T]
    count: int
    before: int | None = None
    after: int | None = None
    before_value: SortValue = None
    after_value: SortValue = None
