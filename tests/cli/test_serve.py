"""`honed serve` as an operator stops it: SIGTERM to its process, as systemd or Docker send
it, ends the server and its optimizer processes (uvicorn re-raises the signal after its
shutdown, which used to end the server before it could stop them)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.server import optimizer_children
from tests.support.server import running_server


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; its parent (this test's process or init) has yet to reap it.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def test_sigterm_stops_the_optimizer_processes_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    with running_server(url, optimizers=1) as server:
        children = wait_for_children(server.process.pid, exclude=[])
        # Keep the optimizer busy: an experiment past its initial design, refitted on
        # every observation.
        client = httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=30)
        experiment = client.post(
            "/v1/experiments",
            json={
                "name": "stop",
                "parameters": [
                    {"name": f"x{i}", "type": "double", "bounds": {"min": 0, "max": 1}}
                    for i in range(6)
                ],
                "metrics": [{"name": "f", "objective": "maximize"}],
            },
        ).json()
        base = f"/v1/experiments/{experiment['id']}"
        for _ in range(12):
            suggestion = client.post(f"{base}/suggestions").json()
            value = sum(float(v) for v in suggestion["assignments"].values())
            client.post(
                f"{base}/observations",
                json={"suggestion": suggestion["id"], "values": [{"value": value}]},
            )
        client.close()

        server.process.send_signal(signal.SIGTERM)  # the server process only
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in children):
            assert time.monotonic() < deadline, f"optimizer outlived the server:\n{server.log()}"
            time.sleep(0.1)


def test_an_optimizer_process_that_dies_is_started_again(tmp_path: Path) -> None:
    """An optimizer killed from outside (OOM killer, an operator) is replaced, so the
    server does not go on without its optimizer; stopping the server ends the new one."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    with running_server(url, optimizers=1) as server:
        first = wait_for_children(server.process.pid, exclude=[])
        os.kill(first[0], signal.SIGKILL)
        second = wait_for_children(server.process.pid, exclude=first)
        assert f"optimizer process {first[0]} exited with -9" in server.log()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in second):
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)


def wait_for_children(parent: int, exclude: list[int]) -> list[int]:
    deadline = time.monotonic() + 30
    while True:
        children = [pid for pid in optimizer_children(parent) if pid not in exclude]
        if children and all(alive(pid) for pid in children):
            return children
        assert time.monotonic() < deadline, "no optimizer process"
        time.sleep(0.1)


def test_an_optimizer_whose_parent_died_before_it_looked_ends(tmp_path: Path) -> None:
    """The parent's pid comes on the command line: a parent killed while the optimizer was
    still importing cannot go unnoticed (it would otherwise watch its new parent)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    url = f"sqlite:///{tmp_path / 'orphan.db'}"
    command = [sys.executable, "-m", "honed", "optimizer", "--database-url", url]
    orphan = subprocess.Popen([*command, "--parent-pid", str(gone.pid)])
    try:
        # Its own SIGTERM, as for a parent that dies later.
        assert orphan.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        orphan.kill()


def test_workers_end_when_the_master_is_killed(tmp_path: Path) -> None:
    """SIGKILL of `honed serve --workers 2`: its uvicorn workers stop serving the port
    instead of going on unsupervised (a restart would find the address in use)."""
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    with running_server(url, workers=2) as server:
        workers = _children(server.process.pid, "spawn_main")
        assert len(workers) == 2
        server.process.kill()
        server.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in workers):
            assert time.monotonic() < deadline, f"workers outlived their master:\n{server.log()}"
            time.sleep(0.1)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/health", timeout=2)


def _children(parent: int, pattern: str) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", pattern], capture_output=True, text=True, check=False
    ).stdout.split()
    return [int(pid) for pid in found]


def test_every_worker_process_serves_with_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --workers 2, uvicorn spawns the API processes; each gets the settings as an
    object (nothing is written into the environment for them): flags and HONED_* variables
    alike, the token included."""
    monkeypatch.setenv("HONED_CORS_ORIGINS", "https://a.example")
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    flags = ["--rate-limit", "0.001", "--rate-burst", "1"]
    with running_server(url, workers=2, extra_args=flags) as server:
        statuses = []
        for _ in range(6):  # a new connection each: the processes share the port
            response = httpx.get(
                f"{server.url}/v1/experiments",
                headers={"Origin": "https://a.example"},
                auth=(server.token, ""),
            )
            assert response.headers["access-control-allow-origin"] == "https://a.example"
            statuses.append(response.status_code)
        # One request per process passes the burst of 1; the others are limited.
        assert statuses.count(200) in (1, 2)
        assert statuses.count(429) == 6 - statuses.count(200)


def test_a_huge_request_head_is_refused_without_being_read(tmp_path: Path) -> None:
    """An unauthenticated 8 MB header is answered 431 once 64 KiB of it arrived, and the
    server goes on serving."""
    url = f"sqlite:///{tmp_path / 'head.db'}"
    with running_server(url) as server:
        host, port = server.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            head = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 8 * 2**20}\r\n\r\n"
            with contextlib.suppress(ConnectionError):  # closed before all of it was sent
                connection.sendall(head.encode())
            answer = connection.recv(4096)
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert b'"status": 431' in answer
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200


def test_a_large_body_read_with_its_head_is_not_taken_for_a_head(tmp_path: Path) -> None:
    """The cap counts the head only: a 1 MB body sent in the same write as its small head
    (as a big observation batch is) reaches the route."""
    url = f"sqlite:///{tmp_path / 'body.db'}"
    with running_server(url) as server:
        host, port = server.url.removeprefix("http://").split(":")
        body = b'{"name": "' + b"n" * 2**20 + b'"}'
        head = (
            f"POST /v1/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            connection.sendall(head.encode() + body)
            answer = connection.recv(4096)
        # Refused by the API (no token), not by the head's cap.
        assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
