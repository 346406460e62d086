"""Load: 64 worker processes run the SigOpt worker loop against SQLite (1 server process)
and PostgreSQL (1, 2 and 4 server processes on one database).

The machinery is api_throughput.py's (worker processes with one keep-alive httpx client
each, the measured window, duplicate counting by listing every suggestion); this script
runs it with many workers and more server processes and reports, per deployment: cycles/s
(a cycle = suggestion create + observation create), p50/p95/p99 latency of each request,
errors, pairs of suggestions with equal assignments, and suggestions left open. The issue's
goal: zero errors and zero duplicates everywhere, and >= 300 cycles/s on PostgreSQL with 2
server processes on a 2-core machine (the workers share those cores).

Usage: .venv/bin/python benchmarks/load.py [--workers 64] [--seconds 15] [--warmup 3]
       [--deployments sqlite,pg1,pg2,pg4]

Results are printed and written to benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import api_throughput as bench
from _signals import unwind_on_stop

RESULTS = bench.ROOT / "benchmarks" / "results" / "load.json"
GOAL_CYCLES_PER_SECOND = 300.0
GOAL_DEPLOYMENT = "pg2"
DEPLOYMENTS = {
    "sqlite": bench.Deployment("sqlite", "sqlite", 1),
    "pg1": bench.Deployment("pg1", "postgres", 1),
    "pg2": bench.Deployment("pg2", "postgres", 2),
    "pg4": bench.Deployment("pg4", "postgres", 4),
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds")
    parser.add_argument("--deployments", default=",".join(DEPLOYMENTS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.deployments.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEPLOYMENTS]
    if unknown or not names:
        parser.error(f"unknown deployment(s) {unknown}; choose from {', '.join(DEPLOYMENTS)}")
    args.deployment_list = [DEPLOYMENTS[n] for n in names]
    # What api_throughput.run_deployment reads besides these.
    args.profile = None
    args.profile_gil = False
    return args


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    fmt = bench.fmt
    header = (
        f"{'deployment':<11}{'servers':>8}{'workers':>8}{'cycles/s':>10}"
        f"{'sugg p50/p95/p99 ms':>22}{'obs p50/p95/p99 ms':>21}"
        f"{'errors':>8}{'dup pairs':>11}{'open left':>11}{'server CPU%':>13}"
    )
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        s, o = row["suggestion_create"], row["observation_create"]
        sugg = "/".join(fmt(s[k], 0) for k in ("p50_ms", "p95_ms", "p99_ms"))
        obs = "/".join(fmt(o[k], 0) for k in ("p50_ms", "p95_ms", "p99_ms"))
        print(
            f"{row['deployment']:<11}{row['server_processes']:>8}{row['workers']:>8}"
            f"{row['cycles_per_second']:>10.1f}{sugg:>22}{obs:>21}{row['errors']:>8}"
            f"{row['duplicate_pairs']:>11}{row['open_suggestions_left']:>11}"
            f"{'+'.join(f'{c:.0f}' for c in row['server_cpu_percent']):>13}"
        )
    for row in rows:
        for sample in row["error_samples"]:
            print(f"  {row['deployment']} error: {sample}")
    goal = next((r for r in rows if r["deployment"] == GOAL_DEPLOYMENT), None)
    if goal is not None:
        met = goal["cycles_per_second"] >= GOAL_CYCLES_PER_SECOND
        print(
            f"\nGoal: >= {GOAL_CYCLES_PER_SECOND:g} cycles/s on {GOAL_DEPLOYMENT} on "
            f"{os.cpu_count()} cores: {goal['cycles_per_second']:.1f} "
            f"({'met' if met else 'MISSED'})"
        )
    clean = all(r["errors"] == 0 and r["duplicate_pairs"] == 0 for r in rows)
    print(f"Zero errors and zero duplicates everywhere: {'yes' if clean else 'NO'}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if str(bench.ROOT) not in sys.path:
        sys.path.insert(0, str(bench.ROOT))
    from tests.support.postgres import running_postgres

    unwind_on_stop()
    rows: list[dict[str, Any]] = []
    try:
        with ExitStack() as stack:
            postgres = None
            if any(d.backend == "postgres" for d in args.deployment_list):
                postgres = stack.enter_context(running_postgres())
            for deployment in args.deployment_list:
                row, _ = bench.run_deployment(deployment, args, postgres, client_overhead=False)
                rows.append(row)
    except KeyboardInterrupt:
        print("\ninterrupted; servers and workers stopped", file=sys.stderr)
        return 130
    print_table(rows)
    report = {
        "benchmark": "load",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": os.getloadavg(),
        },
        "settings": {"workers": args.workers, "seconds": args.seconds, "warmup": args.warmup},
        "deployments": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
