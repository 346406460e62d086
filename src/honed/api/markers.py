"""Paging markers on the wire.

A list sorted by id pages with plain ids (``before=42``), as it always has. A list sorted by
anything else needs the sort key's value too, so its markers are base64url JSON of
``[sort, value, id]``: opaque to clients (SigOpt's are too), and tagged with the sort so a
marker from one order is refused by another instead of paging wrongly.
"""

from __future__ import annotations

import base64
import binascii
import json
import math

from honed.api.parse import is_digits
from honed.domain.paging import SortValue
from honed.errors import InvalidRequestError

MAX_MARKER_LENGTH = 2000


def encode(sort: str, item_id: int | None, value: SortValue) -> str | None:
    if item_id is None:
        return None
    if sort == "id":
        return str(item_id)
    raw = json.dumps([sort, value, item_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(name: str, sort: str, raw: str) -> tuple[int, SortValue]:
    """The id and sort value a marker names, or InvalidRequestError naming ``name``."""
    invalid = InvalidRequestError(f"Invalid {name}: {raw[:50]!r} is not a paging marker")
    if sort == "id":
        if not is_digits(raw) or len(raw) > 19:
            raise invalid
        return int(raw), None
    if len(raw) > MAX_MARKER_LENGTH:
        raise invalid
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not (isinstance(data, list) and len(data) == 3):
        raise invalid
    marker_sort, value, item_id = data
    if marker_sort != sort:
        raise InvalidRequestError(
            f"Invalid {name}: the marker is from a list sorted by {marker_sort!r}, "
            f"not {sort!r}; start again without {name}"
        )
    if type(item_id) is not int or not 0 <= item_id < 2**63:
        raise invalid
    if isinstance(value, bool) or not (value is None or isinstance(value, str | int | float)):
        raise invalid
    if isinstance(value, int | float):
        value = float(value)
        if not math.isfinite(value):
            raise invalid
    return item_id, value
