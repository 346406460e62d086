"""``honed run experiment.yaml``: the whole closed loop from a config file.

```yaml
name: lr-search
parameters:
  - {name: lr, type: double, bounds: {min: 0.0001, max: 0.1}, transformation: log}
metrics:
  - {name: loss, objective: minimize}
command: python train.py --lr {lr}     # prints {"loss": ...} or writes {result_file}
parallelism: 4
budget: 20                             # total trials (with tasks: their costs summed)
timeout: 3600                          # seconds, optional
database: honed.db                     # or  server: http://host:8080  (SIGOPT_API_TOKEN)
optimizers: 1                          # model processes for an embedded database (0: Sobol)
metrics_port: 9101                     # optional: trials by state at 127.0.0.1:9101/metrics
workdir: .honed-trials                 # running trials' files, removed once stored
output_log: trials-output.jsonl        # optional: each trial's stdout/stderr tail, a line
output_tail_bytes: 8192                # per trial (the last 8 KiB of each stream)
options: {ttl_seconds_for_trials: 600} # any other SchedulerOptions field; stopping rules as
                                       # early_stopping: {percentile: 50, min_step: 3,
                                       # max_step: 9} (or {threshold: -1.0, ...}),
                                       # global_stopping: {window: 5}
```

A multitask config adds ``tasks: [{name: epoch1, cost: 0.1}, {name: full, cost: 1}]`` and
passes ``{task}`` to its command (``--epochs ...`` as the task says); the budget is then
spent in task costs.

Running the same command again resumes the experiment of that name (finished trials are
kept, running ones polled, interrupted ones deployed again). Ctrl-C stops the running
trials and exits; nothing finished is lost.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.console import ConsoleOptions
from rich.console import RenderResult
from rich.live import Live
from rich.table import Table

from honed.cli.run_config import RUN_MARK
from honed.cli.run_config import ConfigError
from honed.cli.run_config import Target
from honed.cli.run_config import build_options
from honed.cli.run_config import check_experiment
from honed.cli.run_config import experiment_body
from honed.cli.run_config import load_config
from honed.cli.run_config import parameter_names
from honed.client import Client
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialStatus
from honed.scheduler.errors import FailureRateExceededError
from honed.scheduler.runners import SubprocessRunner
from honed.scheduler.runners.trial_files import OUTPUT_TAIL_BYTES
from honed.scheduler.trial import TERMINAL


def find_experiment(client: Client, name: str) -> str | None:
    """The newest experiment ``honed run`` made under this name, to resume."""
    for experiment in reversed(client.list_experiments()):
        if experiment.name == name and (experiment.metadata or {}).get(RUN_MARK) == 1:
            return experiment.id
    return None


class Display:
    """What the live view shows; updated by the loop, rendered by rich's refresh thread
    (it reads only this snapshot, never the scheduler's own state)."""

    def __init__(
        self, name: str, budget: int, timeout: float | None, multitask: bool = False
    ) -> None:
        self.name, self.budget, self.timeout = name, budget, timeout
        #: The budget is spent in task costs: the display counts them, not trials.
        self.multitask = multitask
        self.started = time.monotonic()
        self.report: dict[str, Any] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        report = self.report
        elapsed = time.monotonic() - self.started
        table = Table(title=f"honed run: {self.name}", show_header=False, min_width=40)
        # Each trial counts in one row: finished (failed ones spend the budget too) as
        # completed, stopped early or failed; else running or pending. "done 21 / 24" with
        # 3 failed read as if 3 trials were missing.
        count = {status: report.get(status.value, 0) for status in TrialStatus}
        finished = sum(count[status] for status in TERMINAL)
        if self.multitask:
            table.add_row("finished", str(finished))
            spent = report.get("budget_consumed", 0.0)
            table.add_row("budget used", f"{spent:.6g} / {self.budget} (task costs)")
        else:
            table.add_row("finished", f"{finished} / {self.budget}")
        table.add_row("  completed", str(count[TrialStatus.COMPLETED]))
        # Stopped by the early-stopping rule: finished, but never the best.
        table.add_row("  stopped early", str(count[TrialStatus.EARLY_STOPPED]))
        table.add_row("  failed", str(count[TrialStatus.FAILED]))
        table.add_row("running", str(count[TrialStatus.RUNNING]))
        if count[TrialStatus.PENDING]:  # to be deployed again (after an interruption)
            table.add_row("pending", str(count[TrialStatus.PENDING]))
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
    """Run an experiment's trials as commands, with a live progress display.

    With 'server:', the token is the config's 'token:', else SIGOPT_API_TOKEN (what
    honed serve prints), else HONED_API_TOKEN.
    """
    # Every mistake the config alone shows is found here, before anything is created.
    config = load_config(config_path)
    check_experiment(config_path, config)
    options = build_options(config_path, config)
    runner = make_runner(config_path, config)
    try:
        runner.prepare(parameter_names(config_path, config))
    except ValueError as error:
        raise ConfigError(config_path, str(error)) from None
    target = Target.of(config_path, config)
    console = Console(stderr=True)
    try:
        with Client(target.connection, target.token, optimizers=target.optimizers) as client:
            scheduler = open_scheduler(config_path, config, client, runner, options, new, console)
            try:
                serve_metrics(scheduler, config.get("metrics_port"), console)
                drive(scheduler, runner, config_path, config, console)
                result = scheduler.summarize_final_result()
                counts = scheduler.trials.counts()
            finally:
                scheduler.close()  # its metrics endpoint and runner; not the client
    except HonedError as error:
        raise click.ClickException(target.explain(error)) from None
    console.print(f"finished: {result.stop_reason}; {accounted(counts)}")
    if result.best_trial is not None:
        best = result.best_trial
        click.echo(f"best trial {best.index}: {best.values} at {best.assignments}")


def accounted(counts: Mapping[TrialStatus, int]) -> str:
    """Every trial by its state, e.g. "24 trials: 21 completed, 3 failed"."""
    states = [
        (TrialStatus.COMPLETED, "completed"),
        (TrialStatus.EARLY_STOPPED, "stopped early"),
        (TrialStatus.FAILED, "failed"),
        (TrialStatus.RUNNING, "running"),
        (TrialStatus.PENDING, "pending"),
    ]
    shown = [
        f"{counts.get(status, 0)} {label}"
        for status, label in states
        if counts.get(status, 0) or status is TrialStatus.COMPLETED
    ]
    return f"{sum(counts.values())} trials: {', '.join(shown)}"


def make_runner(path: Path, config: dict[str, Any]) -> SubprocessRunner:
    """The config's command as a runner; its paths are relative to the config file."""
    base = path.resolve().parent
    tail = config.get("output_tail_bytes", OUTPUT_TAIL_BYTES)
    if not isinstance(tail, int) or isinstance(tail, bool) or tail < 0:
        raise ConfigError(path, f"'output_tail_bytes' is a number of bytes >= 0, not {tail!r}")
    output_log = config.get("output_log")
    return SubprocessRunner(
        config["command"],
        workdir=base / str(config.get("workdir", ".honed-trials")),
        cwd=base / str(config.get("cwd", ".")),
        env={str(k): str(v) for k, v in (config.get("env") or {}).items()},
        output_log=base / str(output_log) if output_log is not None else None,
        output_tail_bytes=tail,
    )


def open_scheduler(
    path: Path,
    config: dict[str, Any],
    client: Client,
    runner: SubprocessRunner,
    options: SchedulerOptions,
    new: bool,
    console: Console,
) -> Scheduler:
    """The experiment of this name to resume, or a new one."""
    existing = None if new else find_experiment(client, config["name"])
    if existing is not None:
        scheduler = Scheduler.from_stored_experiment(existing, runner, options, client)
        so_far = accounted(scheduler.trials.counts())
        console.print(f"resuming experiment {existing} (so far {so_far})")
        if scheduler.experiment.observation_budget != config["budget"]:
            # A budget raised in the config to go on: the experiment's follows it.
            client.request(
                "PUT", f"/v1/experiments/{existing}", json={"observation_budget": config["budget"]}
            )
        return scheduler
    try:
        scheduler = Scheduler(experiment_body(config), runner, options, client)
    except InvalidRequestError as error:  # what only the server checks; nothing was created
        raise ConfigError(path, error.message) from None
    console.print(f"experiment {scheduler.experiment.id} created")
    return scheduler


def serve_metrics(scheduler: Scheduler, port: int | None, console: Console) -> None:
    if port is None:
        return
    try:
        scheduler.serve_metrics(port)
    except OSError as error:
        raise click.ClickException(
            f"cannot listen on 127.0.0.1:{port} for metrics: {error.strerror or error}; "
            "set another metrics_port"
        ) from None
    console.print(f"metrics: http://127.0.0.1:{port}/metrics")


def drive(
    scheduler: Scheduler,
    runner: SubprocessRunner,
    path: Path,
    config: dict[str, Any],
    console: Console,
) -> None:
    """The loop under the live display, until it ends or Ctrl-C stops it."""
    options = scheduler.options
    display = Display(
        config["name"],
        options.total_trials or 0,
        config.get("timeout"),
        multitask=bool(scheduler.experiment.tasks),
    )
    try:
        with live(display, console):
            for report in scheduler.run_trials_and_yield_results(None, config.get("timeout")):
                display.report = report
    except KeyboardInterrupt:
        scheduler.interrupt("interrupted (Ctrl-C)")  # if it came between two rounds
        console.print("stopped: run the same command again to resume")
        sys.exit(130)
    except FailureRateExceededError as error:
        raise click.ClickException(failure_rate_message(error, runner, path)) from None
    finally:
        runner.close()


def failure_rate_message(
    error: FailureRateExceededError, runner: SubprocessRunner, path: Path
) -> str:
    """One line: how many failed, the latest failure and where its output is (its trial
    directory is gone: its outcome is stored), and the option that tolerates more."""
    index, _, reason = error.failures[-1]
    if runner.output_log is not None:
        output = f" (its output: trial {index} in {runner.output_log.path})"
    else:
        output = f" (output_log: FILE in {path} keeps each trial's output)"
    return (
        f"{len(error.failures)} trials failed, {error.rate:.0%} of those run (tolerated: "
        f"{error.tolerated:.0%}); the latest, trial {index}: {one_line(reason)}{output}. "
        "Fix the command, or tolerate more failures with "
        f"options: {{tolerated_trial_failure_rate: 0.9}} in {path}"
    )


def one_line(text: str) -> str:
    """A multi-line reason as its first and last lines: for a Python traceback on stderr,
    the exit code and the exception."""
    text = text.replace("Traceback (most recent call last):", "")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) <= 2:
        return " ".join(lines)
    return f"{lines[0]} ... {lines[-1]}"
