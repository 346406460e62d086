"""Engines and transactions for SQLite and PostgreSQL.

SQLite: WAL mode, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions, so a
writer takes the database lock before it reads (pysqlite would otherwise defer BEGIN and
let two writers read the same state). PostgreSQL: ordinary transactions; writes that must
be serialized per experiment take a row lock (see storage.py).
"""

from __future__ import annotations

import fcntl
import json
import select
import threading
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from typing import Any

import pydantic_core
from sqlalchemy import Dialect
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from honed.errors import ConflictError
from honed.errors import ServiceUnavailableError

DEFAULT_URL = "sqlite:///honed.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def json_loads(text: str | bytes) -> Any:
    """Every JSON column's reader: ``json.loads`` in a third of its time on the small
    texts of a row, with pydantic-core's parser (which comes with pydantic;
    docs/decisions.md: The dashboard's experiment page at 30,000 observations). What that
    parser refuses and ``json.loads`` reads (a lone surrogate escape) ``json.loads`` reads.
    """
    try:
        return pydantic_core.from_json(text)
    except ValueError:
        return json.loads(text)


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` and ``postgres://`` URLs and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Database:
    """A read engine and a write engine on one database (the same engine on PostgreSQL)."""

    url: str
    read_engine: Engine
    write_engine: Engine

    @property
    def is_sqlite(self) -> bool:
        return self.read_engine.dialect.name == "sqlite"

    def pool_use(self) -> tuple[int, int]:
        """Connections checked out of this process's pools now, and the connections the
        pools keep (both engines on SQLite, which may open overflow connections beyond
        that; PostgreSQL's pool opens none)."""
        pools = {id(e.pool): e.pool for e in (self.read_engine, self.write_engine)}.values()
        # QueuePool keeps these counts; a pool that keeps none (SQLite :memory:) adds 0.
        checked_out = sum(getattr(pool, "checkedout", lambda: 0)() for pool in pools)
        size = sum(getattr(pool, "size", lambda: 0)() for pool in pools)
        return checked_out, size

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()


CONNECT_TIMEOUT_SECONDS = 10
POSTGRES_CONNECT_ARGS: dict[str, int] = {
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

#: Connections per process to PostgreSQL (``honed serve --db-pool-size``).
DEFAULT_POOL_SIZE = 10


def open_database(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Database:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Database(url, _sqlite_engine(url, "BEGIN"), _sqlite_engine(url, "BEGIN IMMEDIATE"))
    # A fixed pool: requests beyond pool_size wait for a connection. With overflow
    # connections, every burst past the pool opened and closed PostgreSQL connections (a
    # backend process each), which cost more CPU than the transactions themselves under
    # load. pool_timeout: a request that cannot get a connection answers 503 soon rather
    # than hanging (the pool's TimeoutError is translated like a dead database).
    # A server that accepts the connection but never answers (starting up, overloaded, a
    # dropped network path) must not hang a process: connecting gives up after
    # CONNECT_TIMEOUT_SECONDS and TCP keepalives notice a peer that vanished. Settings in
    # the URL's query win.
    connect_args = {
        key: value for key, value in POSTGRES_CONNECT_ARGS.items() if key not in parsed.query
    }
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args=connect_args,
        json_deserializer=json_loads,
    )
    _drop_dead_connections(engine)
    return Database(url, engine, engine)


def _drop_dead_connections(engine: Engine) -> None:
    """Replace pooled connections that the server closed, without a round trip.

    SQLAlchemy's pre-ping costs a round trip per checkout. An idle pooled connection has
    nothing to read unless the server has closed it (a restart sends FATAL "terminating
    connection" and closes the socket), so a zero-timeout poll of its socket finds dead
    connections for a system call. Raising DisconnectionError makes the pool discard the
    connection and check out (or open) another, up to three times.
    """

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _is_dead(dbapi_connection):
            raise exc.DisconnectionError("the database server closed this connection")


def _is_dead(dbapi_connection: Any) -> bool:
    if getattr(dbapi_connection, "closed", False):
        return True
    try:
        fd = dbapi_connection.pgconn.socket
        readable, _, _ = select.select([fd], [], [], 0)
    except Exception:  # no socket (closed, broken): as good as dead
        return True
    # Readable while idle: EOF, or an error or notice the server sent before closing.
    return bool(readable)


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        json_deserializer=json_loads,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event, not pysqlite, decide when a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


class Transactions:
    """Short sessions that commit on success and translate database failures.

    On SQLite writers queue on locks of their own before BEGIN IMMEDIATE: a thread lock
    within the process and an advisory file lock (``<database>.lock``) across processes.
    SQLite's busy handler instead polls with growing sleeps, which under load gave
    second-long outliers and starved some writers.
    """

    def __init__(self, database: Database) -> None:
        self._read = sessionmaker(database.read_engine, expire_on_commit=False)
        self._write = sessionmaker(database.write_engine, expire_on_commit=False)
        self._read_engine = database.read_engine
        self._write_engine = database.write_engine
        self._write_lock = threading.Lock() if database.is_sqlite else None
        self._lock_path = _lock_path(database.url) if database.is_sqlite else None
        self._lock_file: IO[bytes] | None = None

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _translated(), self._read() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._locked(), _translated(), self._write() as session, session.begin():
            yield session

    @contextmanager
    def raw_write(self) -> Iterator[RawTransaction]:
        """A write transaction on the driver's own connection, for ``Prepared`` statements:
        the same locking as ``write``, and errors translated the same way."""
        with (
            self._locked(),
            _translated(),
            _raw_transaction(self._write_engine, "BEGIN IMMEDIATE") as raw,
        ):
            yield raw

    @contextmanager
    def raw_read(self) -> Iterator[RawTransaction]:
        """A read transaction on the driver's own connection (no locks)."""
        with _translated(), _raw_transaction(self._read_engine, "BEGIN") as raw:
            yield raw

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._write_lock is None:
            yield
            return
        with self._write_lock:
            if self._lock_path is None:
                yield
                return
            if self._lock_file is None:
                self._lock_file = open(self._lock_path, "ab")  # noqa: SIM115 (kept open)
            fcntl.flock(self._lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


@dataclass
class RawTransaction:
    """A DB-API connection inside a transaction, and the dialect its statements target.

    On PostgreSQL the transaction runs in psycopg's pipeline mode (``pipeline``): statements
    sent without reading their results travel together (see ``Prepared.send``), so a
    transaction costs a round trip per read that the code waits for, not per statement,
    and one for its COMMIT.
    """

    dbapi: Any
    dialect: Dialect
    pipeline: Any = None
    committed: bool = False
    #: Leaves pipeline mode: a Sync, and every result read (PostgreSQL).
    leave_pipeline: Callable[[], None] | None = None

    def commit_sent(self) -> None:
        """On PostgreSQL, commit now: the COMMIT goes in one round trip with the statements
        sent before it, whose results can still be read afterwards, so a transaction that
        ends with writes holds its locks one round trip less. Send nothing after it.
        Elsewhere (SQLite, in-process) a no-op: the transaction commits at its end."""
        if self.leave_pipeline is not None and not self.committed:
            # Queued, then the pipeline left: its Sync is the round trip that commits.
            commit = self.dbapi.cursor()
            commit.execute("COMMIT", prepare=False)
            self.committed = True
            try:
                self.leave_pipeline()
            finally:
                commit.close()


@contextmanager
def _raw_transaction(engine: Engine, sqlite_begin: str) -> Iterator[RawTransaction]:
    dialect = engine.dialect
    try:
        pooled = engine.raw_connection()
    except Exception as error:  # unlike Engine.connect, raw_connection does not wrap these
        raise _as_sqlalchemy_error(dialect, error) from error
    dbapi: Any = pooled.driver_connection
    try:
        if dialect.name == "sqlite":
            # The connection runs in autocommit mode (see _sqlite_engine): begin explicitly
            # (BEGIN IMMEDIATE takes the write lock before the first read).
            dbapi.execute(sqlite_begin)
            raw = RawTransaction(dbapi, dialect)
            yield raw
            if not raw.committed:
                dbapi.commit()
        else:
            # BEGIN and COMMIT are sent as statements, on a connection in autocommit mode
            # meanwhile: psycopg's own BEGIN waits for its answer in pipeline mode, a round
            # trip of its own, and its commit syncs once more than leaving the pipeline.
            dbapi.autocommit = True
            with ExitStack() as pipelined:
                pipeline = pipelined.enter_context(dbapi.pipeline())
                dbapi.execute("BEGIN", prepare=False)
                raw = RawTransaction(dbapi, dialect, pipeline, leave_pipeline=pipelined.close)
                yield raw
                raw.commit_sent()
    except BaseException as error:
        try:
            dbapi.rollback()
        except Exception:
            pooled.invalidate()  # the connection is broken: never hand it out again
            raise _as_sqlalchemy_error(dialect, error) from error
        if dialect.dbapi is not None and isinstance(error, dialect.dbapi.Error):
            if dialect.is_disconnect(error, dbapi, None):
                pooled.invalidate()
            raise _as_sqlalchemy_error(dialect, error) from error
        raise
    finally:
        if dialect.name != "sqlite" and not dbapi.closed:
            # As the pool and SQLAlchemy's sessions use it (after the rollback: psycopg
            # refuses while a transaction is open).
            try:
                dbapi.autocommit = False
            except Exception:
                pooled.invalidate()  # still in a transaction: never hand it out again
        pooled.close()


def _as_sqlalchemy_error(dialect: Dialect, error: BaseException) -> BaseException:
    """DB-API errors as the SQLAlchemy exceptions ``_translated`` knows."""
    dbapi = dialect.dbapi
    if dbapi is None or not isinstance(error, dbapi.Error):
        return error
    return exc.DBAPIError.instance(None, None, error, dbapi.Error)


#: Where run files go when the database is no SQLite file (a server's working directory).
DEFAULT_FILES_DIR = "honed-files"


def default_files_dir(url: str) -> str:
    """The file store's directory by default: beside a SQLite database file
    (``honed.db``: ``honed-files``), else ``honed-files`` in the working directory."""
    parsed = make_url(normalize_url(url))
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return DEFAULT_FILES_DIR
    path = Path(database)
    return str(path.with_name(f"{path.stem}-files"))


def _lock_path(url: str) -> str | None:
    """The lock file beside a SQLite database file (None for in-memory databases)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return database + ".lock"


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except exc.IntegrityError as error:
        raise ConflictError(f"The change conflicts with stored data: {error.orig}") from error
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise ServiceUnavailableError(
            f"The database is unavailable, try again shortly: {error.orig}"
        ) from error
    except exc.DisconnectionError as error:
        raise ServiceUnavailableError(
            f"The database is unavailable, try again shortly: {error}"
        ) from error
    except exc.TimeoutError as error:
        raise ServiceUnavailableError(
            "The database is busy (no connection free in time), try again shortly"
        ) from error
    except exc.DBAPIError as error:
        if not error.connection_invalidated:
            raise
        raise ServiceUnavailableError(
            f"The database connection was lost, try again shortly: {error.orig}"
        ) from error
