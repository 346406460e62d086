"""A user's mistakes, each run as a real `honed run` process: one `Error:` line that says
what to fix, exit code 1, no traceback, and no experiment left behind where the mistake can
be found before anything is created."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.server import free_port
from tests.support.server import running_server


def write_config(tmp_path: Path, **changes: Any) -> Path:
    config: dict[str, Any] = {
        "name": "mistakes",
        "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
        "metrics": [{"name": "loss", "objective": "minimize"}],
        "command": f"{sys.executable} -c 'print({{x}} ** 2)'",
        "budget": 2,
        "database": "honed.db",
        "optimizers": 0,  # Sobol: no torch import
        "options": {"init_seconds_between_polls": 0.05, "max_seconds_between_polls": 0.2},
    }
    config.update(changes)
    config = {key: value for key, value in config.items() if value is not None}
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def honed(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SIGOPT_API") and k != "HONED_API_TOKEN"
    }
    return subprocess.run(
        [sys.executable, "-m", "honed", *args],
        cwd=cwd,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line, after checking that it is one, at the end, without a traceback."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, output
    assert result.stderr.splitlines()[-1] == errors[0]
    return errors[0]


def test_a_value_typo_creates_no_experiment(tmp_path: Path) -> None:
    path = write_config(tmp_path, metrics=[{"name": "loss", "objective": "minimise"}])
    error = error_line(honed("run", str(path), cwd=tmp_path))
    assert "metrics[0].objective" in error
    assert "'maximize' or 'minimize'" in error
    # Found before the database is opened: no empty database file is left behind either.
    assert not (tmp_path / "honed.db").exists()
    # A rule of the definition itself (not of its wire shape) is found up front too.
    bounds = [{"name": "x", "type": "double", "bounds": {"min": 1, "max": 0}}]
    path = write_config(tmp_path, parameters=bounds)
    error = error_line(honed("run", str(path), cwd=tmp_path))
    assert "(x).bounds: max must be greater than min" in error
    assert not (tmp_path / "honed.db").exists()


def test_a_yaml_syntax_error_is_one_line_that_says_where(tmp_path: Path) -> None:
    """PyYAML's message spans five lines (the context, the problem, a caret under a copy of
    the line); the error was those five lines after "Error:"."""
    path = tmp_path / "experiment.yaml"
    path.write_text("name: x\nparameters:\n  - {name: lr, type: double\nmetrics: []\n")
    error = error_line(honed("run", str(path), cwd=tmp_path))
    assert error == (
        f"Error: {path}: not valid YAML at line 4, column 8: while parsing a flow mapping, "
        "expected ',' or '}', but got ':'"
    )
    assert not (tmp_path / "honed.db").exists()
    missing = error_line(honed("run", "nothere.yaml", cwd=tmp_path))
    assert missing == "Error: nothere.yaml: cannot read it: No such file or directory"


def test_a_wrong_placeholder_is_found_before_anything_is_created(tmp_path: Path) -> None:
    path = write_config(tmp_path, command="python train.py --lr {lr} --out {result_file}")
    error = error_line(honed("run", str(path), cwd=tmp_path))
    assert "names {lr}, which is neither a parameter of the experiment (x)" in error
    assert not (tmp_path / "honed.db").exists()
    # A shell brace that is not a placeholder: the message says how to write it.
    path = write_config(tmp_path, command="awk '{print $1}' data.txt")
    error = error_line(honed("run", str(path), cwd=tmp_path))
    assert "write {{ and }} for a literal brace" in error
    assert not (tmp_path / "honed.db").exists()


def test_a_crashing_command_names_the_tolerance_option(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import sys\nprint(sys.argv)\n1 / 0\n")
    path = write_config(tmp_path, command=f"{sys.executable} train.py --x {{x}}")
    error = error_line(honed("run", str(path), cwd=tmp_path))
    assert "2 trials failed" in error
    assert "ZeroDivisionError: division by zero" in error
    assert "tolerated_trial_failure_rate" in error
    assert "output_log: FILE in" in error  # how to keep what the trials printed
    # With an output log the message names it, and it holds the whole traceback.
    path = write_config(
        tmp_path, command=f"{sys.executable} train.py --x {{x}}", output_log="out.jsonl"
    )
    error = error_line(honed("run", str(path), "--new", cwd=tmp_path))
    assert f"(its output: trial 1 in {tmp_path / 'out.jsonl'})" in error
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["trial"] for line in lines] == [0, 1]
    assert "Traceback (most recent call last)" in lines[1]["stderr"]
    assert not (tmp_path / ".honed-trials").exists()


def test_a_crashing_command_once_fixed_resumes_with_the_trials_left(tmp_path: Path) -> None:
    """The error says to fix the command; run again after that, the run resumes and runs
    the trials left, rather than stop at once on the failures of the run before."""
    train = tmp_path / "train.py"
    train.write_text("1 / 0\n")
    options = {
        "min_failed_trials_for_failure_rate_check": 2,
        "init_seconds_between_polls": 0.05,
        "max_seconds_between_polls": 0.2,
    }
    path = write_config(
        tmp_path,
        command=f"{sys.executable} train.py --x {{x}}",
        budget=5,
        parallelism=1,
        options=options,
    )
    error = error_line(honed("run", str(path), cwd=tmp_path))
    assert "2 trials failed" in error
    train.write_text("import sys\nprint(float(sys.argv[2]) ** 2)\n")
    fixed = honed("run", str(path), cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert "resuming experiment" in fixed.stdout + fixed.stderr
    assert "best trial" in fixed.stdout


def test_a_server_that_is_down(tmp_path: Path) -> None:
    path = write_config(tmp_path, database=None, server=f"http://127.0.0.1:{free_port()}")
    error = error_line(honed("run", str(path), cwd=tmp_path, env={"SIGOPT_API_TOKEN": "t"}))
    assert "is unreachable" in error
    assert "is it running? ('server' in" in error


def test_a_server_needs_a_token(tmp_path: Path) -> None:
    path = write_config(tmp_path, database=None, server="http://127.0.0.1:8080")
    error = error_line(honed("run", str(path), cwd=tmp_path))
    assert "export SIGOPT_API_TOKEN=" in error


def test_a_wrong_token_and_the_right_one_from_sigopt_api_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    with running_server(url, token="the-token") as server:
        path = write_config(tmp_path, database=None, server=server.url)
        wrong = honed("run", str(path), cwd=tmp_path, env={"SIGOPT_API_TOKEN": "wrong"})
        error = error_line(wrong)
        assert "unknown or revoked" in error
        assert "the token came from SIGOPT_API_TOKEN" in error

        right = honed("run", str(path), cwd=tmp_path, env={"SIGOPT_API_TOKEN": "the-token"})
        assert right.returncode == 0, right.stderr
        assert "best trial" in right.stdout
