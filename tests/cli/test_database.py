"""`honed experiments list`, `honed experiment show` and `honed export` read a database file
directly (`--database honed.db`, as `honed run` leaves it), with no server and no token."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from honed.client import Client
from honed.client import NewObservation


def honed(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIGOPT_API")}
    return subprocess.run(
        [sys.executable, "-m", "honed", *args],
        cwd=cwd,
        env={**environment, "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def seed(database: Path) -> str:
    """An experiment with a long name, two observations (best: loss 0.25) and one open
    suggestion."""
    with Client(str(database)) as client:
        experiment = client.create_experiment(
            {
                "name": "Validation loss of the classifier on the held-out split",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "loss", "objective": "minimize"}],
                "observation_budget": 10,
            }
        )
        for loss in (0.5, 0.25):
            suggestion = client.create_suggestion(experiment.id)
            client.create_observation(
                experiment.id, NewObservation(suggestion=suggestion.id, values={"loss": loss})
            )
        client.create_suggestion(experiment.id)
        return experiment.id


def test_list_show_and_export_read_the_file(tmp_path: Path) -> None:
    experiment_id = seed(tmp_path / "honed.db")

    listed = honed("experiments", "list", "--database", "honed.db", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    # In 80 columns, with the long name wrapped and every value whole.
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    row = next(line for line in listed.stdout.splitlines() if "Validation loss" in line)
    assert re.search(r" 2 / 10 +loss=0\.25 +\d+ s ago", row), listed.stdout

    shown = honed("experiment", "show", experiment_id, "--database", "honed.db", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "observations: 2 / 10  (failed: 0)  open suggestions: 1" in shown.stdout

    exported = honed("export", experiment_id, "--database", "honed.db", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    # Progress bars only on a terminal: piped, they left blank lines on stderr.
    assert shown.stderr == exported.stderr == ""
    written = honed("export", experiment_id, "--database", "honed.db", "-o", "x.csv", cwd=tmp_path)
    assert written.stderr == "wrote 2 observations to x.csv\n"
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [float(r["loss"]) for r in rows] == [0.5, 0.25]
    # ISO 8601 in UTC, as spreadsheets and pandas read times.
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r["created"]) for r in rows)


def test_show_counts_the_trials_stopped_early(tmp_path: Path) -> None:
    """After honed run with early stopping, show said "(failed: 0)" of 20 observations of
    which 8 were stopped early, their values partial."""
    with Client(str(tmp_path / "honed.db")) as client:
        experiment = client.create_experiment(
            {
                "name": "lr-search",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "loss", "objective": "minimize"}],
            }
        )
        for status in ("completed", "early_stopped", "early_stopped", "failed"):
            suggestion = client.create_suggestion(experiment.id)
            client.create_observation(
                experiment.id,
                NewObservation(
                    suggestion=suggestion.id,
                    values=None if status == "failed" else {"loss": 0.5},
                    failed=status == "failed",
                    metadata={"honed_status": status},
                ),
            )
    shown = honed("experiment", "show", experiment.id, "--database", "honed.db", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "observations: 4  (failed: 1, stopped early: 2)  open suggestions: 0" in shown.stdout


def test_the_list_keeps_every_column_whole_in_80_columns_with_a_long_metric_name(
    tmp_path: Path,
) -> None:
    """A long metric name made the best value too wide: the list dropped the name column
    and cut the budget and the last activity short ("30000 / 300…", "13 min a…")."""
    metric = "validation_top1_accuracy_after_finetuning"
    with Client(str(tmp_path / "honed.db")) as client:
        experiment = client.create_experiment(
            {
                "name": "ResNet sweep",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": metric, "objective": "maximize"}],
                "observation_budget": 100000,
            }
        )
        client.create_observation(
            experiment.id, NewObservation(assignments={"x": 0.5}, values={metric: 0.123456789})
        )
    listed = honed("experiments", "list", "--database", "honed.db", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in listed.stdout
    assert lines[0].split() == ["id", "name", "observations", "best", "updated"]
    row = lines[2]
    assert re.match(r"1 +ResNet sweep +1 / 100000 ", row), listed.stdout
    assert re.search(r"\d+ s ago *$", row), listed.stdout
    # The best value, folded over lines in its column, is whole.
    start = row.index(metric[:10])
    folded = "".join(line[start:].split("  ")[0].strip() for line in lines[2:])
    assert folded.startswith(f"{metric}=0.123457"), listed.stdout
    # experiment show: the counts, then the last activity whole ("13 s" and "ago" were
    # wrapped apart at 80 columns).
    shown = honed("experiment", "show", experiment.id, "--database", "honed.db", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "observations: 1 / 100000  (failed: 0)  open suggestions: 0" in lines
    assert any(re.fullmatch(r"last activity: \d+ s ago", line) for line in lines), shown.stdout


def test_no_token_says_where_one_comes_from_or_to_read_the_file(tmp_path: Path) -> None:
    """In honed run's directory, without SIGOPT_API_TOKEN: the error said "pass --token (or
    token=...)", Python's words, and nothing of --database."""
    for command in (("experiments", "list"), ("experiment", "show", "1"), ("export", "1")):
        result = honed(*command, cwd=tmp_path)
        assert result.returncode == 1
        assert result.stderr == (
            "Error: no API token: pass --token or export SIGOPT_API_TOKEN (honed serve "
            "prints one at its first start; honed token create makes more), or read a "
            "database file with --database honed.db\n"
        )


def test_a_database_that_is_not_there_is_not_created(tmp_path: Path) -> None:
    result = honed("experiments", "list", "--database", "typo.db", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr == f"Error: no database at {tmp_path / 'typo.db'}: " + (
        "give the file that honed run's database: names\n"
    )
    assert not (tmp_path / "typo.db").exists()


def test_an_unknown_experiment_is_one_error_line(tmp_path: Path) -> None:
    seed(tmp_path / "honed.db")
    for command in (("experiment", "show"), ("export",)):
        result = honed(*command, "999", "--database", "honed.db", cwd=tmp_path)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert result.stderr == (
            "Error: no experiment 999 in honed.db; "
            "honed experiments list --database honed.db shows the ones there\n"
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["experiments", "list", "--database", "notes.txt"], "file is not a database"),
        (["token", "list", "--database-url", "sqlite:///no/such/dir/x.db"], "no database at"),
        (["token", "list", "--database-url", "bogus://x"], "database URL bogus://x"),
    ],
)
def test_a_database_that_cannot_be_opened_is_one_error_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "notes.txt").write_text("not a database\n")
    result = honed(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr


@pytest.mark.parametrize("form", ["json", "csv"])
def test_an_ai_experiment_exports_like_any_other(tmp_path: Path, form: str) -> None:
    """/v1/experiments/{id} answers an AI experiment with a redirect to
    /v1/aiexperiments/{id}: the export follows it instead of exporting nothing."""
    with Client(str(tmp_path / "honed.db")) as client:
        client.request("POST", "/v1/clients/1/projects", json={"id": "p", "name": "P"})
        created = client.request(
            "POST",
            "/v1/clients/1/projects/p/aiexperiments",
            json={
                "name": "AI experiment",
                "parameters": [{"name": "lr", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "accuracy", "objective": "maximize"}],
            },
        )
    exported = honed(
        "export", created["id"], "--format", form, "--database", "honed.db", cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    if form == "json":
        assert json.loads(exported.stdout)["experiment"]["name"] == "AI experiment"
    else:
        header = exported.stdout.splitlines()[0].split(",")
        assert {"lr", "accuracy"} <= set(header)
