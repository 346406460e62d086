"""A throwaway PostgreSQL cluster for the test suite.

`running_postgres()` starts a private cluster (initdb + pg_ctl on a free port on 127.0.0.1,
fsync off, trust auth) and stops and deletes it on exit.  If `HONED_TEST_POSTGRES_URL` is set
(a `postgresql+psycopg://user:pass@host:port/db` URL), that server is used instead and
nothing is started.  `PostgresServer.create_database()` makes a fresh, uniquely named
database and returns its SQLAlchemy URL; `drop_database()` removes it.

Nothing here touches the machine's own PostgreSQL service (which may listen on 5432).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL
from sqlalchemy.engine import make_url

ENV_URL = "HONED_TEST_POSTGRES_URL"
DRIVER = "postgresql+psycopg"
_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_START_ATTEMPTS = 5
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries, or the throwaway cluster would not start."""


@dataclass(frozen=True)
class PostgresServer:
    """A reachable PostgreSQL server; `admin_url` points at its maintenance database."""

    admin_url: str
    started_here: bool = False
    data_dir: Path | None = None
    startup_seconds: float = 0.0

    @property
    def port(self) -> int:
        return int(make_url(self.admin_url).port or 5432)

    def connect_admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection to the maintenance database (caller closes it)."""
        return psycopg.connect(conninfo(self.admin_url), autocommit=True)

    def create_database(self, prefix: str = "honed_test") -> str:
        """Create a fresh, uniquely named database and return its SQLAlchemy URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:16]}"
        _check_name(name)
        with self.connect_admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url: URL = make_url(self.admin_url).set(database=name)
        return url.render_as_string(hide_password=False)

    def drop_database(self, url_or_name: str) -> None:
        """Drop a database made by `create_database` (by URL or name), closing its sessions."""
        name = make_url(url_or_name).database if "://" in url_or_name else url_or_name
        if not name:
            raise ValueError(f"no database name in {url_or_name!r}")
        if name == make_url(self.admin_url).database:
            raise ValueError(f"refusing to drop the maintenance database {name!r}")
        with self.connect_admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def conninfo(url: str) -> str:
    """Turn a SQLAlchemy `postgresql+psycopg://` URL into a libpq conninfo string."""
    u = make_url(url)
    params: dict[str, str | int] = {"dbname": u.database or "postgres"}
    if u.host:
        params["host"] = u.host
    if u.port:
        params["port"] = u.port
    if u.username:
        params["user"] = u.username
    if u.password:
        params["password"] = str(u.password)
    return make_conninfo("", **params)


def find_bindir() -> Path:
    """The newest `/usr/lib/postgresql/<version>/bin` holding initdb (or initdb on PATH)."""
    candidates = [p for p in Path("/").glob(_BIN_GLOB.lstrip("/")) if (p / "initdb").is_file()]

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    if candidates:
        return max(candidates, key=version)
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    raise PostgresUnavailableError(
        f"no PostgreSQL server binaries found ({_BIN_GLOB}/initdb, or initdb on PATH); "
        "install PostgreSQL: scripts/test.sh does it with apt-get"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name) or len(name) > 63:
        raise ValueError(f"bad database name {name!r}")


class _Runner:
    """Runs server binaries as the current user, or as `postgres` when we are root."""

    def __init__(self, bindir: Path, workdir: Path) -> None:
        self.bindir = bindir
        self.workdir = workdir
        self.as_postgres = os.geteuid() == 0

    def run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / tool), *args]
        if self.as_postgres:
            if shutil.which("runuser"):
                argv = ["runuser", "-u", "postgres", "--", *argv]
            else:
                argv = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(argv)]
        # cwd: initdb/pg_ctl fail when the current directory is unreadable for their user.
        # stdin/stdout are not inherited, so no server process keeps a pytest pipe open.
        proc = subprocess.run(
            argv,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        )
        if check and proc.returncode != 0:
            raise PostgresUnavailableError(
                f"{tool} failed (exit {proc.returncode}): {shlex.join(argv)}\n"
                f"{proc.stdout}{proc.stderr}"
            )
        return proc


def _make_workdir() -> Path:
    if os.geteuid() != 0:
        return Path(tempfile.mkdtemp(prefix="honed-pg-"))
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            "running as root, but there is no 'postgres' user to run initdb as; "
            "install PostgreSQL: scripts/test.sh does it with apt-get"
        ) from None
    # Under /tmp (not $TMPDIR) so that every parent is traversable by postgres.
    workdir = Path(tempfile.mkdtemp(prefix="honed-pg-", dir="/tmp"))
    workdir.chmod(0o755)
    os.chown(workdir, pw.pw_uid, pw.pw_gid)
    return workdir


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@contextlib.contextmanager
def start_cluster() -> Iterator[PostgresServer]:
    """Start a private PostgreSQL cluster; stop it and delete its files on exit."""
    began = time.monotonic()
    bindir = find_bindir()
    workdir = _make_workdir()
    runner = _Runner(bindir, workdir)
    data = workdir / "data"
    log = workdir / "server.log"
    started = False
    try:
        runner.run(
            "initdb",
            "-D", str(data),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )  # fmt: skip
        port = 0
        for attempt in range(_START_ATTEMPTS):
            port = free_port()
            opts = _server_options(port, workdir)
            proc = runner.run(
                "pg_ctl", "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start",
                check=False,
            )  # fmt: skip
            if proc.returncode == 0:
                started = True
                break
            # Another process may have taken the port between our probe and the bind: retry.
            runner.run("pg_ctl", "-D", str(data), "-m", "immediate", "stop", check=False)
            if attempt == _START_ATTEMPTS - 1:
                raise PostgresUnavailableError(
                    f"pg_ctl start failed {_START_ATTEMPTS} times (last port {port}):\n"
                    f"{proc.stdout}{proc.stderr}\n--- server log ---\n{_log_tail(log)}"
                )
        yield PostgresServer(
            admin_url=f"{DRIVER}://postgres@127.0.0.1:{port}/postgres",
            started_here=True,
            data_dir=data,
            startup_seconds=time.monotonic() - began,
        )
    finally:
        if started:
            stop = runner.run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop", check=False)
            if stop.returncode != 0:
                runner.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def _server_options(port: int, workdir: Path) -> str:
    return (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )


def _own_cluster(server: PostgresServer) -> tuple[_Runner, Path]:
    if not server.started_here or server.data_dir is None:
        raise PostgresUnavailableError("only a cluster started by start_cluster() can restart")
    return _Runner(find_bindir(), server.data_dir.parent), server.data_dir


def stop_cluster(server: PostgresServer, mode: str = "fast") -> None:
    """Stop a cluster from `start_cluster` (``fast``: sessions are told and closed;
    ``immediate``: as after a crash), keeping its files for `start_cluster_again`."""
    runner, data = _own_cluster(server)
    runner.run("pg_ctl", "-D", str(data), "-m", mode, "-w", "-t", "60", "stop")


def start_cluster_again(server: PostgresServer) -> None:
    """Start a cluster stopped by `stop_cluster` on the same port."""
    runner, data = _own_cluster(server)
    log = data.parent / "server.log"
    opts = _server_options(server.port, data.parent)
    runner.run("pg_ctl", "-D", str(data), "-l", str(log), "-o", opts, "-w", "-t", "60", "start")


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """The server named by $HONED_TEST_POSTGRES_URL, or else a private throwaway cluster."""
    env_url = os.environ.get(ENV_URL, "").strip()
    if env_url:
        url = make_url(env_url)
        if url.drivername != DRIVER:
            raise PostgresUnavailableError(f"{ENV_URL} must be a {DRIVER}:// URL, got {env_url!r}")
        if not url.database:
            url = url.set(database="postgres")
        yield PostgresServer(admin_url=url.render_as_string(hide_password=False))
        return
    with start_cluster() as server:
        yield server


# The two backends a module's server fixture runs on, PostgreSQL marked as such.
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def backend_database(backend: str, directory: Path, postgres: PostgresServer) -> Iterator[str]:
    """The URL of a fresh database on ``backend`` (one of BACKENDS): a SQLite file in
    ``directory``, or a PostgreSQL database that is dropped on exit."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'honed.db'}"
        return
    url = postgres.create_database()
    try:
        yield url
    finally:
        postgres.drop_database(url)
