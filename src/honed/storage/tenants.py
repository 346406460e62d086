"""The tenants role: clients (SigOpt's organizations) and their API tokens."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from honed.domain.tenancy import Client
from honed.domain.tenancy import Token
from honed.domain.tenancy import TokenType


class TenantStore(Protocol):
    """Clients and the hashes of their tokens. A token's secret is never stored; tokens are
    revoked, never removed."""

    @abstractmethod
    def create_client(self, name: str) -> Client:
        """Store a new client and return it.

        Locks: write.
        """

    @abstractmethod
    def get_client(self, client_id: int) -> Client:
        """Raises: NotFoundError. Locks: read."""

    @abstractmethod
    def first_client(self) -> Client | None:
        """The oldest client, which ``honed serve`` treats as the default tenant; None in an
        empty store.

        Locks: read.
        """

    @abstractmethod
    def create_token(
        self,
        client_id: int,
        token_hash: str,
        token_type: TokenType,
        permissions: str,
        description: str | None = None,
        experiment_id: int | None = None,
    ) -> Token:
        """Store a token of ``client_id`` under ``token_hash`` and return it (not revoked).

        ``experiment_id`` binds the token to that experiment of the client; ``find_token``
        returns it with the binding.

        Raises: NotFoundError for a missing client, or an experiment that is missing or of
        another client; ConflictError when ``token_hash`` is stored already.
        Locks: write.
        """

    @abstractmethod
    def find_token(self, token_hash: str) -> Token | None:
        """The token stored under ``token_hash``, revoked ones too; None if there is none.

        Locks: read.
        """

    @abstractmethod
    def list_tokens(self, client_id: int) -> list[Token]:
        """Every token of the client, revoked ones too, oldest first ([] for an unknown
        client).

        Locks: read.
        """

    @abstractmethod
    def revoke_token(self, token_id: int) -> Token:
        """Mark the token revoked (again: no change) and return it.

        Raises: NotFoundError. Locks: write; the token's row.
        """
