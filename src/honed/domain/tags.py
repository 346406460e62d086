"""Tags: a client's labels (a name and a colour), which its training runs may carry."""

from __future__ import annotations

import re
from dataclasses import dataclass

from honed.errors import InvalidRequestError

MAX_TAG_NAME_LENGTH = 100
TAG_COLOR = re.compile(r"#[0-9A-Fa-f]{6}\Z")


@dataclass(frozen=True)
class Tag:
    id: int
    client_id: int
    name: str
    color: str  # "#RRGGBB"
    created: int


def check_tag(name: str, color: str) -> None:
    """SigOpt's rules for a new tag; the message names the field."""
    if not 1 <= len(name) <= MAX_TAG_NAME_LENGTH:
        raise InvalidRequestError(
            f"Invalid name: {len(name)} characters; a tag name has 1 to {MAX_TAG_NAME_LENGTH}"
        )
    if not TAG_COLOR.match(color):
        raise InvalidRequestError(f"Invalid color: {color[:40]!r}; expected #RRGGBB, e.g. #1f77b4")
