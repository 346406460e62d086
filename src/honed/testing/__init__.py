"""Conformance suites shipped with honed, to run over every implementation of a contract.

``honed.testing.storage.StorageConformance`` checks a ``honed.storage.base.Storage``: subclass
it in a test module and provide a ``storage`` fixture (a fresh, empty store per test)::

    class TestMyStore(StorageConformance):
        @pytest.fixture
        def storage(self) -> Iterator[Storage]:
            store = MyStore()
            yield store
            store.close()

The storage suite is one class per role (``TenantConformance``, ``SuggestionConformance``,
... in ``honed.testing.storage``), each usable alone the same way. Their tests set up
through the tenants and experiments roles, so the fixture's store implements those too.

These modules import pytest; import them only from tests.
"""
