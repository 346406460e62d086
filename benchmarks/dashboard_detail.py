"""The dashboard experiment page's data at scale: what building it costs the server, and
what an unchanged page costs, before and after a change.

For each variant (``src/`` of the git revision ``--before``, then this checkout's ``src/``)
a child process on that ``src/`` stores ``--n`` observations on a fresh SQLite file (the
experiment of tests/dashboard/test_scale.py: a log double, an int, one metric, a hostname
per observation) through the in-process app. Then, ``--repeat`` times: the experiment's
metadata changes (not timed), and ``GET /dashboard/api/experiments/{id}`` is timed three
ways: the page that polls and finds it changed (200), a second tab's first load of the
same version (200), and the first page polling again with its ETag (304). Printed per
variant: the median CPU seconds (``time.process_time``, which other work on a shared
machine disturbs less than wall time) and wall seconds of each, the body's size, and the
ratios after/before.

    PYTHONPATH=src python benchmarks/dashboard_detail.py [--before main] [--n 30000]
        [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _revisions import ROOT
from _revisions import extract_src

BATCH = 2_500
WAYS = ("changed", "tab", "unchanged")
TOKEN = "bench-token"


def _experiment() -> dict[str, Any]:
    return {
        "name": "Sweep",
        "parameters": [
            {
                "name": "lr",
                "type": "double",
                "bounds": {"min": 1e-5, "max": 0.1},
                "transformation": "log",
            },
            {"name": "layers", "type": "int", "bounds": {"min": 1, "max": 12}},
        ],
        "metrics": [{"name": "accuracy", "objective": "maximize"}],
    }


def _measure(n: int, repeat: int) -> dict[str, Any]:
    """In the child: seed, then time the route."""
    from fastapi.testclient import TestClient

    from honed.server.app import create_app
    from honed.service.app import Services
    from honed.storage.sql.storage import SqlStorage

    with tempfile.TemporaryDirectory() as directory:
        storage = SqlStorage.from_url(f"sqlite:///{directory}/honed.db")
        services = Services(storage)
        services.tokens.bootstrap(TOKEN)
        with TestClient(create_app(services=services)) as client:
            client.auth = (TOKEN, "")
            experiment = client.post("/v1/experiments", json=_experiment()).json()["id"]
            rng = random.Random(3)
            for start in range(0, n, BATCH):
                batch = [
                    {
                        "assignments": {
                            "lr": 10 ** rng.uniform(-5, -1),
                            "layers": rng.randint(1, 12),
                        },
                        "values": [
                            {"name": "accuracy", "value": round(rng.uniform(0.5, 0.95), 4)}
                        ],
                        "metadata": {"hostname": f"node-{i % 16}"},
                    }
                    for i in range(start, min(n, start + BATCH))
                ]
                response = client.post(
                    f"/v1/experiments/{experiment}/observations/batch",
                    json={"observations": batch},
                )
                assert response.status_code == 200, response.text
            path = f"/dashboard/api/experiments/{experiment}"

            def timed(headers: dict[str, str], status: int) -> tuple[float, float, int, str]:
                cpu, wall = time.process_time(), time.perf_counter()
                response = client.get(path, headers=headers)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                assert response.status_code == status, response.status_code
                return cpu, wall, len(response.content), response.headers["ETag"]

            etag = client.get(path).headers["ETag"]  # warm: imports, prepared statements
            times: dict[str, list[tuple[float, float, int, str]]] = {}
            for i in range(repeat):
                changed = {"metadata": {"bench": i}}
                client.put(f"/v1/experiments/{experiment}", json=changed).raise_for_status()
                times.setdefault("changed", []).append(timed({"If-None-Match": etag}, 200))
                etag = times["changed"][-1][3]
                times.setdefault("tab", []).append(timed({}, 200))
                times.setdefault("unchanged", []).append(timed({"If-None-Match": etag}, 304))
        storage.close()
    result: dict[str, Any] = {"bytes": times["changed"][-1][2]}
    for name, runs in times.items():
        result[f"{name}_cpu"] = statistics.median(r[0] for r in runs)
        result[f"{name}_wall"] = statistics.median(r[1] for r in runs)
    return result


def _variant(src: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--n", str(args.n)]
    command += ["--repeat", str(args.repeat)]
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{Path(__file__).parent}"}
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="main")
    parser.add_argument("--n", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.n, args.repeat)))
        return
    with tempfile.TemporaryDirectory() as directory:
        results = {
            f"before ({args.before})": _variant(extract_src(args.before, Path(directory)), args),
            "after": _variant(ROOT / "src", args),
        }
    print(f"{args.n} observations, GET /dashboard/api/experiments/ID, median of {args.repeat}")
    print("CPU s (wall s): changed page | second tab, same version | unchanged, with ETag")
    for name, r in results.items():
        cells = [f"{r[f'{k}_cpu']:.4f} ({r[f'{k}_wall']:.4f})" for k in WAYS]
        print(f"{name:<16} {r['bytes'] / 1e6:5.2f} MB  " + " | ".join(cells))
    before, after = results.values()
    ratios = [f"{k} {after[f'{k}_cpu'] / before[f'{k}_cpu']:.3f}" for k in WAYS]
    print("after/before CPU: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
