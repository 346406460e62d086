"""Clients (tenants) and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TokenType(StrEnum):
    """SigOpt's token kinds: team API token (read-write) and development token."""

    CLIENT_API = "client-api"
    CLIENT_DEV = "client-dev"


@dataclass(frozen=True)
class Client:
    id: int
    name: str
    created: int


@dataclass(frozen=True)
class Token:
    """A stored token. The secret itself is never stored, only its hash.

    ``experiment_id`` binds the token to one experiment (a share link): every other
    experiment of the client does not exist for it, and it can never write.
    """

    id: int
    client_id: int
    token_type: TokenType
    permissions: str
    created: int
    revoked: bool = False
    description: str | None = None
    experiment_id: int | None = None

    @property
    def can_write(self) -> bool:
        return self.permissions == "write" and not self.revoked and self.experiment_id is None

    @property
    def all_experiments(self) -> bool:
        return self.experiment_id is None

    @property
    def development(self) -> bool:
        return self.token_type is TokenType.CLIENT_DEV
