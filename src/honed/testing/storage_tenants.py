"""The ``TenantStore`` role: clients and tokens.

Part of ``honed.testing.storage.StorageConformance``; subclass ``TenantConformance`` alone to
run only this role's tests (see ``RoleSuite`` for the fixture).
"""

from __future__ import annotations

import pytest

from honed.domain.paging import PageRequest
from honed.domain.tenancy import TokenType
from honed.errors import NotFoundError
from honed.storage.base import Storage
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import make_spec


class TenantConformance(RoleSuite):
    def test_clients_and_tokens(self, storage: Storage) -> None:
        storage.ping()
        assert storage.first_client() is None
        alice, bob = storage.create_client("alice"), storage.create_client("bob")
        assert alice.id != bob.id
        assert (alice.name, bob.name) == ("alice", "bob")
        assert isinstance(alice.created, int)
        assert storage.get_client(bob.id) == bob
        assert storage.first_client() == alice
        missing_client = alice.id + bob.id + 1000
        with pytest.raises(NotFoundError):
            storage.get_client(missing_client)

        write = storage.create_token(alice.id, "hash-1", TokenType.CLIENT_API, "write", "ci")
        read = storage.create_token(alice.id, "hash-2", TokenType.CLIENT_DEV, "read")
        other = storage.create_token(bob.id, "hash-3", TokenType.CLIENT_API, "write")
        assert (write.client_id, write.token_type, write.permissions, write.description) == (
            alice.id,
            TokenType.CLIENT_API,
            "write",
            "ci",
        )
        assert (write.revoked, write.can_write, write.development) == (False, True, False)
        assert (read.development, read.can_write, read.description) == (True, False, None)
        assert storage.find_token("hash-2") == read
        assert storage.find_token("hash-unknown") is None
        assert storage.list_tokens(alice.id) == [write, read]
        assert storage.list_tokens(bob.id) == [other]

        revoked = storage.revoke_token(write.id)
        assert (revoked.id, revoked.revoked, revoked.can_write) == (write.id, True, False)
        found = storage.find_token("hash-1")
        assert found is not None
        assert found.revoked
        assert storage.list_tokens(alice.id) == [revoked, read]
        assert storage.find_token("hash-3") == other
        assert write.revoked is False  # the earlier snapshot is unchanged
        with pytest.raises(NotFoundError):
            storage.revoke_token(write.id + read.id + other.id + 1000)
        with pytest.raises(NotFoundError):
            storage.create_token(missing_client, "hash-4", TokenType.CLIENT_API, "write")
        assert storage.find_token("hash-4") is None

    def test_token_bound_to_an_experiment(self, storage: Storage) -> None:
        alice, bob = storage.create_client("alice"), storage.create_client("bob")
        mine = storage.create_experiment(alice.id, make_spec("mine"))
        theirs = storage.create_experiment(bob.id, make_spec("theirs"))
        bound = storage.create_token(
            alice.id, "hash-bound", TokenType.CLIENT_API, "read", "share", mine.id
        )
        free = storage.create_token(alice.id, "hash-free", TokenType.CLIENT_API, "read")
        assert (bound.experiment_id, bound.all_experiments, bound.can_write) == (
            mine.id,
            False,
            False,
        )
        assert (free.experiment_id, free.all_experiments) == (None, True)
        assert storage.find_token("hash-bound") == bound
        assert storage.find_token("hash-free") == free
        assert storage.list_tokens(alice.id) == [bound, free]
        # Even stored as "write", a bound token cannot write.
        written = storage.create_token(
            alice.id, "hash-w", TokenType.CLIENT_API, "write", None, mine.id
        )
        assert written.can_write is False
        # Another client's experiment, or none: nothing is stored.
        for experiment_id, secret in ((theirs.id, "hash-x"), (theirs.id + 1000, "hash-y")):
            with pytest.raises(NotFoundError):
                storage.create_token(
                    alice.id, secret, TokenType.CLIENT_API, "read", None, experiment_id
                )
            assert storage.find_token(secret) is None
        # The list filter a bound token uses shows its experiment only.
        other = storage.create_experiment(alice.id, make_spec("other"))
        listed = storage.list_experiments(alice.id, PageRequest(), experiment_id=mine.id)
        assert ([e.id for e in listed.items], listed.count) == ([mine.id], 1)
        assert storage.list_experiments(alice.id, PageRequest()).count == 2
        assert storage.list_experiments(bob.id, PageRequest(), experiment_id=mine.id).items == []
        assert other.id not in [e.id for e in listed.items]
