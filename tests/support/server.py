"""Run real ``honed serve`` processes for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_server(
    database_url: str,
    token: str | None = "test-token",
    workers: int = 1,
    startup_timeout: float = 60.0,
    optimizers: int | None = 0,
    candidate_wait: float | None = None,
    extra_args: Sequence[str] = (),
    launcher: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningServer]:
    """Start ``python -m honed serve`` on a free port; wait for /health; stop it after.

    ``token`` is made valid with HONED_API_TOKEN; None: the server is left to mint its own,
    and ``server.token`` is the one it prints (empty on a database that has tokens).
    ``launcher`` runs the Python process (e.g. valgrind and its options); ``env`` is set in
    its environment over this process' own (e.g. PYTHONPATH for another checkout's src).
    ``optimizers``: None leaves their count to ``honed serve``'s default.

    No optimizer process by default (Sobol serves): most tests are about the API, and each
    optimizer process costs seconds of torch import.
    """
    port = free_port()
    with tempfile.NamedTemporaryFile(prefix="honed-serve-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    environ = {k: v for k, v in os.environ.items() if k != "HONED_API_TOKEN"} | dict(env or {})
    if token is not None:
        environ["HONED_API_TOKEN"] = token
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                *launcher,
                sys.executable,
                "-m",
                "honed",
                "serve",
                "--port",
                str(port),
                "--database-url",
                database_url,
                "--workers",
                str(workers),
                *(["--optimizers", str(optimizers)] if optimizers is not None else []),
                *(["--candidate-wait", str(candidate_wait)] if candidate_wait is not None else []),
                *extra_args,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=environ,
            start_new_session=True,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", token or "", process, log_path)
    try:
        _wait_healthy(server, startup_timeout)
        if token is None:
            printed = re.search(r"export SIGOPT_API_TOKEN=(\S+)   \(client", server.log())
            server.token = printed.group(1) if printed else ""
        yield server
    finally:
        stop(server)
        log_path.unlink(missing_ok=True)


def _wait_healthy(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"honed serve exited early:\n{server.log()}")
        try:
            if httpx.get(server.url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"honed serve did not become healthy:\n{server.log()}")


def stop(server: RunningServer) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, 15)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, 9)
            server.process.wait()


def optimizer_children(parent: int) -> list[int]:
    """The pids of the `honed optimizer` processes that the server ``parent`` started."""
    return _children(parent, "honed optimizer")


def worker_children(parent: int) -> list[int]:
    """The pids of the uvicorn worker processes of ``honed serve --workers`` (spawned)."""
    return _children(parent, "multiprocessing.spawn")


def _children(parent: int, command: str) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", command],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return [int(pid) for pid in found]
