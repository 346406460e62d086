"""``honed experiments list``, ``honed experiment show`` and ``honed export``: a server's
experiments in the terminal, over HTTP (``--url``/``--token`` or SIGOPT_API_URL/TOKEN), or a
database's read directly (``--database honed.db``, no token: the file is one's own)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from typing import TypeVar

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn
from rich.progress import MofNCompleteColumn
from rich.progress import Progress
from rich.progress import TextColumn
from rich.table import Table

from honed.domain.trials import EARLY_STOPPED
from honed.domain.trials import STATUS_KEY
from honed.errors import HonedError
from honed.errors import NotFoundError
from honed.export import FORMATS
from honed.export import observation_rows
from honed.export import write_csv
from honed.export import write_json
from honed.export import write_parquet
from honed.remote import Remote
from honed.remote import sources_of

F = TypeVar("F", bound=Callable[..., Any])
JSON = dict[str, Any]


def server_options(command: F) -> F:
    command = click.option(
        "--database",
        "--database-url",
        "database",
        default=None,
        help="Read this database directly instead of a server, with no token: a SQLite file "
        "(the database: of honed run, e.g. honed.db) or a SQLAlchemy URL.",
    )(command)
    command = click.option(
        "--token", envvar="SIGOPT_API_TOKEN", help="API token [env: SIGOPT_API_TOKEN]."
    )(command)
    return click.option(
        "--url",
        envvar="SIGOPT_API_URL",
        default="http://127.0.0.1:8080",
        show_default=True,
        help="The honed server [env: SIGOPT_API_URL].",
    )(command)


@contextmanager
def remote(
    url: str, token: str | None, database: str | None = None, experiment_id: str | None = None
) -> Iterator[Remote]:
    """The server, or the database when one is given, with their errors turned into
    one-line CLI errors; a 404 names the experiment asked for and where it was looked for
    (the server says only "The requested resource could not be found")."""
    if database is None and not token:
        raise click.ClickException(
            "no API token: pass --token or export SIGOPT_API_TOKEN (honed serve prints one "
            "at its first start; honed token create makes more), or read a database file "
            "with --database honed.db"
        )
    try:
        if database is None:
            with Remote(url, token) as api:
                yield api
        else:
            with embedded(database) as api:
                yield api
    except NotFoundError as error:
        if experiment_id is None:
            raise click.ClickException(error.message) from None
        if database is not None:
            message = (
                f"no experiment {experiment_id} in {database}; "
                f"honed experiments list --database {database} shows the ones there"
            )
        else:
            message = (
                f"no experiment {experiment_id} at {url} that this token can see; "
                "honed experiments list shows the ones it can"
            )
        raise click.ClickException(message) from None
    except HonedError as error:
        raise click.ClickException(error.message) from None


@contextmanager
def embedded(database: str) -> Iterator[Remote]:
    """The v1 API over a database in this process, as its default client (the one
    ``honed run`` and embedded clients use)."""
    from honed.client import database_url
    from honed.client.embedded import EmbeddedTransport

    url = database_url(database)
    file = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if file is not None and not Path(file).is_file():
        # Opening it would create an empty database, and answer with nothing at all.
        raise HonedError(f"no database at {file}: give the file that honed run's database: names")
    transport = EmbeddedTransport(url)
    try:
        with Remote("http://embedded", transport.secret, transport=transport) as api:
            yield api
    finally:
        transport.close()


def fetch_observations(api: Remote, experiment_id: str) -> list[JSON]:
    """All observations, with a progress bar on stderr while pages arrive."""
    with _progress("observations") as on_page:
        return api.observations(experiment_id, on_page)


def fetch_suggestions(api: Remote, experiment_id: str) -> dict[int, JSON]:
    """Every suggestion by id (the exports' ``source`` and intermediate values), with a
    progress bar too."""
    with _progress("suggestions") as on_page:
        return api.suggestions_by_id(experiment_id, on_page)


@contextmanager
def _progress(what: str) -> Iterator[Callable[[int, int], None]]:
    console = Console(stderr=True)
    if not console.is_terminal:  # piped or in a log: a transient bar leaves blank lines
        yield lambda done, total: None
        return
    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("fetch", total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _ago(epoch: int | None) -> str:
    if not epoch:
        return "-"
    seconds = max(0, int(time.time()) - epoch)
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} d ago"


def _values(values: list[JSON] | None) -> str:
    return ", ".join(f"{v.get('name') or 'value'}={v['value']:.6g}" for v in values or [])


def _assignments(assignments: JSON) -> str:
    return ", ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in assignments.items()
    )


@click.group("experiments")
def experiments() -> None:
    """List the experiments on a server or in a database."""


@experiments.command("list")
@server_options
@click.option(
    "--state", type=click.Choice(["active", "deleted", "all"]), default="active", show_default=True
)
def experiments_list(url: str, token: str | None, database: str | None, state: str) -> None:
    """Name, observations / budget, best value and last activity of each experiment (and
    its state, with --state deleted or all)."""
    # Fits 80 columns: no borders; the name wraps and a long best value (a long metric
    # name, two metrics) folds, so no column is dropped and no value is cut short.
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True)
    table.add_column("name", ratio=1, min_width=12)
    if state != "active":
        table.add_column("state", no_wrap=True)
    table.add_column("observations", no_wrap=True)
    table.add_column("best", overflow="fold")
    table.add_column("updated", no_wrap=True)
    with remote(url, token, database) as api:
        for e in api.experiments(state):
            progress = e.get("progress") or {}
            budget = e.get("observation_budget")
            count = progress.get("observation_count", 0)
            table.add_row(
                e["id"],
                e["name"],
                *([e["state"]] if state != "active" else []),
                _against_budget(e, count, budget),
                _best(api, e, progress.get("best_observation")),
                _ago(e.get("updated")),
            )
    Console().print(table)


def _best(api: Remote, experiment: JSON, best: JSON | None) -> str:
    """The best observation's values; with two optimized metrics (no single best), the
    size of the Pareto front, as the dashboard's list shows it."""
    if best is not None:
        return _values(best["values"])
    optimized = [m for m in experiment.get("metrics") or [] if m.get("strategy") == "optimize"]
    observed = (experiment.get("progress") or {}).get("observation_count")
    if len(optimized) < 2 or not observed or experiment.get("state") == "deleted":
        return "-"
    return f"{len(api.best_assignments(experiment['id']))} Pareto points"


def _against_budget(experiment: dict[str, Any], count: int, budget: int | None) -> str:
    """The observations against the budget; a multitask experiment spends it in task costs."""
    if not budget:
        return str(count)
    if experiment.get("tasks"):
        spent = (experiment.get("progress") or {}).get("observation_budget_consumed") or 0
        return f"{count} (cost {spent:g} / {budget})"
    return f"{count} / {budget}"


@click.group("experiment")
def experiment() -> None:
    """Look at one experiment."""


@experiment.command("show")
@server_options
@click.argument("experiment_id")
def experiment_show(url: str, token: str | None, database: str | None, experiment_id: str) -> None:
    """Progress, best assignments and open suggestions of one experiment."""
    with remote(url, token, database, experiment_id) as api:
        e = api.experiment(experiment_id)
        best = api.best_assignments(experiment_id)
        open_suggestions = api.open_suggestions(experiment_id)
        observations = fetch_observations(api, experiment_id)
    console = Console()
    budget = e.get("observation_budget")
    count = len(observations)
    failed = sum(1 for o in observations if o.get("failed"))
    # Trials an early-stopping rule ended: their values are partial, and never the best.
    stopped = sum(
        1
        for o in observations
        if not o.get("failed") and (o.get("metadata") or {}).get(STATUS_KEY) == EARLY_STOPPED
    )
    ended = f"failed: {failed}" + (f", stopped early: {stopped}" if stopped else "")
    console.print(f"[bold]{e['name']}[/bold]  (experiment {e['id']}, {e['state']})")
    console.print(
        f"observations: {_against_budget(e, count, budget)}  ({ended})"
        f"  open suggestions: {len(open_suggestions)}"
    )
    console.print(f"last activity: {_ago(e.get('updated'))}")
    if e.get("tasks"):
        tasks = ", ".join(f"{t['name']} (cost {t['cost']:g})" for t in e["tasks"])
        console.print(f"tasks: {tasks}")
    title = (
        "best assignments" if len(best) <= 1 else f"best assignments (Pareto front, {len(best)})"
    )
    table = Table("observation", "values", "assignments", title=title, title_justify="left")
    for b in best:
        table.add_row(b["id"], _values(b.get("values")), _assignments(b.get("assignments") or {}))
    console.print(table if best else "best assignments: none yet")
    now = int(time.time())
    table = Table(
        "suggestion", "open for", "assignments", title="open suggestions", title_justify="left"
    )
    for s in open_suggestions:
        table.add_row(s["id"], f"{now - s['created']} s", _assignments(s.get("assignments") or {}))
    console.print(table if open_suggestions else "open suggestions: none")


@click.command("export")
@server_options
@click.argument("experiment_id")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write (default: stdout; parquet: experiment-ID.parquet).",
)
def export(
    url: str,
    token: str | None,
    database: str | None,
    experiment_id: str,
    fmt: str,
    output: Path | None,
) -> None:
    """Export an experiment's observations: one row per observation (csv, parquet) or the
    experiment and its observations as the API returns them (json)."""
    with remote(url, token, database, experiment_id) as api:
        e = api.experiment(experiment_id)
        observations = fetch_observations(api, experiment_id)
        suggestions = fetch_suggestions(api, experiment_id)
    sources = sources_of(suggestions)
    if fmt == "parquet":
        path = output or Path(f"experiment-{experiment_id}.parquet")
        try:
            write_parquet(e, observation_rows(e, observations, sources), path)
        except RuntimeError as error:
            raise click.ClickException(str(error)) from None
        click.echo(f"wrote {len(observations)} observations to {path}", err=True)
        return
    out = output.open("w", newline="") if output else sys.stdout
    try:
        if fmt == "csv":
            write_csv(e, observation_rows(e, observations, sources), out)
        else:
            write_json(e, observations, suggestions, out)
    finally:
        if output:
            out.close()
    if output:
        click.echo(f"wrote {len(observations)} observations to {output}", err=True)
