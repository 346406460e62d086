"""Instructions per request of a burst of simultaneous first asks, before and after a
change, counted by callgrind (what the server does, whatever else the machine runs).

``request_instructions.py`` counts one request at a time; a burst takes other paths (the
hand-out queue's batches, requests waiting for each other's transactions, threads). For
each deployment (``sqlite``, ``pg1``: one ``honed serve --optimizers 0`` process, as there)
and variant (``src/`` of ``--before REV``, then this checkout's), the server runs under
``valgrind --tool=callgrind --instr-atstart=no`` with PYTHONHASHSEED=0 on a fresh database:
api_throughput.py's experiment, 20 uncounted suggestion creates, then instrumentation on,
``--idle`` seconds of nothing (the clock-driven work, k Ir/s), and ``--workers`` first asks
sent at once, each on a connection of its own (burst.py's RawClient). Reported: the burst's
Ir per request less k times its seconds, per run. Only the server process is counted, not
PostgreSQL. The answers must be 200 with distinct points.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/burst_instructions.py --before REV
       [--deployments sqlite,pg1] [--workers 300] [--repeat 1] [--idle 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from _revisions import ROOT
from _revisions import extract_src
from _signals import unwind_on_stop
from api_throughput import EXPERIMENT
from api_throughput import TOKEN
from burst import RawClient
from request_instructions import DEPLOYMENTS
from request_instructions import Profiler
from request_instructions import callgrind_server
from request_instructions import checked_deployments
from request_instructions import monitor

RESULTS = ROOT / "benchmarks" / "results" / "burst_instructions.json"


async def _burst(url: str, path: str, workers: int) -> list[Any]:
    clients = [RawClient(url, (TOKEN, "")) for _ in range(workers)]
    try:
        replies = await asyncio.gather(*(client.post(path) for client in clients))
    finally:
        for client in clients:
            await client.__aexit__()
    if [r.status_code for r in replies] != [200] * workers:
        raise RuntimeError(f"answers: {sorted({r.status_code for r in replies})}")
    return [r.json()["assignments"] for r in replies]


def run_once(src: Path, database_url: str, args: argparse.Namespace) -> dict[str, float]:
    with (
        callgrind_server(src, database_url) as (server, directory),
        httpx.Client(base_url=server.url, auth=(TOKEN, ""), timeout=600) as http,
    ):
        experiment = http.post("/v1/experiments", json=EXPERIMENT)
        experiment.raise_for_status()
        path = f"/v1/experiments/{experiment.json()['id']}/suggestions"
        for _ in range(20):
            http.post(path).raise_for_status()
        monitor(server.process.pid, "instrumentation", "on")
        profiler = Profiler(server.process.pid, directory)
        profiler.dump()  # drops the switch-on
        began = time.monotonic()
        time.sleep(args.idle)
        idle_ir, _ = profiler.dump()
        per_second = idle_ir / (time.monotonic() - began)
        began = time.monotonic()
        points = asyncio.run(_burst(server.url, path, args.workers))
        seconds = time.monotonic() - began
        ir, _ = profiler.dump()
    if len({json.dumps(p, sort_keys=True) for p in points}) != len(points):
        raise RuntimeError("two answers of the burst were the same point")
    return {
        "ir_per_request": (ir - per_second * seconds) / args.workers,
        "ir": ir,
        "seconds": seconds,
        "clock_ir_per_second": per_second,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--before", required=True, help="git revision of the old code")
    parser.add_argument("--deployments", default=",".join(DEPLOYMENTS))
    parser.add_argument("--workers", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds counted idle")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    deployments = checked_deployments(parser, args.deployments)
    from tests.support.postgres import running_postgres

    unwind_on_stop()
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="honed-before-")))
        sources = {"before": extract_src(args.before, tmp), "after": ROOT / "src"}
        postgres = stack.enter_context(running_postgres()) if "pg1" in deployments else None
        for run in range(args.repeat):
            for deployment in deployments:
                for variant, src in sources.items():
                    with ExitStack() as each:
                        if deployment == "sqlite":
                            scratch = each.enter_context(tempfile.TemporaryDirectory())
                            url = f"sqlite:///{scratch}/bench.db"
                        else:
                            assert postgres is not None
                            url = postgres.create_database(prefix="honed_bench")
                            each.callback(postgres.drop_database, url)
                        result = run_once(src, url, args)
                    runs = results.setdefault(deployment, {}).setdefault(variant, [])
                    runs.append(result)
                    print(
                        f"[{deployment} {variant} run {run + 1}] "
                        f"{result['ir_per_request'] / 1e6:.3f} M Ir per request "
                        f"({result['seconds']:.1f} s)",
                        flush=True,
                    )
    for deployment, variants in results.items():
        means = {
            v: sum(r["ir_per_request"] for r in runs) / len(runs) for v, runs in variants.items()
        }
        print(
            f"{deployment}: before {means['before'] / 1e6:.3f}, after "
            f"{means['after'] / 1e6:.3f} M Ir per request, after/before "
            f"{means['after'] / means['before']:.3f}"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "benchmark": "burst_instructions",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "settings": {k: v for k, v in vars(args).items() if k != "output"},
                "results": results,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
