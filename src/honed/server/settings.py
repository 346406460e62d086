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

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("HONED_DATABASE_URL", DEFAULT_URL),
            api_token=os.environ.get("HONED_API_TOKEN") or None,
        )
