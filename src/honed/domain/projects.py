"""Projects: named groups of AI experiments and training runs, per client."""

from __future__ import annotations

import re
from dataclasses import dataclass

from honed.domain.experiment import Metadata
from honed.errors import InvalidRequestError

MAX_PROJECT_ID_LENGTH = 32
# SigOpt's project ids, as the sigopt client checks them too.
PROJECT_ID = re.compile(r"[a-z0-9\-_\.]+\Z")
# The same as a JSON schema pattern, with check_project_id's refusal of "." and "..", which
# no URL can name.
PROJECT_ID_PATTERN = r"^(?!\.\.?$)[a-z0-9\-_\.]+$"


@dataclass(frozen=True)
class Project:
    """``reference`` is the id users give and see (e.g. "my-project"), unique per client."""

    id: int
    client_id: int
    reference: str
    name: str
    metadata: Metadata | None
    created: int
    updated: int
    deleted: bool = False


def check_project_id(reference: object, path: str = "id") -> str:
    if (
        not isinstance(reference, str)
        or not PROJECT_ID.match(reference)
        or len(reference) > MAX_PROJECT_ID_LENGTH
    ):
        raise InvalidRequestError(
            f"Invalid {path}: {reference!r}; project ids are 1 to {MAX_PROJECT_ID_LENGTH} "
            "lowercase letters, digits, '-', '_' or '.'"
        )
    if reference in (".", ".."):
        # Clients resolve these path segments away, so no URL could name the project.
        raise InvalidRequestError(f"Invalid {path}: {reference!r} cannot be a project id")
    return reference
