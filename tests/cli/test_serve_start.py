"""`honed serve` starts quietly and honestly: a busy port is refused before a one-time token
is shown (and lost), no Alembic or per-fit lines unless --log-level asks, and a restart on a
database that has tokens says how to get one."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from honed.client import Client
from tests.support.server import running_server


def test_a_busy_port_is_refused_before_a_token_is_minted(tmp_path: Path) -> None:
    database = tmp_path / "serve.db"
    environment = {k: v for k, v in os.environ.items() if k != "HONED_API_TOKEN"}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = ["serve", "--port", str(port), "--database-url", f"sqlite:///{database}"]
        result = subprocess.run(
            [sys.executable, "-m", "honed", *command, "--optimizers", "0"],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""  # no token shown, to be lost
    assert result.stderr == (
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use; stop what uses "
        "the port, or pass another --port\n"
    )
    assert not database.exists()  # nothing minted


def test_start_is_quiet_and_a_restart_says_how_to_get_a_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    with running_server(url, token=None, optimizers=1) as server:
        assert server.token
        fit_by_the_optimizer(server.url, server.token)
        log = server.log()
    assert "shown once, keep it" in log
    assert "Context impl" not in log
    assert "non-transactional DDL" not in log
    assert not re.search(r"optimizer experiment \d+: model on", log), log  # a fit's line

    with running_server(url, token=None) as again:
        log = again.log()
    assert again.token == ""  # no new token shown ...
    # ... but how to make one, for this database
    assert f"  export SIGOPT_API_TOKEN=$(honed token create --database-url {url})\n" in log


def fit_by_the_optimizer(url: str, token: str) -> None:
    """Observations past the initial design, until a suggestion comes from a fitted model."""
    with httpx.Client(base_url=url, auth=(token, ""), timeout=120) as client:
        experiment = client.post(
            "/v1/experiments",
            json={
                "name": "quiet",
                "parameters": [
                    {"name": name, "type": "double", "bounds": {"min": 0, "max": 1}}
                    for name in ("x", "y")
                ],
                "metrics": [{"name": "f", "objective": "maximize"}],
            },
        ).json()
        base = f"/v1/experiments/{experiment['id']}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            suggestion = client.post(f"{base}/suggestions").json()
            if suggestion["source"] == "optimizer":
                return
            value = sum(float(v) for v in suggestion["assignments"].values())
            client.post(
                f"{base}/observations",
                json={"suggestion": suggestion["id"], "values": [{"value": value}]},
            )
    raise AssertionError("no suggestion from the optimizer")


def test_a_database_that_honed_run_made_says_how_to_get_a_token_and_no_more(
    tmp_path: Path,
) -> None:
    """honed run (an embedded client) mints the default client's token and shows it to no
    one; serving its database said "shown once, at its first start", which never was."""
    database = tmp_path / "honed.db"
    with Client(str(database)) as client:
        client.create_experiment(
            {
                "name": "run",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
                "metrics": [{"name": "f", "objective": "minimize"}],
            }
        )
    url = f"sqlite:///{database}"
    with running_server(url, token=None) as server:
        log = server.log()
    assert server.token == ""
    assert "first start" not in log
    assert "  this database has tokens, shown only when made (if at all); a new one:\n" in log
    assert f"  export SIGOPT_API_TOKEN=$(honed token create --database-url {url})\n" in log
