"""Server settings, from arguments or HONED_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass

from honed.service.suggestions import DEFAULT_MAX_WAIT_SECONDS
from honed.service.suggestions import Preference
from honed.service.suggestions import ServingPolicy
from honed.storage.sql.database import DEFAULT_POOL_SIZE
from honed.storage.sql.database import DEFAULT_URL


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_URL
    #: A token value that becomes valid for the default client at start (scripts, CI).
    api_token: str | None = None
    #: The longest a suggestion request waits for a fresh model point (see ServingPolicy).
    candidate_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    #: Fresh model points (waiting for a fit) or whatever is ready at once.
    prefer: Preference = Preference.QUALITY
    #: Optimizer processes started beside the server: requests wait for them to start.
    optimizers: int = 0
    #: Requests per second per API token and process (0: no limit); see server/ratelimit.py.
    rate_limit: float = 0.0
    #: Burst size of the rate limit (None: one second's worth).
    rate_burst: float | None = None
    #: Browser origins allowed to call the API (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
    #: Connections each server process keeps to PostgreSQL.
    db_pool_size: int = DEFAULT_POOL_SIZE

    @classmethod
    def from_env(cls) -> Settings:
        burst = os.environ.get("HONED_RATE_BURST", "")
        origins = os.environ.get("HONED_CORS_ORIGINS", "")
        return cls(
            database_url=os.environ.get("HONED_DATABASE_URL", DEFAULT_URL),
            api_token=os.environ.get("HONED_API_TOKEN") or None,
            candidate_wait_seconds=float(
                os.environ.get("HONED_CANDIDATE_WAIT_SECONDS", DEFAULT_MAX_WAIT_SECONDS)
            ),
            prefer=Preference(os.environ.get("HONED_PREFER", Preference.QUALITY.value)),
            optimizers=int(os.environ.get("HONED_OPTIMIZERS", "0") or 0),
            rate_limit=float(os.environ.get("HONED_RATE_LIMIT", "0") or 0),
            rate_burst=float(burst) if burst else None,
            cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            db_pool_size=int(os.environ.get("HONED_DB_POOL_SIZE", DEFAULT_POOL_SIZE)),
        )

    @property
    def serving(self) -> ServingPolicy:
        return ServingPolicy(self.candidate_wait_seconds, self.prefer, self.optimizers > 0)
