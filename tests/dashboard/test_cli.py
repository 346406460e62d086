"""``honed experiments list``, ``honed experiment show`` and ``honed export``: the real
commands, in subprocesses, against a real ``honed serve``."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from honed.client import Client
from honed.domain.trials import PROGRESS_PREFIX
from honed.notebook import to_dataframe
from tests.dashboard.seed import BUDGET
from tests.dashboard.seed import N_OBSERVATIONS
from tests.dashboard.seed import Seeded
from tests.support.server import RunningServer


def honed(
    *args: str, server: RunningServer | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    flags = ["--url", server.url, "--token", server.token] if server else []
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SIGOPT_API")}
    environment.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "honed", *args, *flags],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_experiments_list(dashboard_server: RunningServer, seeded: Seeded) -> None:
    # Server and token from the environment, as the sigopt client takes them.
    env = {"SIGOPT_API_URL": dashboard_server.url, "SIGOPT_API_TOKEN": dashboard_server.token}
    result = honed("experiments", "list", env=env)
    assert result.returncode == 0, result.stderr
    best = max(v for v in seeded.values if v is not None)
    line = next(line for line in result.stdout.splitlines() if "Classifier accuracy" in line)
    assert f"{N_OBSERVATIONS} / {BUDGET}" in line
    assert f"accuracy={best:.6g}" in line
    # Two objectives have no single best: the size of the Pareto front, as the API has it.
    front = httpx.get(
        f"{dashboard_server.url}/v1/experiments/{seeded.pareto}/best_assignments",
        auth=(dashboard_server.token, ""),
    ).json()["data"]
    pareto = next(line for line in result.stdout.splitlines() if "Latency against loss" in line)
    assert f"{len(front)} Pareto points" in pareto


def test_experiment_show(dashboard_server: RunningServer, seeded: Seeded) -> None:
    result = honed("experiment", "show", seeded.single, server=dashboard_server)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    failed = seeded.values.count(None)
    assert f"observations: {N_OBSERVATIONS} / {BUDGET}  (failed: {failed})" in out
    assert "open suggestions: 2" in out
    best_index = seeded.values.index(max(v for v in seeded.values if v is not None))
    best_line = next(line for line in out.splitlines() if "accuracy=" in line)
    assert f"accuracy={seeded.values[best_index]:.6g}" in best_line
    table = out.split("open suggestions")[-1]  # the last table, under its title
    ids = [line.strip("│ ").split()[0] for line in table.splitlines() if line.startswith("│")]
    assert ids == seeded.open_suggestions


def test_experiment_show_pareto(dashboard_server: RunningServer, seeded: Seeded) -> None:
    result = honed("experiment", "show", seeded.pareto, server=dashboard_server)
    assert result.returncode == 0, result.stderr
    assert "Pareto front" in result.stdout
    assert "open suggestions: none" in result.stdout


def test_export_csv_json_parquet(
    dashboard_server: RunningServer, seeded: Seeded, tmp_path: Path
) -> None:
    result = honed("export", seeded.single, "--format", "csv", server=dashboard_server)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == N_OBSERVATIONS
    columns = list(rows[0])
    assert columns[:6] == ["id", "created", "status", "failed", "suggestion", "source"]
    assert columns[6:10] == ["kind", "x", "y", "accuracy"]
    assert [r["failed"] == "True" for r in rows] == [v is None for v in seeded.values]
    assert [r["status"] == "failed" for r in rows] == [v is None for v in seeded.values]
    assert [float(r["accuracy"]) if r["accuracy"] else None for r in rows] == seeded.values
    assert [r["metadata.hostname"] for r in rows] == seeded.hosts

    target = tmp_path / "out.json"
    result = honed(
        "export", seeded.single, "--format", "json", "-o", str(target), server=dashboard_server
    )
    assert result.returncode == 0, result.stderr
    exported = json.loads(target.read_text())
    assert exported["experiment"]["id"] == seeded.single
    assert [o["failed"] for o in exported["observations"]] == [v is None for v in seeded.values]

    target = tmp_path / "out.parquet"
    result = honed(
        "export", seeded.single, "--format", "parquet", "-o", str(target), server=dashboard_server
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {N_OBSERVATIONS} observations" in result.stderr
    frame = pd.read_parquet(target)
    assert len(frame) == N_OBSERVATIONS
    assert frame["accuracy"].max() == pytest.approx(max(v for v in seeded.values if v is not None))


def test_errors_are_one_line_messages(dashboard_server: RunningServer, seeded: Seeded) -> None:
    result = honed("experiments", "list", "--url", dashboard_server.url, "--token", "nope")
    assert result.returncode == 1
    assert "token you sent is unknown or revoked" in result.stderr
    assert "Traceback" not in result.stderr

    # An unknown id is named, with where it was looked for (not the API's bare "The
    # requested resource could not be found").
    for command in (("experiment", "show"), ("export",)):
        result = honed(*command, "999999", server=dashboard_server)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"Error: no experiment 999999 at {dashboard_server.url} that this token can see; "
            "honed experiments list shows the ones it can"
        )

    result = honed("experiments", "list", "--url", dashboard_server.url)
    assert result.returncode == 1
    assert "SIGOPT_API_TOKEN" in result.stderr

    result = honed("export", seeded.single, "--format", "xml", server=dashboard_server)
    assert result.returncode == 2
    assert "'xml' is not one of" in result.stderr


def checked_calls(http: httpx.Client) -> Callable[..., Any]:
    """``call(method, path, body=None)``: the JSON of a request that must answer 200."""

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = http.request(method, path, json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    return call


def test_a_deleted_suggestions_source_is_still_shown(dashboard_server: RunningServer) -> None:
    """What chose a point stays on its suggestion when that is deleted: the dashboard's
    rows and CSV, ``honed export`` and both ``to_dataframe()`` name it for an observation
    of a suggestion deleted after its result and for the late report of an expired one.
    Only an observation reported without a suggestion has no source."""
    http = httpx.Client(base_url=dashboard_server.url, auth=(dashboard_server.token, ""))
    with http:
        call = checked_calls(http)

        body = {
            "name": "Deleted suggestions",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            "suggestion_ttl_seconds": 0.5,
        }
        experiment = call("POST", "/v1/experiments", body)["id"]
        records = f"/v1/experiments/{experiment}"
        deleted = call("POST", f"{records}/suggestions")["id"]
        call("POST", f"{records}/observations", {"suggestion": deleted, "value": 1.0})
        call("DELETE", f"{records}/suggestions/{deleted}")
        expired = call("POST", f"{records}/suggestions")["id"]
        time.sleep(1.0)
        assert call("GET", f"{records}/suggestions/{expired}")["deleted"] is True
        call("POST", f"{records}/observations", {"suggestion": expired, "value": 2.0})
        kept = call("POST", f"{records}/suggestions")["id"]
        call("POST", f"{records}/observations", {"suggestion": kept, "value": 3.0})
        call("POST", f"{records}/observations", {"assignments": {"x": 0.5}, "value": 4.0})
        # The live list holds the third suggestion alone.
        assert [s["id"] for s in call("GET", f"{records}/suggestions")["data"]] == [kept]
        detail = call("GET", f"/dashboard/api/experiments/{experiment}")
        csv_download = http.get(f"/dashboard/api/experiments/{experiment}/observations.csv")

    expected = {deleted: "design", expired: "design", kept: "design", None: None}
    assert {o["suggestion"]: o["source"] for o in detail["observations"]} == expected
    assert all(o["started"] is not None for o in detail["observations"][:3])

    def sources(text: str) -> dict[str | None, str | None]:
        rows = csv.DictReader(io.StringIO(text))
        return {r["suggestion"] or None: r["source"] or None for r in rows}

    assert sources(csv_download.text) == expected
    exported = honed("export", experiment, "--format", "csv", server=dashboard_server)
    assert exported.returncode == 0, exported.stderr
    assert sources(exported.stdout) == expected
    frames = [to_dataframe(experiment, url=dashboard_server.url, token=dashboard_server.token)]
    with Client(dashboard_server.url, token=dashboard_server.token) as client:
        frames.append(client.to_dataframe(experiment))
    for frame in frames:
        by_suggestion = dict(zip(frame["suggestion"], frame["source"], strict=True))
        assert {
            (None if pd.isna(k) else str(int(k))): (None if pd.isna(v) else v)
            for k, v in by_suggestion.items()
        } == expected


def test_the_json_export_gives_each_observation_its_source_and_curve(
    dashboard_server: RunningServer,
) -> None:
    """Both JSON exports (the dashboard's download and ``honed export --format json``, the
    same bytes) add to each v1 observation what chose its point and its intermediate
    values, also for a suggestion deleted after its result; an observation reported
    without a suggestion has neither."""
    http = httpx.Client(base_url=dashboard_server.url, auth=(dashboard_server.token, ""))
    with http:
        call = checked_calls(http)

        body = {
            "name": "Curves in the JSON export",
            "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
        }
        experiment = call("POST", "/v1/experiments", body)["id"]
        records = f"/v1/experiments/{experiment}"
        curves = {}
        for index in range(2):
            suggestion = call("POST", f"{records}/suggestions")["id"]
            curve = [[step, round(1 / step + index, 4)] for step in range(1, 4)]
            metadata = {PROGRESS_PREFIX + "0": json.dumps(curve)}
            call("POST", f"{records}/suggestions/{suggestion}", {"metadata": metadata})
            call("POST", f"{records}/observations", {"suggestion": suggestion, "value": index})
            curves[suggestion] = curve
        deleted = next(iter(curves))
        call("DELETE", f"{records}/suggestions/{deleted}")
        plain = call("POST", f"{records}/suggestions")["id"]  # no curve reported
        call("POST", f"{records}/observations", {"suggestion": plain, "value": 2.0})
        call("POST", f"{records}/observations", {"assignments": {"x": 0.5}, "value": 3.0})
        download = http.get(f"/dashboard/api/experiments/{experiment}/observations.json")
        v1 = http.get(f"{records}/observations").json()["data"]

    exported = honed("export", experiment, "--format", "json", server=dashboard_server)
    assert exported.returncode == 0, exported.stderr
    assert download.text == exported.stdout
    observations = json.loads(exported.stdout)["observations"]
    assert [o["suggestion"] for o in observations] == [*curves, plain, None]
    assert [o["source"] for o in observations] == ["design", "design", "design", None]
    assert [o["intermediate_values"] for o in observations] == [*curves.values(), [], []]
    # Otherwise each is the v1 observation, as the API returns it.
    by_id = {o["id"]: o for o in v1}
    for o in observations:
        rest = {k: v for k, v in o.items() if k not in ("source", "intermediate_values")}
        assert rest == by_id[o["id"]]
