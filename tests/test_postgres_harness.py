"""The PostgreSQL test harness itself: a real server, one isolated database per test."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from tests.support.postgres import PostgresServer
from tests.support.postgres import conninfo

pytestmark = pytest.mark.postgres


def test_fresh_database_accepts_connection(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == (
                sa.make_url(postgres_url).database
            )
    finally:
        engine.dispose()


def test_databases_are_distinct_and_isolated(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    other = postgres_server.create_database()
    try:
        assert sa.make_url(other).database != sa.make_url(postgres_url).database
        with psycopg.connect(conninfo(postgres_url), autocommit=True) as conn:
            conn.execute("CREATE TABLE only_here (id integer PRIMARY KEY)")
            conn.execute("INSERT INTO only_here VALUES (1)")
        with psycopg.connect(conninfo(other), autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('public.only_here')").fetchone()
            assert row == (None,)
    finally:
        postgres_server.drop_database(other)


def test_dropped_database_is_gone(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    name = sa.make_url(url).database
    # An open session does not block the drop (WITH (FORCE)).
    with psycopg.connect(conninfo(url)) as held:
        postgres_server.drop_database(url)
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    with postgres_server.connect_admin() as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    assert row is None
