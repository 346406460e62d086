"""A burst of many workers on one experiment, with the optimizer on: N async workers (one
httpx.AsyncClient each, all in one process) ask for their first suggestion at the same
moment, then run the worker loop (evaluate for ``--eval-seconds`` +-50%, report, ask
again) for ``--seconds``.

This is how a cluster starts (an array job, a Ray or Kubernetes scale-up). The server is
``honed serve`` as users start it: one optimizer process by default (``--optimizers``), on
SQLite (one server process) or PostgreSQL with 2 server processes (``pg2``).

Reported per deployment:
- the burst: the seconds until every worker's first ask is answered, and that ask's p50/p99;
- every later ask: suggestion p50/p99 and observation p50/p99; and the suggestion p50/p99
  of the steady state alone, the asks that began ``--warmup`` seconds (30) or more after
  the burst, once the burst's own results (the model's first fits on hundreds of pending
  points) are past;
- errors (connection drops, timeouts, non-200 answers), pairs of suggestions with equal
  assignments, and suggestions by source (design ``engine``, ``optimizer``, ``fallback``);
- the API server processes' CPU seconds (not the optimizer's) until the burst was
  answered, and per worker cycle over the run: on a loaded machine the wall-clock figures
  follow the load, these much less;
- the clients' own CPU seconds until the burst was answered: all the workers run in this
  process, on the servers' cores, where a cluster's run on machines of their own.

``--client raw`` gives each worker ``RawClient``, a minimal HTTP/1.1 client, instead of
httpx: the servers then share the cores with less of the clients' work, closer to a
cluster, whose workers run on machines of their own.

Usage: .venv/bin/python benchmarks/burst.py [--workers 1000] [--eval-seconds 10]
       [--seconds 60] [--warmup 30] [--deployments sqlite,pg2] [--optimizers 1]
       [--client httpx|raw] [--before REV]

``--before REV`` runs the server of git revision REV's ``src/`` as well, alternating with
this checkout's, and prints the ratios. Results go to benchmarks/results/burst.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import httpx

from _revisions import extract_src
from _signals import unwind_on_stop
from api_throughput import EXPERIMENT
from api_throughput import duplicate_pairs
from api_throughput import list_suggestions
from api_throughput import objective
from api_throughput import percentile

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "burst.json"
TOKEN = "burst-token"
REQUEST_TIMEOUT = 120.0
SERVERS = {"sqlite": ("sqlite", 1), "pg2": ("postgres", 2)}


@dataclass
class Record:
    first: list[float] = field(default_factory=list)  # each worker's first ask, seconds
    first_done: list[float] = field(default_factory=list)  # when it was answered
    suggestion: list[float] = field(default_factory=list)  # later asks
    steady: list[float] = field(default_factory=list)  # later asks begun after the warm-up
    observation: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    stale: int = 0
    # The servers' CPU seconds at the burst's start, once it was answered, at the end.
    cpu: list[float] = field(default_factory=list)
    # This (the clients') process's CPU seconds at the burst's start and once it was
    # answered: the 1,000 clients of real clusters run on their own machines, here on the
    # servers' cores, so a drain that took about this long was the clients' own.
    client_cpu: list[float] = field(default_factory=list)


class _Reply:
    """What the worker loop reads of an answer: its status and its JSON body."""

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self._body = body

    def json(self) -> Any:
        return json.loads(self._body)


class RawClient:
    """A minimal HTTP/1.1 client (``--client raw``): one keep-alive connection, POST with
    a JSON body, a Content-Length answer. About a tenth of httpx's CPU per request, so that
    a burst's figures are more the server's than the clients' (all in this one process).
    A connection idle longer than the server's keep-alive (uvicorn's 5 s) is opened anew
    before the request, as httpx's pool does; a failure raises httpx's exception types."""

    IDLE_SECONDS = 4.0

    def __init__(self, base_url: str, auth: tuple[str, str]) -> None:
        url = httpx.URL(base_url)
        self._host, self._port = url.host, url.port or 80
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self._headers = f"Host: {self._host}:{self._port}\r\nAuthorization: Basic {token}\r\n"
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._used = 0.0

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def post(self, path: str, json: Any = None) -> _Reply:
        body = b"" if json is None else _dumps(json)
        if self._streams is None or time.perf_counter() - self._used > self.IDLE_SECONDS:
            self._close()
            try:
                self._streams = await asyncio.open_connection(self._host, self._port)
            except OSError as error:
                raise httpx.ConnectError(str(error)) from error
        reader, writer = self._streams
        head = (
            f"POST {path} HTTP/1.1\r\n{self._headers}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            writer.write(head.encode() + body)
            status_line, _, rest = (await reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
            length = 0
            for line in rest.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            self._close()
            raise httpx.ReadError(f"{type(error).__name__}: {error}") from error
        self._used = time.perf_counter()
        return _Reply(int(status_line.split()[1]), payload)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def _ask(client: Any, prefix: str, record: Record) -> dict[str, Any] | None:
    try:
        response = await client.post(prefix + "/suggestions")
    except httpx.HTTPError as error:
        record.errors[f"suggestion {type(error).__name__}"] += 1
        return None
    if response.status_code != 200:
        record.errors[f"suggestion HTTP {response.status_code}"] += 1
        return None
    suggestion: dict[str, Any] = response.json()
    record.sources[suggestion.get("source", "?")] += 1
    model = suggestion.get("model")
    if model is not None and not model.get("fresh", True):
        record.stale += 1
    return suggestion


async def _worker(
    index: int,
    url: str,
    prefix: str,
    start: asyncio.Event,
    clock: list[float],
    eval_seconds: float,
    record: Record,
    workers: int,
    cpu: Callable[[], float],
    raw: bool,
    warmup: float,
) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    client: Any = (
        RawClient(url, (TOKEN, ""))
        if raw
        else httpx.AsyncClient(
            base_url=url, auth=(TOKEN, ""), timeout=REQUEST_TIMEOUT, limits=limits
        )
    )
    async with client:
        rng = random.Random(index)
        await start.wait()
        first = True
        while time.perf_counter() < clock[1]:
            started = time.perf_counter()
            suggestion = await _ask(client, prefix, record)
            elapsed = time.perf_counter() - started
            if first:
                record.first.append(elapsed)
                record.first_done.append(time.perf_counter() - clock[0])
                first = False
                if len(record.first_done) == workers:
                    record.cpu.append(cpu())
                    record.client_cpu.append(time.process_time())
            else:
                record.suggestion.append(elapsed)
                if started - clock[0] >= warmup:
                    record.steady.append(elapsed)
            if suggestion is None:
                await asyncio.sleep(1.0)
                continue
            await asyncio.sleep(eval_seconds * rng.uniform(0.5, 1.5))
            body = {
                "suggestion": suggestion["id"],
                "values": [{"value": objective(suggestion["assignments"])}],
                "metadata": {"hostname": f"worker-{index}"},
            }
            started = time.perf_counter()
            try:
                response = await client.post(prefix + "/observations", json=body)
            except httpx.HTTPError as error:
                record.errors[f"observation {type(error).__name__}"] += 1
                continue
            if response.status_code != 200:
                record.errors[f"observation HTTP {response.status_code}"] += 1
                continue
            record.observation.append(time.perf_counter() - started)


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU seconds of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def _drive(
    urls: Sequence[str], experiment: str, args: argparse.Namespace, pids: Sequence[int]
) -> Record:
    record = Record()
    start = asyncio.Event()
    clock = [0.0, 0.0]  # the burst's start and the run's end, set when the burst starts
    prefix = f"/v1/experiments/{experiment}"

    async def run(index: int) -> None:
        await _worker(
            index,
            urls[index % len(urls)],
            prefix,
            start,
            clock,
            args.eval_seconds,
            record,
            args.workers,
            lambda: _cpu_seconds(pids),
            args.client == "raw",
            args.warmup,
        )

    tasks = [asyncio.create_task(run(i)) for i in range(args.workers)]
    await asyncio.sleep(0.5)  # the clients exist; connections open on their first request
    clock[0] = time.perf_counter()
    clock[1] = clock[0] + args.seconds
    record.cpu.append(_cpu_seconds(pids))
    record.client_cpu.append(time.process_time())
    start.set()
    await asyncio.gather(*tasks)
    if len(record.cpu) == 1:  # some first ask failed
        record.cpu.append(float("nan"))
        record.client_cpu.append(float("nan"))
    record.cpu.append(_cpu_seconds(pids))
    return record


def _ms(value: float | None) -> float | None:
    return None if value is None else round(1000 * value, 1)


def _run(deployment: str, src: Path, args: argparse.Namespace, postgres: Any) -> dict[str, Any]:
    from tests.support.server import running_server

    backend, servers_wanted = SERVERS[deployment]
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(src), str(ROOT)])
    try:
        with ExitStack() as stack:
            if backend == "sqlite":
                directory = stack.enter_context(_tempdir())
                database_url = f"sqlite:///{directory}/burst.db"
            else:
                database_url = postgres.create_database(prefix="honed_burst")
                stack.callback(postgres.drop_database, database_url)
            servers = [
                stack.enter_context(
                    running_server(
                        database_url,
                        token=TOKEN,
                        # One optimizer for the deployment, as `honed serve` starts it.
                        optimizers=args.optimizers if i == 0 else 0,
                        extra_args=["--log-level", "info"] if args.keep_logs else [],
                    )
                )
                for i in range(servers_wanted)
            ]
            experiment = _create(servers[0].url, args)
            _settle(args)
            pids = [s.process.pid for s in servers]
            record = asyncio.run(_drive([s.url for s in servers], experiment, args, pids))
            listed = list_suggestions(servers[0], experiment)
            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for i, server in enumerate(servers):
                    log = args.keep_logs / f"{deployment}-{src.parent.name}-{i}.log"
                    log.write_text(server.log())
    finally:
        os.environ["PYTHONPATH"] = env_path
    done = record.first_done
    return {
        "deployment": deployment,
        "workers": args.workers,
        "burst_drain_s": round(max(done), 2) if len(done) == args.workers else None,
        "first_p50_ms": _ms(percentile(record.first, 50)),
        "first_p99_ms": _ms(percentile(record.first, 99)),
        "suggestion_p50_ms": _ms(percentile(record.suggestion, 50)),
        "suggestion_p99_ms": _ms(percentile(record.suggestion, 99)),
        "steady_p50_ms": _ms(percentile(record.steady, 50)),
        "steady_p99_ms": _ms(percentile(record.steady, 99)),
        "observation_p50_ms": _ms(percentile(record.observation, 50)),
        "observation_p99_ms": _ms(percentile(record.observation, 99)),
        "cycles": len(record.observation),
        "burst_cpu_s": round(record.cpu[1] - record.cpu[0], 2),
        "burst_client_cpu_s": round(record.client_cpu[1] - record.client_cpu[0], 2),
        "cpu_ms_per_cycle": round(
            1000 * (record.cpu[2] - record.cpu[0]) / max(len(record.observation), 1), 2
        ),
        "errors": dict(record.errors),
        "duplicate_pairs": duplicate_pairs(listed),
        "sources": dict(record.sources),
        "stale": record.stale,
    }


def _tempdir() -> Any:
    import tempfile

    return tempfile.TemporaryDirectory(prefix="honed-burst-")


def _create(url: str, args: argparse.Namespace) -> str:
    body = {**EXPERIMENT, "observation_budget": 100 * args.workers}
    with httpx.Client(base_url=url, auth=(TOKEN, ""), timeout=30) as client:
        response = client.post("/v1/experiments", json=body)
        response.raise_for_status()
        experiment: str = response.json()["id"]
        return experiment


def _settle(args: argparse.Namespace) -> None:
    """Start the burst once the optimizer process has had time to import torch and start
    its loop: the burst measures the hand-out, not the start-up."""
    if args.optimizers:
        time.sleep(args.settle)


def _table(rows: Sequence[dict[str, Any]]) -> str:
    columns = [
        ("deployment", "deployment"),
        ("variant", "code"),
        ("burst_drain_s", "drain s"),
        ("first_p50_ms", "first p50"),
        ("first_p99_ms", "first p99"),
        ("suggestion_p50_ms", "sugg p50"),
        ("suggestion_p99_ms", "sugg p99"),
        ("steady_p50_ms", "steady p50"),
        ("steady_p99_ms", "steady p99"),
        ("observation_p50_ms", "obs p50"),
        ("observation_p99_ms", "obs p99"),
        ("cycles", "cycles"),
        ("burst_cpu_s", "burst CPU s"),
        ("burst_client_cpu_s", "client CPU s"),
        ("cpu_ms_per_cycle", "CPU ms/cycle"),
        ("duplicate_pairs", "dups"),
    ]
    lines = [" | ".join(f"{title:>10}" for _, title in columns) + " | errors, sources"]
    for row in rows:
        cells = [f"{row.get(key)!s:>10}" for key, _ in columns]
        lines.append(" | ".join(cells) + f" | {row['errors']} {row['sources']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=1000)
    parser.add_argument("--eval-seconds", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--deployments", default="sqlite,pg2")
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="seconds after the burst before steady state"
    )
    parser.add_argument("--optimizers", type=int, default=1)
    parser.add_argument(
        "--settle", type=float, default=15.0, help="seconds between the start and the burst"
    )
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="httpx",
        help="the workers' HTTP client: httpx (as users' code) or a minimal one (RawClient)",
    )
    parser.add_argument("--before", help="git revision whose src/ runs as well")
    parser.add_argument(
        "--keep-logs", type=Path, help="a directory for the servers' logs (at level info)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    deployments = [d.strip() for d in args.deployments.split(",") if d.strip()]
    if unknown := [d for d in deployments if d not in SERVERS]:
        parser.error(f"unknown deployment(s) {unknown}; choose from {', '.join(SERVERS)}")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.postgres import running_postgres

    unwind_on_stop()
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        variants = [("after", ROOT / "src")]
        if args.before:
            directory = Path(stack.enter_context(_tempdir()))
            variants = [("before", extract_src(args.before, directory)), *variants]
        postgres = stack.enter_context(running_postgres()) if "pg2" in deployments else None
        for deployment in deployments:
            for name, src in variants:
                print(f"[{deployment} {name}] {args.workers} workers ...", flush=True)
                row = {"variant": name, **_run(deployment, src, args, postgres)}
                rows.append(row)
                print(_table([row]).splitlines()[1], flush=True)
    print(_table(rows))
    if args.before:
        for deployment in deployments:
            pair = {r["variant"]: r for r in rows if r["deployment"] == deployment}
            for key in (
                "burst_drain_s",
                "first_p99_ms",
                "suggestion_p99_ms",
                "steady_p99_ms",
                "burst_cpu_s",
                "cpu_ms_per_cycle",
            ):
                b, a = pair["before"].get(key), pair["after"].get(key)
                if a and b:
                    print(f"{deployment} {key}: after/before {a / b:.2f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "burst",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "settings": {
                    "workers": args.workers,
                    "eval_seconds": args.eval_seconds,
                    "seconds": args.seconds,
                    "warmup": args.warmup,
                    "optimizers": args.optimizers,
                    "client": args.client,
                    "before": args.before,
                },
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "rows": rows,
                "median_first_ms": statistics.median(
                    [r["first_p50_ms"] for r in rows if r["first_p50_ms"] is not None] or [0]
                ),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
