"""The fence around storage/sql/prepared.py: it compiles statements through SQLAlchemy
internals (``_returning``, ``construct_params(_check=False)``, ``positiontup``) that a new
SQLAlchemy minor release may change. Every prepared statement of the hot paths is compiled
for both dialects and planned by the real database against the migrated schema."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from honed.domain.records import MetricValue
from honed.storage.observations import NewObservation
from honed.storage.sql import hot
from honed.storage.sql import queue_version
from honed.storage.sql.database import json_loads
from honed.storage.sql.prepared import Prepared
from honed.storage.sql.storage import SqlStorage
from honed.testing.storage_support import make_spec
from honed.testing.storage_support import point

STATEMENTS = {name: value for name, value in vars(hot).items() if isinstance(value, Prepared)}
# Built per number of point hashes asked about: one and several.
STATEMENTS |= {f"observed_among({n})": hot.observed_among_statement(n) for n in (1, 3)}
STATEMENTS["WORK_VERSION"] = queue_version.WORK_VERSION
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
# Sent on PostgreSQL only (pipelined transactions).
POSTGRES_ONLY = {"NEXT_OBSERVATION_IDS"}


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
            if backend == "sqlite" and name in POSTGRES_ONLY:
                continue
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


def test_json_columns_read_as_json_loads_reads_them(storage: SqlStorage) -> None:
    """Columns are read with pydantic-core's parser, and what it refuses (a lone surrogate,
    which SQLite stores as written) with json.loads, on both the ORM's and the hot path's
    reads."""

    for text in ('"\\ud800"', '{"a":[1,2.5,null,"é"],"b":1e400}', "12345678901234567890123"):
        assert json_loads(text) == json.loads(text)
        assert json_loads(text.encode()) == json.loads(text)
    experiment = storage.create_experiment(storage.create_client("c").id, make_spec())
    metadata: dict[str, str | float | int] = {"odd": "\ud800", "plain": "x", "n": 1.5}
    new = NewObservation(None, point(1), (MetricValue("f", 0.1),), False, metadata)
    (stored,) = storage.create_observations(experiment.id, [new])
    assert storage.all_observations(experiment.id)[0].metadata == metadata
    assert storage.get_observation(experiment.id, stored.id).metadata == metadata
