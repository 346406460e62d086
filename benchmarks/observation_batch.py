"""A large observation batch through ``honed serve``, and what it costs other experiments,
before and after a change.

For each variant (``src/`` of the git revision ``--before``, then this checkout's ``src/``):
starts ``honed serve`` (no optimizer process) on a fresh SQLite file, or on a fresh
experiment of ``--database-url``, creates two experiments, and posts batches of ``--size``
observations (full assignments; SigOpt's documented maximum is 2,500) to the first while a
second client creates and reports suggestions on the other as fast as it can. Prints each
batch's wall time and the other experiment's request latencies meanwhile (a batch holds
SQLite's write lock: every other write waits for it), then the ratio after/before.

    PYTHONPATH=src python benchmarks/observation_batch.py [--before main] [--size 2500]
        [--repeat 3] [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from _revisions import ROOT
from _revisions import extract_src

SRC = ROOT / "src"

EXPERIMENT = {
    "name": "batch",
    "parameters": [
        {"name": f"x{i}", "type": "double", "bounds": {"min": 0, "max": 1}} for i in range(4)
    ],
    "metrics": [{"name": "f"}],
    "observation_budget": 100_000,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(src: Path, database_url: str, token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "honed", "serve", "--port", str(port), "--optimizers", "0"]
    server = subprocess.Popen(
        [*command, "--database-url", database_url, "--log-level", "warning"],
        env={**os.environ, "HONED_API_TOKEN": token, "PYTHONPATH": str(src)},
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return server, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError("honed serve did not start")
        time.sleep(0.2)


def _batch(size: int, offset: int) -> dict[str, Any]:
    return {
        "observations": [
            {
                "assignments": {f"x{i}": ((n + offset) * 7919 % 10007) / 10007 for i in range(4)},
                "values": [{"name": "f", "value": float(n)}],
            }
            for n in range(size)
        ]
    }


def _other_experiment(http: httpx.Client, eid: str, stop: threading.Event) -> list[float]:
    """Suggest and report on ``eid`` until ``stop``; each request's seconds."""
    seconds = []
    while not stop.is_set():
        started = time.perf_counter()
        suggestion = http.post(f"/v1/experiments/{eid}/suggestions").json()
        seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        http.post(
            f"/v1/experiments/{eid}/observations",
            json={"suggestion": suggestion["id"], "value": 1.0},
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def _variant(src: Path, database_url: str, args: argparse.Namespace) -> list[float]:
    """Seconds per batch; prints each batch's line."""
    token = secrets.token_urlsafe(16)
    server, base = _serve(src, database_url, token)
    batches = []
    try:
        with (
            httpx.Client(base_url=base, auth=(token, ""), timeout=600) as http,
            httpx.Client(base_url=base, auth=(token, ""), timeout=600) as other,
        ):
            target = http.post("/v1/experiments", json=EXPERIMENT).json()["id"]
            bystander = http.post("/v1/experiments", json=EXPERIMENT).json()["id"]
            for attempt in range(args.repeat):
                stop = threading.Event()
                waits: list[float] = []

                def bystand(waits: list[float] = waits, stop: threading.Event = stop) -> None:
                    waits.extend(_other_experiment(other, bystander, stop))

                runner = threading.Thread(target=bystand)
                runner.start()
                time.sleep(0.2)
                started = time.perf_counter()
                answer = http.post(
                    f"/v1/experiments/{target}/observations/batch",
                    json=_batch(args.size, attempt * args.size),
                )
                batches.append(time.perf_counter() - started)
                stop.set()
                runner.join()
                assert answer.status_code == 200, answer.text
                print(
                    f"  batch {attempt + 1}: {batches[-1]:.2f} s; the other experiment's "
                    f"{len(waits)} requests meanwhile: p50 "
                    f"{statistics.median(waits) * 1e3:.1f} ms, max {max(waits) * 1e3:.0f} ms",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    return batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git revision of the old code")
    parser.add_argument("--size", type=int, default=2500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    medians = {}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {f"before ({args.before})": extract_src(args.before, Path(tmp)), "after": SRC}
        for name, src in sources.items():
            url = args.database_url or f"sqlite:///{Path(tmp) / (name[:6] + '.db')}"
            print(f"{name}: {args.size} observations per batch on {url.split(':')[0]}")
            medians[name] = statistics.median(_variant(src, url, args))
    before, after = medians.values()
    print(
        f"batch p50: before {before:.2f} s, after {after:.2f} s, after/before {after / before:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
