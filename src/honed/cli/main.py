"""``honed serve`` and ``honed token``: thin commands over the service layer."""

from __future__ import annotations

import contextlib
import copy
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import click
from click.core import ParameterSource

from honed import __version__
from honed.cli.experiments import experiment
from honed.cli.experiments import experiments
from honed.cli.experiments import export
from honed.cli.run import run
from honed.domain.files import DEFAULT_MAX_FILE_BYTES
from honed.engine.botorch.budget import DEFAULT_FIT_BUDGET_SECONDS
from honed.engine.botorch.budget import MAX_FIT_BUDGET_SECONDS
from honed.errors import HonedError
from honed.server.optimizers import optimizer_processes
from honed.storage.sql.database import DEFAULT_POOL_SIZE
from honed.storage.sql.database import DEFAULT_URL

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client import CollectorRegistry

    from honed.server.settings import Settings
    from honed.service.tokens import TokenService
    from honed.storage.sql.storage import SqlStorage

#: As uvicorn's default.
LISTEN_BACKLOG = 2048

DATABASE_OPTION = click.option(
    "--database-url",
    envvar="HONED_DATABASE_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="SQLAlchemy URL: a SQLite file, or postgresql+psycopg://user:pass@host:5432/db.",
)


class HonedGroup(click.Group):
    """A HonedError is one honed raised on purpose, for the user to act on: it ends any
    command with one ``Error:`` line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HonedError as error:
            raise click.ClickException(" ".join(error.message.split())) from None


@click.group(cls=HonedGroup)
@click.version_option(__version__, prog_name="honed")
def main() -> None:
    """honed: self-hosted Bayesian optimization with the SigOpt REST API."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@DATABASE_OPTION
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes. Use PostgreSQL when running more than one.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"], case_sensitive=False),
    default="warning",
    show_default=True,
    help="Of the server and its optimizer processes (info: a line per request and per "
    "model fit; debug: also the database migrations).",
)
@click.option(
    "--optimizers",
    default=1,
    show_default=True,
    type=click.IntRange(0, 64),
    help="Optimizer processes that fit models and keep candidates ready (0: Sobol only "
    "unless optimizers run elsewhere on the same database).",
)
@click.option(
    "--candidate-wait",
    "candidate_wait_seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0, 3600),
    help="The longest a suggestion request past the initial design waits for a fresh model "
    "point (about three of its experiment's fits, longer while the optimizer fits it or "
    "other experiments ahead of it); then it gets the newest model point, and Sobol only if "
    "the optimizer has none. 0: never wait.",
)
@click.option(
    "--prefer",
    type=click.Choice(["quality", "latency"]),
    default="quality",
    show_default=True,
    help="quality: wait for a point whose model saw every reported observation. latency: "
    "hand out whatever model point is ready at once, even one computed before the latest "
    "observations.",
)
@click.option(
    "--rate-limit",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0),
    envvar="HONED_RATE_LIMIT",
    help="Requests per second allowed per API token in each server process; more answer "
    "429 with Retry-After (0: no limit).",
)
@click.option(
    "--rate-burst",
    default=None,
    type=click.FloatRange(1),
    envvar="HONED_RATE_BURST",
    help="Requests a token may send at once before --rate-limit applies (default: one "
    "second's worth).",
)
@click.option(
    "--db-pool-size",
    default=DEFAULT_POOL_SIZE,
    show_default=True,
    type=click.IntRange(1, 1000),
    envvar="HONED_DB_POOL_SIZE",
    help="PostgreSQL connections per server process; requests beyond it wait for one. "
    "Keep processes x this below the server's max_connections.",
)
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (same --host, a port of "
    "its own, no token). Off by default: nothing is recorded. HONED_METRICS_PORT.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="A browser origin (e.g. https://dash.example.com) allowed to call the API; "
    "repeat for several. No CORS unless given.",
)
@click.option(
    "--files-dir",
    default=None,
    help="Directory for run files (the sigopt client's log_image); created if missing. "
    "Default: beside a SQLite database (honed.db: honed-files), else ./honed-files. "
    "Several servers on one PostgreSQL need one directory they all mount.",
)
@click.option(
    "--files-s3-bucket",
    default=None,
    help="Keep run files in this S3-compatible bucket instead of --files-dir (needs "
    "honed[s3]; credentials as boto3 finds them, e.g. AWS_ACCESS_KEY_ID).",
)
@click.option(
    "--files-s3-endpoint-url",
    default=None,
    help="The S3 endpoint, for MinIO, Ceph and other S3-compatible stores (default: AWS).",
)
@click.option(
    "--max-file-size",
    "max_file_bytes",
    default=DEFAULT_MAX_FILE_BYTES,
    show_default=True,
    type=click.IntRange(1),
    help="The largest run file accepted, in bytes.",
)
@click.option(
    "--public-url",
    default=None,
    help="The URL clients reach this server at (e.g. behind a proxy), for the upload and "
    "download URLs of run files. Default: the URL each request came to.",
)
def serve(
    host: str, port: int, workers: int, log_level: str, optimizers: int, **flags: Any
) -> None:
    """Run the API server (SQLite ./honed.db unless --database-url says otherwise).

    A setting not given as a flag comes from its HONED_* variable, e.g.
    HONED_CANDIDATE_WAIT_SECONDS or HONED_CORS_ORIGINS (comma-separated); --host, --port,
    --workers, --optimizers and --log-level have none.
    """
    from honed.server.app import file_store
    from honed.server.settings import Settings

    # The other options are Settings fields by name; those left at their default give way
    # to the HONED_* variables.
    context = click.get_current_context()
    given = {
        name: value
        for name, value in flags.items()
        if context.get_parameter_source(name) is not ParameterSource.DEFAULT
    }
    try:
        # The optimizer processes are this command's to start: --optimizers always counts.
        settings = Settings(**given, optimizers=optimizers)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    try:
        files_location = file_store(settings).location
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    # Before the database is touched: a busy port must not cost a token shown only once.
    sock = _listen(host, port)
    with contextlib.ExitStack() as cleanup:
        metrics = _Metrics.start(host, settings.metrics_port)
        if metrics is not None:
            cleanup.callback(metrics.stop)
        _serve_from(
            settings,
            sock,
            host,
            port,
            workers,
            log_level,
            optimizers,
            metrics,
            cleanup,
            files_location,
        )


def _serve_from(
    settings: Settings,
    sock: socket.socket,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    optimizers: int,
    metrics: _Metrics | None,
    cleanup: contextlib.ExitStack,
    files_location: str,
) -> None:
    """``serve`` once its ports are bound: the database, the token, the processes."""
    database_url = settings.database_url
    env_token = settings.api_token
    with _token_service(database_url) as tokens:  # migrates once, before any worker starts
        client, issued = tokens.bootstrap(env_token)
    if metrics is not None:  # its scrapes read the store
        metrics.read_store(database_url)
    url = f"http://{host}:{port}"
    click.echo(f"honed {__version__} serving {database_url} at {url}")
    click.echo(f"  export SIGOPT_API_URL={url}")
    click.echo(f"  dashboard: {url}/dashboard/")
    click.echo(f"  run files: {files_location}")
    if metrics is not None:
        click.echo(f"  metrics: http://{host}:{settings.metrics_port}/metrics")
    if issued is not None and env_token is None:
        click.echo(
            f"  export SIGOPT_API_TOKEN={issued.secret}   (client {client.id}; "
            "shown once, keep it)"
        )
    elif env_token is not None:
        click.echo("  the HONED_API_TOKEN value is a valid token of the default client")
    else:
        # A first serve printed its token once, and the operator may not have kept it; a
        # database that honed run or an embedded client made has one nobody was shown.
        create = "honed token create"
        if database_url != DEFAULT_URL:
            create += f" --database-url {shlex.quote(database_url)}"
        click.echo("  this database has tokens, shown only when made (if at all); a new one:")
        click.echo(f"  export SIGOPT_API_TOKEN=$({create})")
    sys.stdout.flush()
    # uvicorn re-raises the SIGTERM that stopped it once it has shut down; with the
    # default action that killed this process before its cleanup (``serve``'s ExitStack),
    # leaving the optimizer processes running on their own. As SystemExit it unwinds
    # through it.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # Optimizer processes: torch stays out of the API processes. One that dies is started
    # again.
    processes = optimizer_processes(database_url, optimizers, log_level=log_level)
    processes.start()
    cleanup.callback(processes.stop)  # first: the callbacks run last registered first
    _serve_api(settings, sock, host, port, workers, log_level)


class _Metrics:
    """``--metrics-port``: this process serves ``/metrics`` for all of the server's
    processes, which write their metrics to a directory of its own (prometheus-client's
    multiprocess mode; see honed.server.scrape)."""

    def __init__(self, directory: str, server: WSGIServer, registry: CollectorRegistry) -> None:
        self._directory = directory
        self._server = server
        self._registry = registry
        self._storage: SqlStorage | None = None

    @classmethod
    def start(cls, host: str, port: int | None) -> _Metrics | None:
        if port is None:
            return None
        # A fresh directory per start (stale files would add old counts to new ones), set
        # before prometheus_client is first imported here, and inherited by the API
        # workers and the optimizer processes started below.
        directory = tempfile.mkdtemp(prefix="honed-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        from honed.server import scrape

        registry = scrape.registry(directory)
        try:
            server = scrape.serve_metrics(host, port, registry)
        except OSError as error:
            shutil.rmtree(directory, ignore_errors=True)
            raise click.ClickException(
                f"cannot listen on {host}:{port} for metrics: {error.strerror or error}; "
                "pass another --metrics-port"
            ) from None
        return cls(directory, server, registry)

    def read_store(self, database_url: str) -> None:
        from honed.server import scrape
        from honed.service.operations import OperationsService
        from honed.storage.sql.storage import SqlStorage

        self._storage = SqlStorage.from_url(database_url, migrate=False, pool_size=2)
        self._registry.register(scrape.StoreCollector(OperationsService(self._storage)))

    def stop(self) -> None:
        if self._storage is not None:
            self._storage.close()
        self._server.shutdown()
        self._server.server_close()
        shutil.rmtree(self._directory, ignore_errors=True)


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound and listening, or a one-line error (as uvicorn binds)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as error:
        sock.close()
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {error.strerror or error}; stop what uses the "
            "port, or pass another --port"
        ) from None
    sock.set_inheritable(True)  # for the worker processes of --workers
    return sock


def server_log_config(log_level: str) -> dict[str, Any]:
    """uvicorn's logging set-up, with honed's own loggers at ``log_level`` on its handler:
    left to the root logger, an API process dropped honed's info lines (a request served a
    stale model point after its wait) and printed its warnings unformatted."""
    from uvicorn.config import LOG_LEVELS
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["honed"] = {
        "handlers": ["default"],
        "level": LOG_LEVELS[log_level.lower()],
        "propagate": False,
    }
    return config


def _serve_api(
    settings: Settings, sock: socket.socket, host: str, port: int, workers: int, log_level: str
) -> None:
    """uvicorn serving ``create_app(settings)`` in ``workers`` processes.

    ``uvicorn.run`` takes only an import string for several workers, and that factory
    could learn its settings only from the environment. Its own parts take the factory as
    an object: the Config, pickled into each spawned worker, carries the settings with it
    (see ``AppFactory``).
    """
    from uvicorn import Config
    from uvicorn import Server
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from honed.server.http_protocol import LimitedHeadProtocol
    from honed.server.worker import AppFactory

    config = Config(
        AppFactory.of(settings),
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        log_config=server_log_config(log_level),
        timeout_graceful_shutdown=5,
        # Request heads capped (431 past 64 KiB), see honed.server.http_protocol.
        http=LimitedHeadProtocol,
    )
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return
    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run: Ctrl-C ends quietly
        server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@main.command()
@DATABASE_OPTION
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--fit-budget",
    "fit_budget_seconds",
    default=DEFAULT_FIT_BUDGET_SECONDS,
    show_default=True,
    type=click.FloatRange(1, MAX_FIT_BUDGET_SECONDS),
    envvar="HONED_FIT_BUDGET",
    help="Seconds one model fit and its candidates may take; past it the fit gives up and "
    "records an error (shown on the experiment) and suggestions come from Sobol meanwhile. "
    "honed serve's optimizers read HONED_FIT_BUDGET.",
)
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    help="End when this process ends (honed serve and embedded clients pass their own). "
    "Default: the parent process at start.",
)
@click.option(
    "--metrics-port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Serve this process's Prometheus metrics (its fits) at "
    "http://METRICS-HOST:PORT/metrics. (The optimizers of honed serve --metrics-port "
    "report through its endpoint.)",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="The address --metrics-port listens on (0.0.0.0: every interface).",
)
def optimizer(
    database_url: str,
    log_level: str,
    fit_budget_seconds: float,
    parent_pid: int | None,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Fit models and keep candidates ready for the experiments in the database.

    honed serve starts these itself; run more anywhere that reaches the database.
    """
    import faulthandler
    import logging
    import threading

    from honed.engine.botorch.factory import botorch_engine_factory
    from honed.service.optimizer import OptimizerLoop
    from honed.storage.sql.storage import SqlStorage

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s optimizer %(message)s")
    # Alembic says "Context impl SQLiteImpl." on every start: only for those who debug.
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    # A crash in native code (torch) leaves its Python stack in the log, and
    # `kill -USR1 <pid>` prints every thread's stack: where a slow or stuck fit is.
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = threading.Event()
    # A fit can take minutes on a busy machine and has nothing worth finishing: stop now
    # (the handler runs in the main thread and unwinds the fit; the lease is released).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    # Given on the command line, the parent cannot die unnoticed before this line runs
    # (the imports above take a while).
    parent = parent_pid if parent_pid is not None else os.getppid()

    def watch_parent() -> None:
        # Started by `honed serve`: end with it, even if it was killed without notice.
        while os.getppid() == parent and not stop.wait(1.0):
            pass
        if not stop.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_parent, daemon=True).start()
    on_fit = _fit_metrics(metrics_host, metrics_port)
    storage = SqlStorage.from_url(database_url)
    try:
        OptimizerLoop(storage, botorch_engine_factory(fit_budget_seconds), on_fit=on_fit).run(stop)
    finally:
        storage.close()


def _fit_metrics(host: str, port: int | None) -> Callable[[float, bool], None] | None:
    """Record fits for Prometheus: on this process's own port, or (started by ``honed
    serve --metrics-port``, which sets PROMETHEUS_MULTIPROC_DIR) for its endpoint."""
    if port is None and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return None
    from prometheus_client import start_http_server

    from honed.server.metrics import record_fit

    if port is not None:
        try:
            start_http_server(port, host)
        except OSError as error:
            raise click.ClickException(
                f"cannot listen on {host}:{port} for metrics: {error.strerror or error}"
            ) from None
    return record_fit


@main.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@DATABASE_OPTION
@click.option(
    "--client",
    "client_id",
    type=int,
    default=None,
    help="Client (tenant) id; a new client when --new-client is given.",
)
@click.option("--new-client", default=None, help="Create a new client with this name.")
@click.option("--read-only", is_flag=True, help="A token that can read but not write.")
@click.option("--development", is_flag=True, help="A development token (random suggestions).")
@click.option("--description", default=None)
@click.option(
    "--experiment",
    "experiment_id",
    type=int,
    default=None,
    help="A read-only token that sees this experiment only (as a dashboard share link).",
)
def token_create(
    database_url: str,
    client_id: int | None,
    new_client: str | None,
    read_only: bool,
    development: bool,
    description: str | None,
    experiment_id: int | None,
) -> None:
    """Mint a token and print it (only its hash is stored)."""
    from honed.errors import InvalidRequestError
    from honed.errors import NotFoundError

    if experiment_id is not None and new_client is not None:
        raise click.UsageError("--experiment and --new-client: a new client owns no experiment")
    with _token_service(database_url) as tokens:
        if experiment_id is None:
            issued = tokens.mint(client_id, new_client, development, read_only, description)
        else:
            try:
                issued = tokens.mint_for_experiment(experiment_id, client_id, description)
            except (NotFoundError, InvalidRequestError) as error:
                raise click.BadParameter(error.message, param_hint="--experiment") from None
    click.echo(issued.secret)
    if experiment_id is None:
        click.echo(f"client {issued.token.client_id}, token id {issued.token.id}", err=True)
    else:
        click.echo(
            f"client {issued.token.client_id}, token id {issued.token.id}, "
            f"read-only, experiment {experiment_id} only",
            err=True,
        )


@contextmanager
def _token_service(database_url: str, existing: bool = False) -> Iterator[TokenService]:
    """The token service over the database (migrated first), closed however the command
    ends; its errors end the command as HonedGroup says. ``existing``: a SQLite file that
    is not there is an error, not a new empty database (listing or revoking tokens in
    another directory than the server's would create one and find nothing)."""
    from honed.service.tokens import TokenService
    from honed.storage.sql.storage import SqlStorage

    sqlite = database_url.startswith("sqlite:///")
    file = database_url.removeprefix("sqlite:///") if sqlite else None
    if existing and file and file != ":memory:" and not Path(file).is_file():
        raise click.ClickException(
            f"no database at {Path(file).absolute()}: run this where honed serve runs, "
            "or give its --database-url"
        )
    storage = SqlStorage.from_url(database_url)
    try:
        yield TokenService(storage)
    finally:
        storage.close()


@token.command("list")
@DATABASE_OPTION
@click.option("--client", "client_id", type=int, default=None)
def token_list(database_url: str, client_id: int | None) -> None:
    """List a client's tokens (their ids; secrets are never stored)."""
    with _token_service(database_url, existing=True) as tokens:
        listed = tokens.list_tokens(client_id)
    click.echo("id\ttype\tpermissions\tstate\tdescription\tscope")
    for item in listed:
        state = "revoked" if item.revoked else "active"
        scope = "all" if item.experiment_id is None else f"experiment {item.experiment_id}"
        click.echo(
            f"{item.id}\t{item.token_type.value}\t{item.permissions}\t{state}\t"
            f"{item.description or ''}\t{scope}"
        )


@token.command("revoke")
@DATABASE_OPTION
@click.argument("token_id", type=int)
def token_revoke(database_url: str, token_id: int) -> None:
    """Revoke a token by id; requests with it then answer 403."""
    with _token_service(database_url, existing=True) as tokens:
        tokens.revoke(token_id)
    click.echo(f"revoked token {token_id}")


main.add_command(experiments)
main.add_command(experiment)
main.add_command(export)
main.add_command(run)
