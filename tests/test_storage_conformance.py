"""The storage conformance suite on SQLite and PostgreSQL, plus the races and migrations
that need more than one process."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from honed.storage.sql.database import normalize_url
from honed.storage.sql.migrate import alembic_config
from honed.storage.sql.models import Base
from honed.storage.sql.storage import SqlStorage
from honed.testing.storage import ProcessRace
from honed.testing.storage import StorageConformance
from honed.testing.storage import check_race_outcomes
from honed.testing.storage import make_spec
from honed.testing.storage import open_and_close
from honed.testing.storage import suggest_from_processes


class TestSqlite(StorageConformance):
    """Uses the ``storage`` fixture of conftest: a migrated SQLite file per test."""


@pytest.mark.postgres
class TestPostgres(StorageConformance):
    @pytest.fixture
    def storage(self, postgres_url: str) -> Iterator[SqlStorage]:
        store = SqlStorage.from_url(postgres_url)
        yield store
        store.close()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database: a new SQLite file, or a fresh PostgreSQL database."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(scope="module")
def race() -> Iterator[ProcessRace]:
    """Four spawned processes, started once for every race in this module."""
    with ProcessRace(4) as processes:
        yield processes


def test_concurrent_create_suggestion_processes(database_url: str, race: ProcessRace) -> None:
    store = SqlStorage.from_url(database_url)
    try:
        experiment = store.create_experiment(store.create_client("c").id, make_spec())
        outcomes = suggest_from_processes(
            race, partial(SqlStorage.from_url, database_url, migrate=False), experiment.id
        )
        check_race_outcomes(outcomes, race.processes)
    finally:
        store.close()


# --- migrations -------------------------------------------------------------------------------


def _schema_differences(url: str) -> list[Any]:
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrations_match_models_and_rerun_harmlessly(database_url: str) -> None:
    # The comparison can fail: an empty database differs from the models.
    assert _schema_differences(database_url) != []
    assert _revision(database_url) is None

    first = SqlStorage.from_url(database_url)
    try:
        assert _schema_differences(database_url) == []
        assert _revision(database_url) == HEAD
        experiment = first.create_experiment(first.create_client("c").id, make_spec())
        second = SqlStorage.from_url(database_url)  # migrating again changes nothing
        try:
            assert second.get_experiment(experiment.id) == experiment
        finally:
            second.close()
    finally:
        first.close()
    assert _schema_differences(database_url) == []
    assert _revision(database_url) == HEAD


@pytest.mark.postgres
def test_concurrent_migrations_from_several_processes(
    postgres_url: str, race: ProcessRace
) -> None:
    assert race.run(open_and_close, partial(SqlStorage.from_url, postgres_url)) == ["ok"] * 4
    assert _schema_differences(postgres_url) == []
    assert _revision(postgres_url) == HEAD
