"""Server settings, from arguments or HONED_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from honed.storage.sql.database import DEFAULT_URL


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_URL
    #: A token value that becomes valid for the default client at start (scripts, CI).
    api_token: str | None = None
    #: How long a suggestion request may wait for the optimizer before Sobol serves.
    candidate_wait_seconds: float = 1.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("HONED_DATABASE_URL", DEFAULT_URL),
            api_token=os.environ.get("HONED_API_TOKEN") or None,
            candidate_wait_seconds=float(os.environ.get("HONED_CANDIDATE_WAIT_SECONDS", "1.0")),
        )
