"""``honed run``'s config file: its settings, checked before anything is created, and
where the run connects (with what its connection errors mean for the user)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from honed.api.parse import body
from honed.api.parse import experiment_spec
from honed.api.schemas import ExperimentCreate
from honed.domain.validation import validate_spec
from honed.errors import AuthenticationRequiredError
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.errors import PermissionDeniedError
from honed.errors import ServiceUnavailableError
from honed.scheduler import NoImprovement
from honed.scheduler import PercentileEarlyStopping
from honed.scheduler import SchedulerOptions
from honed.scheduler import ThresholdEarlyStopping

EXPERIMENT_KEYS = {
    "conditionals",
    "tasks",
    "name",
    "type",
    "parameters",
    "metrics",
    "linear_constraints",
    "metadata",
    "parallel_bandwidth",
}
RUN_KEYS = {"command", "parallelism", "budget", "timeout", "database", "server", "token"}
RUN_KEYS |= {
    "workdir",
    "options",
    "cwd",
    "env",
    "optimizers",
    "metrics_port",
    "output_log",
    "output_tail_bytes",
}
RUN_MARK = "honed_run"


class ConfigError(click.ClickException):
    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")


def load_config(path: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ConfigError(path, f"cannot read it: {error.strerror or error}") from None
    except yaml.MarkedYAMLError as error:
        # One line, where the parser stopped: PyYAML's own text spans five, with a caret.
        mark = error.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = ", ".join(str(part) for part in (error.context, error.problem) if part)
        raise ConfigError(path, f"not valid YAML{where}: {what}") from None
    except yaml.YAMLError as error:
        raise ConfigError(path, f"not valid YAML: {' '.join(str(error).split())}") from None
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
    budget = config["budget"]
    if type(budget) is not int or budget < 1:
        raise ConfigError(
            path, f"'budget' must be a whole number of trials, 1 or more, not {budget!r}"
        )
    if not isinstance(config["command"], str):
        raise ConfigError(path, "'command' must be a string such as 'python train.py --lr {lr}'")
    if "database" in config and "server" in config:
        raise ConfigError(path, "give either 'database' or 'server', not both")
    port = config.get("metrics_port")
    if port is not None and not (type(port) is int and 1 <= port <= 65535):
        raise ConfigError(path, f"'metrics_port' must be a port number (1 to 65535), not {port!r}")
    return config


def experiment_body(config: dict[str, Any]) -> dict[str, Any]:
    """The experiment the config defines, as the API creates it (marked as honed run's)."""
    experiment = {k: v for k, v in config.items() if k in EXPERIMENT_KEYS}
    experiment["metadata"] = {**(experiment.get("metadata") or {}), RUN_MARK: 1}
    # The dashboard and the API's progress read the budget from the experiment.
    experiment["observation_budget"] = config["budget"]
    return experiment


def check_experiment(path: Path, config: dict[str, Any]) -> None:
    """The experiment's definition checked as the server checks it, before a database is
    opened: a typo such as ``objective: minimise`` leaves no empty database file behind."""
    try:
        validate_spec(experiment_spec(body(ExperimentCreate, experiment_body(config))))
    except InvalidRequestError as error:
        raise ConfigError(path, error.message) from None


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


def parameter_names(path: Path, config: dict[str, Any]) -> list[str]:
    """The names the config's assignments may hold, conditionals first, then parameters
    (the server checks the rest)."""
    parameters = config["parameters"]
    if not isinstance(parameters, list) or not all(
        isinstance(p, dict) and isinstance(p.get("name"), str) for p in parameters
    ):
        raise ConfigError(
            path, "'parameters' must be a list of {name: ..., type: ..., bounds: ...}"
        )
    conditionals = [c["name"] for c in config.get("conditionals") or []]  # checked by now
    return [*conditionals, *(p["name"] for p in parameters)]


@dataclass(frozen=True)
class Target:
    """Where a run's experiment lives: a server (with a token, and where the token came
    from, to name in an error) or a database file served in this process."""

    path: Path
    connection: str
    token: str | None = None
    token_source: str | None = None
    optimizers: int = 0

    @classmethod
    def of(cls, path: Path, config: dict[str, Any]) -> Target:
        server = config.get("server")
        if server is not None:
            if not isinstance(server, str) or not server.startswith(("http://", "https://")):
                raise ConfigError(
                    path, f"'server' is a URL such as http://host:8080, not {server!r}"
                )
            for source, token in (
                (f"'token' in {path}", config.get("token")),
                ("SIGOPT_API_TOKEN", os.environ.get("SIGOPT_API_TOKEN")),
                ("HONED_API_TOKEN", os.environ.get("HONED_API_TOKEN")),
            ):
                if token:
                    return cls(path, server, str(token), source)
            raise ConfigError(
                path,
                "'server' needs an API token: export SIGOPT_API_TOKEN=... (honed serve prints "
                "one at its first start; honed token create makes more), or set 'token'",
            )
        database = str(config.get("database", "honed.db"))
        if "://" not in database:  # a file, relative to the config's directory
            file = path.resolve().parent / database
            if not file.parent.is_dir():
                raise ConfigError(path, f"'database': the directory {file.parent} does not exist")
            database = str(file)
        optimizers = config.get("optimizers", 1)
        if not isinstance(optimizers, int) or isinstance(optimizers, bool) or optimizers < 0:
            raise ConfigError(path, "'optimizers' is a number of model processes (0: Sobol only)")
        return cls(path, database, optimizers=optimizers)

    def explain(self, error: HonedError) -> str:
        """The error as one line that says what to fix."""
        message = " ".join(error.message.split())
        if isinstance(error, AuthenticationRequiredError | PermissionDeniedError):
            return f"{self.connection}: {message} (the token came from {self.token_source})"
        if isinstance(error, ServiceUnavailableError):
            where = "'server'" if self.token_source else "'database'"
            return f"{message}; is it running? ({where} in {self.path})"
        return message
