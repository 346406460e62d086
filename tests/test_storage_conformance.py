"""The storage conformance suite on SQLite and PostgreSQL, plus the races and migrations
that need more than one process."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from honed.domain.experiment import Task
from honed.domain.parameters import Assignments
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import SuggestionSource
from honed.storage.observations import NewObservation
from honed.storage.optimizer import CandidateSet
from honed.storage.sql.database import normalize_url
from honed.storage.sql.migrate import alembic_config
from honed.storage.sql.models import CANDIDATES
from honed.storage.sql.models import OBSERVATIONS
from honed.storage.sql.models import SUGGESTIONS
from honed.storage.sql.models import Base
from honed.storage.sql.storage import SqlStorage
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision
from honed.testing.storage import ProcessRace
from honed.testing.storage import StorageConformance
from honed.testing.storage import check_race_outcomes
from honed.testing.storage import make_spec
from honed.testing.storage import open_and_close
from honed.testing.storage import suggest_from_processes
from honed.testing.storage_support import point


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


# --- 0010: a multitask point's hash covers its task -----------------------------------------

HASHED = (SUGGESTIONS, OBSERVATIONS, CANDIDATES)


def _hashed_rows(url: str) -> dict[tuple[str, int], Any]:
    """``(table, id) -> row`` (``point_hash``, ``assignments``, ``task``) of every row with
    a point hash."""
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            return {
                (table.name, row.id): row
                for table in HASHED
                for row in connection.execute(
                    sa.select(table.c.id, table.c.point_hash, table.c.assignments, table.c.task)
                )
            }
    finally:
        engine.dispose()


def _downgrade(url: str, revision: str) -> None:
    config = alembic_config()
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def _at(assignments: Assignments, task: str | None) -> Callable[[SuggestionContext], Any]:
    def decide(context: SuggestionContext) -> SuggestionDecision:
        new = NewSuggestion(assignments, SuggestionSource.ENGINE, None, task=task)
        return SuggestionDecision(new, context.cursor + 1)

    return decide


def _records(store: SqlStorage) -> int:
    """A plain and a multitask experiment, each with an open suggestion, an observed one,
    an observation of assignments and two candidates per task (point(0) is open at both
    tasks). Returns the multitask experiment's id."""
    client = store.create_client("c").id
    plain = store.create_experiment(client, make_spec()).id
    tasks = (Task("tenth", 0.1), Task("full", 1.0))
    multitask = store.create_experiment(client, make_spec(tasks=tasks)).id
    value = (MetricValue("f", 1.0, None),)
    for eid, task in ((plain, None), (multitask, "tenth"), (multitask, "full")):
        store.create_suggestion(eid, _at(point(0), task))
        done = store.create_suggestion(eid, _at(point(1), task))
        store.create_observations(
            eid,
            [
                NewObservation(done.id, None, value, False, None),
                NewObservation(None, point(2), (), True, None, task=task),
            ],
        )
        inputs = store.fit_inputs(eid)
        store.store_candidates(eid, CandidateSet([point(3), point(4)], 2, inputs, 0.1, [task] * 2))
    return multitask


def test_0010_rehashes_the_points_of_multitask_experiments_only(database_url: str) -> None:
    store = SqlStorage.from_url(database_url)
    try:
        multitask = _records(store)
        # 0009 allows one open suggestion per point of assignments.
        store.delete_suggestions(multitask, open_only=True)
    finally:
        store.close()
    at_head = _hashed_rows(database_url)
    assert all(r.point_hash == point_hash(r.assignments, r.task) for r in at_head.values())

    _downgrade(database_url, "0009")
    before = _hashed_rows(database_url)
    assert all(r.point_hash == point_hash(r.assignments) for r in before.values())
    changed = {key for key, row in before.items() if row.point_hash != at_head[key].point_hash}
    assert changed == {key for key, row in at_head.items() if row.task is not None}
    assert len(changed) == 10  # of 15: five rows per experiment and task

    SqlStorage.from_url(database_url).close()  # migrates to the head again
    assert _revision(database_url) == HEAD
    assert _hashed_rows(database_url) == at_head


def test_0010_refuses_to_downgrade_a_point_open_at_two_tasks(database_url: str) -> None:
    store = SqlStorage.from_url(database_url)
    try:
        _records(store)
    finally:
        store.close()
    with pytest.raises(RuntimeError, match="the same assignments at two tasks"):
        _downgrade(database_url, "0009")
    assert _revision(database_url) == HEAD


# --- 0012: suggestions.modified -----------------------------------------------------------


def test_0012_gives_stored_suggestions_their_creation_time(database_url: str) -> None:
    store = SqlStorage.from_url(database_url)
    try:
        _records(store)
    finally:
        store.close()
    _downgrade(database_url, "0011")
    SqlStorage.from_url(database_url).close()  # migrates to the head again
    engine = sa.create_engine(normalize_url(database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(SUGGESTIONS.c.created, SUGGESTIONS.c.modified))
            pairs = [(row.created, row.modified) for row in rows]
    finally:
        engine.dispose()
    assert len(pairs) == 6
    assert all(created == modified for created, modified in pairs)


# --- 0013: one index of suggestions by state and point ---------------------------------------


def _suggestion_indexes(url: str) -> set[str]:
    engine = sa.create_engine(normalize_url(url))
    try:
        return {str(index["name"]) for index in sa.inspect(engine).get_indexes("suggestions")}
    finally:
        engine.dispose()


def test_0013_replaces_the_state_and_point_indexes_and_gives_them_back(
    database_url: str,
) -> None:
    SqlStorage.from_url(database_url).close()
    merged = "ix_suggestions_experiment_state_point"
    replaced = {"ix_suggestions_experiment_state", "ix_suggestions_experiment_point"}
    assert merged in _suggestion_indexes(database_url)
    assert not replaced & _suggestion_indexes(database_url)
    _downgrade(database_url, "0012")
    assert replaced <= _suggestion_indexes(database_url)
    assert merged not in _suggestion_indexes(database_url)
    SqlStorage.from_url(database_url).close()  # migrates to the head again
    assert _schema_differences(database_url) == []
