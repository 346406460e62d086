"""The fence around storage/sql/prepared.py: it compiles statements through SQLAlchemy
internals (``_returning``, ``construct_params(_check=False)``, ``positiontup``) that a new
SQLAlchemy minor release may change. Every prepared statement of the hot paths is compiled
for both dialects and planned by the real database against the migrated schema."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from honed.storage.sql import hot
from honed.storage.sql.prepared import Prepared
from honed.storage.sql.storage import SqlStorage

STATEMENTS = {name: value for name, value in vars(hot).items() if isinstance(value, Prepared)}
# Built per number of point hashes asked about: one and several.
STATEMENTS |= {f"observed_among({n})": hot._observed_among_statement(n) for n in (1, 3)}
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def test_the_fence_names_the_installed_sqlalchemy_minor() -> None:
    """pyproject pins SQLAlchemy to the minor release this module was tested with; a newer
    one must come with this test passing first."""
    assert version("sqlalchemy").startswith("2.1.")


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_prepared_statement_compiles_and_is_planned(
    backend: str, request: pytest.FixtureRequest
) -> None:
    assert len(STATEMENTS) >= 20  # the module's statements were found
    url: str = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    storage = SqlStorage.from_url(url)
    try:
        for name, statement in STATEMENTS.items():
            with storage._tx.raw_write() as tx:
                compiled = statement._compiled(tx.dialect)
                assert compiled.sql, name
                arguments = statement._arguments(compiled, dict.fromkeys(compiled.names))
                if compiled.positional:
                    assert len(arguments) == compiled.sql.count("?"), name
                cursor = tx.dbapi.cursor()
                # EXPLAIN plans without running: the SQL, its binds and the schema agree.
                cursor.execute(f"EXPLAIN {compiled.sql}", arguments)
                assert cursor.fetchall(), name
                cursor.close()
    finally:
        storage.close()
