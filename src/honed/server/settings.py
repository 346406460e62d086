"""Server settings: keyword arguments first, then ``HONED_<FIELD>`` environment variables
(``HONED_DATABASE_URL``, ``HONED_CORS_ORIGINS``, ...; empty ones count as unset), then the
defaults. A value that does not parse raises ValueError naming its variable."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from typing import Annotated
from typing import Any

from pydantic import Field
from pydantic import ValidationError
from pydantic import field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings
from pydantic_settings import NoDecode
from pydantic_settings import SettingsConfigDict

from honed.domain.files import DEFAULT_MAX_FILE_BYTES
from honed.service.suggestions import DEFAULT_MAX_WAIT_SECONDS
from honed.service.suggestions import Preference
from honed.service.suggestions import ServingPolicy
from honed.storage.sql.database import DEFAULT_POOL_SIZE
from honed.storage.sql.database import DEFAULT_URL
from honed.storage.sql.database import default_files_dir

ENV_PREFIX = "HONED_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="forbid"
    )

    database_url: str = Field(
        DEFAULT_URL, description="SQLAlchemy URL: a SQLite file or a PostgreSQL database"
    )
    api_token: str | None = Field(
        None, description="a token value that becomes valid for the default client at start"
    )
    candidate_wait_seconds: float = Field(
        DEFAULT_MAX_WAIT_SECONDS,
        ge=0,
        allow_inf_nan=False,
        description="the longest a suggestion request waits for a fresh model point "
        "(see ServingPolicy)",
    )
    prefer: Preference = Field(
        Preference.QUALITY,
        description="fresh model points (waiting for a fit) or whatever is ready at once",
    )
    optimizers: int = Field(
        0,
        ge=0,
        description="optimizer processes started beside the server: requests wait for them "
        "to start",
    )
    rate_limit: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="requests per second per API token and process (0: no limit); see "
        "server/ratelimit.py",
    )
    rate_burst: float | None = Field(
        None,
        ge=1,
        allow_inf_nan=False,
        description="burst size of the rate limit (None: one second's worth)",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="browser origins allowed to call the API (CORS), comma-separated in "
        "the environment; none by default",
    )
    db_pool_size: int = Field(
        DEFAULT_POOL_SIZE, ge=1, description="connections each server process keeps to PostgreSQL"
    )

    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="the port of the Prometheus /metrics endpoint (honed serve serves it); "
        "None: no metrics are recorded",
    )
    files_dir: str | None = Field(
        None,
        description="the directory run files (log_image) are stored in; default: beside a "
        "SQLite database (honed.db: honed-files), else ./honed-files",
    )
    files_s3_bucket: str | None = Field(
        None,
        description="store run files in this S3-compatible bucket instead of files_dir "
        "(needs honed[s3]; credentials as boto3 finds them, e.g. AWS_ACCESS_KEY_ID)",
    )
    files_s3_prefix: str = Field("", description="a prefix of the objects' keys in the bucket")
    files_s3_endpoint_url: str | None = Field(
        None, description="the S3 endpoint (MinIO, Ceph, ...); default: AWS's"
    )
    files_s3_region: str | None = Field(None, description="the bucket's region")
    max_file_bytes: int = Field(
        DEFAULT_MAX_FILE_BYTES, ge=1, description="the largest run file accepted, in bytes"
    )
    public_url: str | None = Field(
        None,
        description="the URL clients reach this server at, for the upload and download "
        "URLs of run files (default: the URL each request came to)",
    )

    if not TYPE_CHECKING:
        # Hidden from mypy, whose pydantic plugin then checks keyword arguments by field.
        def __init__(self, **settings: Any) -> None:
            try:
                super().__init__(**settings)
            except ValidationError as error:
                messages = (_sentence(detail, settings) for detail in error.errors())
                raise ValueError("; ".join(messages)) from None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, origins: object) -> object:
        if isinstance(origins, str):
            return tuple(o.strip() for o in origins.split(",") if o.strip())
        return origins

    @property
    def serving(self) -> ServingPolicy:
        return ServingPolicy(self.candidate_wait_seconds, self.prefer, self.optimizers > 0)

    @property
    def files_directory(self) -> str:
        return self.files_dir or default_files_dir(self.database_url)

    @classmethod
    def from_env(cls) -> Settings:
        """Every field from its ``HONED_*`` variable, else its default."""
        return cls()


def _sentence(detail: ErrorDetails, given: dict[str, Any]) -> str:
    """Name what was wrong as the user wrote it: the variable, unless an argument gave it."""
    name = str(detail["loc"][0]) if detail["loc"] else ""
    variable = ENV_PREFIX + name.upper()
    if name not in given and os.environ.get(variable):
        where = f"{variable}={os.environ[variable]!r}"
    else:
        where = f"Settings.{name}={detail['input']!r}"
    rule = detail["msg"].replace("Input should be", "should be")
    return f"{where}: {rule}"
