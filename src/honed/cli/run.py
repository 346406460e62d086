"""``honed run experiment.yaml``: the whole closed loop from a config file.

```yaml
name: lr-search
parameters:
  - {name: lr, type: double, bounds: {min: 0.0001, max: 0.1}, transformation: log}
metrics:
  - {name: loss, objective: minimize}
command: python train.py --lr {lr}     # prints {"loss": ...} or writes {result_file}
parallelism: 4
budget: 20                             # total trials
timeout: 3600                          # seconds, optional
database: honed.db                     # or  server: http://host:8080  (token: HONED_API_TOKEN)
optimizers: 1                          # model processes for an embedded database (0: Sobol)
workdir: .honed-trials                 # trial directories (stdout, stderr, result)
options: {ttl_seconds_for_trials: 600} # any other SchedulerOptions field; stopping rules as
                                       # early_stopping: {percentile: 50, min_step: 3} (or
                                       # {threshold: -1.0}), global_stopping: {window: 5}
```

Running the same command again resumes the experiment of that name (finished trials are
kept, running ones polled, interrupted ones deployed again). Ctrl-C stops the running
trials and exits; nothing finished is lost.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console
from rich.console import ConsoleOptions
from rich.console import RenderResult
from rich.live import Live
from rich.table import Table

from honed.client import Client
from honed.scheduler import NoImprovement
from honed.scheduler import PercentileEarlyStopping
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import ThresholdEarlyStopping
from honed.scheduler.runners import SubprocessRunner

EXPERIMENT_KEYS = {
    "name",
    "type",
    "parameters",
    "metrics",
    "linear_constraints",
    "metadata",
    "parallel_bandwidth",
}
RUN_KEYS = {"command", "parallelism", "budget", "timeout", "database", "server", "token"}
RUN_KEYS |= {"workdir", "options", "cwd", "env", "optimizers"}
RUN_MARK = "honed_run"


class ConfigError(click.ClickException):
    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")


def load_config(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(path, f"cannot read it: {error}") from None
    if not isinstance(config, dict):
        raise ConfigError(path, "expected a mapping of settings")
    unknown = set(config) - EXPERIMENT_KEYS - RUN_KEYS
    if unknown:
        raise ConfigError(
            path,
            f"unknown settings {sorted(unknown)}; known: {sorted(EXPERIMENT_KEYS | RUN_KEYS)}",
        )
    for key in ("name", "parameters", "metrics", "command", "budget"):
        if key not in config:
            raise ConfigError(path, f"'{key}' is missing")
    if not isinstance(config["command"], str):
        raise ConfigError(path, "'command' must be a string such as 'python train.py --lr {lr}'")
    if "database" in config and "server" in config:
        raise ConfigError(path, "give either 'database' or 'server', not both")
    return config


def build_options(path: Path, config: dict[str, Any]) -> SchedulerOptions:
    extra = config.get("options") or {}
    fields = set(SchedulerOptions.model_fields)
    if not isinstance(extra, dict) or set(extra) - fields:
        raise ConfigError(path, f"'options' may set {sorted(fields)}")
    try:
        return SchedulerOptions(
            **{
                "total_trials": config["budget"],
                "max_pending_trials": config.get("parallelism", 1),
                "max_seconds_between_polls": 2.0,
                **extra,
                **stopping_rules(extra),
            }
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(path, str(error)) from None


def stopping_rules(options: dict[str, Any]) -> dict[str, Any]:
    """The rules a config gives as mappings: ``global_stopping: {window: 5}`` is
    NoImprovement; ``early_stopping: {percentile: 50, min_step: 3}`` PercentileEarlyStopping,
    or ThresholdEarlyStopping when it has a ``threshold``."""
    rules: dict[str, Any] = {}
    for name in ("global_stopping", "early_stopping"):
        given = options.get(name)
        if not isinstance(given, dict):
            continue
        kind: type[NoImprovement | ThresholdEarlyStopping | PercentileEarlyStopping]
        if name == "global_stopping":
            kind = NoImprovement
        else:
            kind = ThresholdEarlyStopping if "threshold" in given else PercentileEarlyStopping
        fields = {f.name for f in dataclasses.fields(kind)}
        if set(given) - fields:
            raise ValueError(
                f"options.{name} {given} sets {sorted(set(given) - fields)}: "
                f"{kind.__name__} takes {sorted(fields)}"
            )
        rules[name] = kind(**given)
    return rules


def find_experiment(client: Client, name: str) -> str | None:
    """The newest experiment ``honed run`` made under this name, to resume."""
    for experiment in reversed(client.list_experiments()):
        if experiment.name == name and (experiment.metadata or {}).get(RUN_MARK) == 1:
            return experiment.id
    return None


class Display:
    """What the live view shows; updated by the loop, rendered by rich's refresh thread
    (it reads only this snapshot, never the scheduler's own state)."""

    def __init__(self, name: str, budget: int, timeout: float | None) -> None:
        self.name, self.budget, self.timeout = name, budget, timeout
        self.started = time.monotonic()
        self.report: dict[str, Any] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        report = self.report
        elapsed = time.monotonic() - self.started
        table = Table(title=f"honed run: {self.name}", show_header=False, min_width=40)
        done = report.get("completed", 0) + report.get("early_stopped", 0)
        table.add_row("done", f"{done} / {self.budget}")
        table.add_row("running", str(report.get("running", 0)))
        table.add_row("failed", str(report.get("failed", 0)))
        best = report.get("best_value")
        table.add_row(
            "best", "-" if best is None else f"{best:.6g} (trial {report['best_trial']})"
        )
        table.add_row("elapsed", f"{elapsed:.0f} s")
        if self.timeout is not None:
            table.add_row("time left", f"{max(self.timeout - elapsed, 0):.0f} s")
        yield table


@contextlib.contextmanager
def live(display: Display, console: Console) -> Iterator[None]:
    try:
        with Live(display, console=console, refresh_per_second=4, transient=False):
            yield
    finally:
        if not console.is_terminal:
            console.line()  # rich ends the last frame with a line break on terminals only


@click.command()
@click.argument("config_path", metavar="EXPERIMENT_YAML", type=click.Path(path_type=Path))
@click.option("--new", is_flag=True, help="Start a new experiment even if one can be resumed.")
def run(config_path: Path, new: bool) -> None:
    """Run an experiment's trials as commands, with a live progress display."""
    config = load_config(config_path)
    options = build_options(config_path, config)
    base = config_path.resolve().parent
    connection = config.get("server") or str(base / str(config.get("database", "honed.db")))
    token = config.get("token") or os.environ.get("HONED_API_TOKEN")
    timeout = config.get("timeout")
    runner = SubprocessRunner(
        config["command"],
        workdir=base / str(config.get("workdir", ".honed-trials")),
        cwd=base / str(config.get("cwd", ".")),
        env={str(k): str(v) for k, v in (config.get("env") or {}).items()},
    )
    console = Console(stderr=True)
    optimizers = int(config.get("optimizers", 1))
    with Client(connection, token, optimizers=optimizers) as client:
        existing = None if new else find_experiment(client, config["name"])
        if existing is None:
            body = {k: v for k, v in config.items() if k in EXPERIMENT_KEYS}
            body["metadata"] = {**(body.get("metadata") or {}), RUN_MARK: 1}
            scheduler = Scheduler(body, runner, options, client)
            console.print(f"experiment {scheduler.experiment.id} created")
        else:
            scheduler = Scheduler.from_stored_experiment(existing, runner, options, client)
            console.print(f"resuming experiment {existing}: {len(scheduler.trials)} trials so far")
        display = Display(config["name"], options.total_trials or 0, timeout)
        try:
            with live(display, console):
                for report in scheduler.run_trials_and_yield_results(None, timeout):
                    display.report = report
        except KeyboardInterrupt:
            scheduler.interrupt("interrupted (Ctrl-C)")  # if it came between two rounds
            console.print("stopped: run the same command again to resume")
            sys.exit(130)
        finally:
            runner.close()
        result = scheduler.summarize_final_result()
        console.print(f"finished: {result.stop_reason}")
        if result.best_trial is not None:
            best = result.best_trial
            click.echo(f"best trial {best.index}: {best.values} at {best.assignments}")
