"""The sigopt==8.8.3 wheel's own integration tests (package ``integration_test``), and its
``sigopt create project`` command, against a real ``honed serve``.

They run in a subprocess exactly as the client's CI ran them against sigopt-server:
configured only by SIGOPT_API_URL, SIGOPT_API_TOKEN and SIGOPT_PROJECT.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import RunningServer
from tests.support.server import running_server

SUITES = ["integration_test.test_experiment", "integration_test.test_sigopt"]
UPSTREAM_TESTS = 9  # test_update, and test_upload_runs for 2 x 4 parameter sets
# Real xgboost training, reported as runs, checkpoints, metadata and AI experiments. They
# take about a minute, so they run against one backend (SQLite); the storage paths they
# use are the ones the other suites run on PostgreSQL too. They need the plugin
# tests/e2e/upstream_compat.py on Python >= 3.11. (test_hyperopt.py is left out: it needs
# hyperopt and a MongoDB server.)
XGBOOST_SUITES = ["integration_test.test_xgboost_run", "integration_test.test_xgboost_experiment"]
XGBOOST_TESTS = 21
REPOSITORY = Path(__file__).resolve().parents[2]
SIGOPT_CLI = Path(sys.executable).with_name("sigopt")


@pytest.fixture(scope="module")
def server(backend_url: str) -> Iterator[RunningServer]:
    with running_server(backend_url) as running:
        yield running


def sigopt_env(server: RunningServer, project: str) -> dict[str, str]:
    return {
        **os.environ,
        "SIGOPT_API_URL": server.url,
        "SIGOPT_API_TOKEN": server.token,
        "SIGOPT_PROJECT": project,
    }


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=400, check=False
    )


def test_sigopt_cli_creates_a_project(server: RunningServer, tmp_path: Path) -> None:
    env = sigopt_env(server, "cli-project")
    created = run([str(SIGOPT_CLI), "create", "project", "--project-name", "CLI"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    assert "Project 'cli-project' created." in created.stderr + created.stdout
    project = httpx.get(
        f"{server.url}/v1/clients/1/projects/cli-project", auth=(server.token, "")
    ).json()
    assert (project["object"], project["id"], project["name"]) == ("project", "cli-project", "CLI")

    again = run([str(SIGOPT_CLI), "create", "project"], env, tmp_path)
    assert again.returncode == 1
    assert "The project with id 'cli-project' already exists." in again.stderr


def test_the_clients_own_integration_tests_pass(
    server: RunningServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = sigopt_env(server, "upstream-integration")
    created = run([str(SIGOPT_CLI), "create", "project"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    suites, expected = SUITES, UPSTREAM_TESTS
    if "sqlite" in request.node.callspec.id:
        # The xgboost tests name their own project (and set SIGOPT_PROJECT themselves).
        xgb_env = sigopt_env(server, "dev-sigopt-xgb-integration-test")
        created = run([str(SIGOPT_CLI), "create", "project"], xgb_env, tmp_path)
        assert created.returncode == 0, created.stderr
        suites, expected = [*SUITES, *XGBOOST_SUITES], UPSTREAM_TESTS + XGBOOST_TESTS
        env = {**env, "PYTHONPATH": str(REPOSITORY)}

    # From an empty directory, so that none of honed's pytest configuration applies.
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v"]
    if "PYTHONPATH" in env:
        command += ["-p", "tests.e2e.upstream_compat"]
    result = run([*command, "--pyargs", *suites], env, tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert f"{expected} passed" in report, report
