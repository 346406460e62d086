"""API tokens: minted at random, stored as SHA-256 hashes, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from honed.domain.tenancy import Client
from honed.domain.tenancy import Token
from honed.domain.tenancy import TokenType
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.errors import PermissionDeniedError
from honed.service.access import experiment_for
from honed.service.access import require_write
from honed.storage.experiments import ExperimentStore
from honed.storage.tenants import TenantStore

INVALID_TOKEN_MESSAGE = (
    "This endpoint requires a valid API token. The token you sent is unknown or revoked; "
    "create one with `honed token create`."
)
DEFAULT_CLIENT_NAME = "Default client"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its secret, which is shown once and never stored."""

    token: Token
    secret: str


class TokenRoles(TenantStore, ExperimentStore, Protocol):
    """What token use cases touch: clients and tokens, and experiments to check a
    token bound to one."""


class TokenService:
    """Tokens are looked up once per ``cache_seconds`` per process, not on every request;
    a revocation therefore takes effect everywhere within that time."""

    def __init__(self, storage: TokenRoles, cache_seconds: float = 5.0) -> None:
        self._storage = storage
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Token]] = {}

    def cached(self, secret: str) -> Token | None:
        """The token for ``secret`` if it was checked recently, else None (look it up)."""
        entry = self._cache.get(hash_token(secret))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def authenticate(self, secret: str) -> Token:
        token_hash = hash_token(secret)
        token = self._storage.find_token(token_hash)
        if token is None or token.revoked:
            self._cache.pop(token_hash, None)
            raise PermissionDeniedError(INVALID_TOKEN_MESSAGE)
        if len(self._cache) > 10_000:  # bound memory against floods of distinct tokens
            self._cache.clear()
        self._cache[token_hash] = (time.monotonic() + self._cache_seconds, token)
        return token

    def client(self, caller: Token) -> Client:
        """The caller's own client."""
        return self._storage.get_client(caller.client_id)

    def revoke(self, token_id: int) -> Token:
        try:
            token = self._storage.revoke_token(token_id)
        except NotFoundError:
            raise NotFoundError(f"token {token_id} does not exist") from None
        self._cache.clear()
        return token

    def issue(
        self,
        client_id: int,
        token_type: TokenType = TokenType.CLIENT_API,
        permissions: str = "write",
        description: str | None = None,
        secret: str | None = None,
        experiment_id: int | None = None,
    ) -> IssuedToken:
        """``experiment_id`` binds the token to that experiment: it can only read it."""
        if experiment_id is not None:
            permissions = "read"
        secret = secret or generate_token()
        token = self._storage.create_token(
            client_id, hash_token(secret), token_type, permissions, description, experiment_id
        )
        return IssuedToken(token, secret)

    def issue_for_experiment(
        self, experiment_id: int, description: str | None = None
    ) -> IssuedToken:
        """A read-only token of the experiment's client that sees only this experiment,
        of the kind (development or not) that may read it."""
        experiment = self._storage.get_experiment(experiment_id)
        token_type = TokenType.CLIENT_DEV if experiment.spec.development else TokenType.CLIENT_API
        return self.issue(
            experiment.client_id, token_type, "read", description, experiment_id=experiment_id
        )

    # --- an operator's (``honed token``: whoever holds the database, no caller token) ----
    def mint(
        self,
        client_id: int | None = None,
        new_client: str | None = None,
        development: bool = False,
        read_only: bool = False,
        description: str | None = None,
    ) -> IssuedToken:
        """A token of ``client_id``, of a new client named ``new_client``, or else of the
        default client (created when there is none)."""
        if new_client is not None:
            client_id = self._storage.create_client(new_client).id
        elif client_id is None:
            client_id = self.bootstrap(None)[0].id
        return self.issue(
            client_id,
            TokenType.CLIENT_DEV if development else TokenType.CLIENT_API,
            permissions="read" if read_only else "write",
            description=description,
        )

    def mint_for_experiment(
        self, experiment_id: int, client_id: int | None = None, description: str | None = None
    ) -> IssuedToken:
        """``issue_for_experiment``, checked for an operator who named the experiment (and
        perhaps its client): NotFoundError, or InvalidRequestError for another client's."""
        try:
            experiment = self._storage.get_experiment(experiment_id)
        except NotFoundError:
            raise NotFoundError(f"experiment {experiment_id} does not exist") from None
        if client_id is not None and client_id != experiment.client_id:
            raise InvalidRequestError(
                f"experiment {experiment_id} belongs to client {experiment.client_id}, "
                f"not {client_id}"
            )
        return self.issue_for_experiment(
            experiment_id, description or f"share token for experiment {experiment_id}"
        )

    def list_tokens(self, client_id: int | None = None) -> list[Token]:
        """A client's tokens, revoked ones too; by default the default client's."""
        if client_id is None:
            first = self._storage.first_client()
            if first is None:
                return []
            client_id = first.id
        return list(self._storage.list_tokens(client_id))

    def share(
        self, caller: Token, description: str, experiment_id: int | None = None
    ) -> IssuedToken:
        """A read-only token of the caller's client, for a share link: bound to
        ``experiment_id`` when given (it then sees no other experiment), else for the
        experiments list.

        Only tokens that can write may share, so a share link cannot mint further links.
        """
        require_write(caller)
        if experiment_id is not None:
            experiment_for(self._storage, caller, experiment_id)  # 404 unless the caller's
        return self.issue(
            caller.client_id,
            caller.token_type,
            permissions="read",
            description=description,
            experiment_id=experiment_id,
        )

    def bootstrap(self, env_secret: str | None) -> tuple[Client, IssuedToken | None]:
        """Make sure a default client exists, with ``env_secret`` as one of its tokens.

        Returns the default client and the token minted now, if any (first start, or a
        HONED_API_TOKEN value not seen before).
        """
        client = self._storage.first_client()
        issued = None
        if client is None:
            created = self._storage.create_client(DEFAULT_CLIENT_NAME)
            # Servers starting at once on a fresh database may each create a client: all of
            # them then use the first one, so every bootstrap token lands in one tenant.
            client = self._storage.first_client() or created
            if env_secret is None:
                issued = self.issue(client.id, description="created on first start")
        if env_secret is not None and self._storage.find_token(hash_token(env_secret)) is None:
            try:
                issued = self.issue(client.id, description="HONED_API_TOKEN", secret=env_secret)
            except ConflictError:
                # Another process stored the same token between our check and our insert.
                if self._storage.find_token(hash_token(env_secret)) is None:
                    raise
        return client, issued
