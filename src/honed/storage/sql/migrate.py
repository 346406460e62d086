"""Apply the Alembic migrations shipped in this package; safe when processes race to do it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from honed.storage.sql.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant will do: it only has to be the same in every honed process.
MIGRATION_LOCK_KEY = 0x686F6E6564


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(database: Database) -> None:
    """Bring the schema to the newest revision.

    On PostgreSQL a session advisory lock makes racing processes migrate one at a time; on
    SQLite the write engine's BEGIN IMMEDIATE does the same.
    """
    config = alembic_config()
    with database.write_engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()
