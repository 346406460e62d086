"""One slow experiment beside a fast one on one ``honed serve``: does the fast one still get
model points while the optimizer works on the slow one's long proposals?

A fresh ``honed serve`` (SQLite, ``--log-level info``, ``--optimizers`` as given; by default
the CLI's own default) serves two experiments at once, each driven over HTTP by its own
spawned workers with instant evaluations (``_served_arm.drive``):

- ``slow``: ``multitask.py``'s augmented Hartmann6 with three tasks (cost 0.1, 0.3, 1),
  ``--slow-workers`` workers (default 4, its ``parallel_bandwidth``): each proposal chooses
  several points one after the other, 10-35 s on a busy 2-core machine;
- ``fast``: 2-d Branin, ``--fast-workers`` workers (default 3), ``--fast-evaluations`` in
  all (default 24): a proposal takes about a second.

Every worker starts at the same signal, so the fast experiment's design is handed out while
the optimizer starts (imports torch) and takes its first work. The slow workers stop once
every fast worker is done, or at ``--seconds`` (so is every worker).

Printed per experiment: its requests by ``source`` (``engine`` the design, ``optimizer``
split into fresh and stale model points, ``fallback`` Sobol), the waits of its requests past
the design (p50, max), its fits from the optimizer's log lines (count, p50, max seconds, and
when the first one was stored, from the first request), and the server's warnings of
requests whose wait ended in Sobol ("serving a Sobol point").
The 1-minute load average at the start and end is printed too. JSON goes to
``benchmarks/results/served_fairness-<time>.json``.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/served_fairness.py
        [--optimizers N] [--slow-workers 4] [--fast-workers 3] [--fast-evaluations 24]
        [--seconds 110] [--candidate-wait S]

Run it with another checkout's ``src`` first on ``PYTHONPATH`` to measure that code (the
server is started with this process's environment).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from _quality_problems import _H6_A
from _quality_problems import _H6_ALPHA
from _quality_problems import _H6_P
from _quality_problems import PROBLEMS
from _served_arm import REQUEST_TIMEOUT
from _served_arm import drive
from _served_arm import experiment_body as plain_body
from _served_arm import fresh_server
from _served_arm import ready_then_wait
from _served_arm import reporting
from multitask import TASKS
from multitask import experiment_body as multitask_body

if TYPE_CHECKING:
    from multiprocessing.context import SpawnContext
    from multiprocessing.queues import Queue
    from multiprocessing.sharedctypes import SynchronizedArray
    from multiprocessing.synchronize import Event

RESULTS = Path(__file__).resolve().parent / "results"
FAST_PROBLEM = "branin"
#: The slow experiment's cost budget: more than the run can spend, so that it stays busy.
SLOW_BUDGET = 200
#: The shared array: [fast slots taken, slow slots taken, fast workers done].
FAST_SLOT, SLOW_SLOT, FAST_DONE = 0, 1, 2
FIT_LINE = re.compile(
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) optimizer experiment (\d+): (\d+) candidates "
    r"from (\d+) observations, (\d+) pending, in ([\d.]+)s"
)
#: The server's warning when a request's wait ends in Sobol (its line for a stale model
#: point is at info, which ``honed serve`` logs for uvicorn's loggers only).
SOBOL_LINE = re.compile(r"experiment (\d+): (.*?); serving a Sobol point")


@dataclass(frozen=True)
class Plan:
    index: int
    url: str
    token: str
    experiment_id: str
    kind: str  # "slow" or "fast"
    fast_evaluations: int
    fast_workers: int
    deadline: float  # wall clock


def _augmented_hartmann6(x: Sequence[float], fidelity: float) -> float:
    """BoTorch's AugmentedHartmann: the first alpha lowered by 0.1 * (1 - s)."""
    total = 0.0
    for i, (alpha, a_row, p_row) in enumerate(zip(_H6_ALPHA, _H6_A, _H6_P, strict=True)):
        weight = alpha - 0.1 * (1 - fidelity) if i == 0 else alpha
        inner = sum(a * (xi - p) ** 2 for a, xi, p in zip(a_row, x, p_row, strict=True))
        total -= weight * math.exp(-inner)
    return total


def _take(shared: SynchronizedArray[float], plan: Plan) -> int | None:
    with shared.get_lock():
        if time.time() > plan.deadline:
            return None
        if plan.kind == "fast":
            slot = int(shared[FAST_SLOT])
            if slot >= plan.fast_evaluations:
                return None
            shared[FAST_SLOT] = slot + 1
            return slot
        if shared[FAST_DONE] >= plan.fast_workers:
            return None
        slot = int(shared[SLOW_SLOT])
        shared[SLOW_SLOT] = slot + 1
        return slot


def worker(plan: Plan, shared: SynchronizedArray[float], messages: Queue[Any], go: Event) -> None:
    import httpx

    with reporting(plan.index, messages):
        prefix = f"/v1/experiments/{plan.experiment_id}"
        records: list[dict[str, Any]] = []
        with httpx.Client(
            base_url=plan.url, auth=(plan.token, ""), timeout=REQUEST_TIMEOUT
        ) as client:
            client.get(prefix).raise_for_status()
            ready_then_wait(plan.index, messages, go)
            while (slot := _take(shared, plan)) is not None:
                asked = time.time()
                started = time.perf_counter()
                response = client.post(prefix + "/suggestions", json={})
                seconds = time.perf_counter() - started
                response.raise_for_status()
                suggestion = response.json()
                point = suggestion["assignments"]
                if plan.kind == "fast":
                    value = PROBLEMS[FAST_PROBLEM].function(point)
                else:
                    task = suggestion.get("task") or {"name": "full"}
                    fidelity = TASKS[str(task["name"])][0]
                    value = _augmented_hartmann6(
                        [float(point[f"x{i}"]) for i in range(6)], fidelity
                    )
                client.post(
                    prefix + "/observations",
                    json={
                        "suggestion": suggestion["id"],
                        "values": [{"name": "f", "value": value}],
                    },
                ).raise_for_status()
                model = suggestion.get("model")
                records.append(
                    {
                        "kind": plan.kind,
                        "slot": slot,
                        "asked": asked,
                        "seconds": seconds,
                        "source": str(suggestion.get("source")),
                        "fresh": model.get("fresh") if isinstance(model, dict) else None,
                    }
                )
        if plan.kind == "fast":
            with shared.get_lock():
                shared[FAST_DONE] += 1
        messages.put(("result", plan.index, records))


def _shared(context: SpawnContext) -> SynchronizedArray[float]:
    return context.Array("d", 3)


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def summarize(
    records: Sequence[dict[str, Any]], log: str, ids: dict[str, str], go: float
) -> dict[str, Any]:
    fits: dict[str, list[tuple[float, float]]] = {kind: [] for kind in ids}
    by_id = {v: k for k, v in ids.items()}
    for m in FIT_LINE.finditer(log):
        kind = by_id.get(m.group(2))
        if kind is not None:
            fits[kind].append((_stamp(m.group(1)) - go, float(m.group(6))))
    sobol: Counter[str] = Counter()
    for m in SOBOL_LINE.finditer(log):
        kind = by_id.get(m.group(1))
        if kind is not None:
            sobol[kind] += 1
    out: dict[str, Any] = {}
    for kind in ids:
        mine = [r for r in records if r["kind"] == kind]
        sources: Counter[str] = Counter()
        for r in mine:
            if r["source"] == "optimizer":
                sources["optimizer fresh" if r["fresh"] else "optimizer stale"] += 1
            else:
                sources[r["source"]] += 1
        past = [r["seconds"] for r in mine if r["source"] != "engine"]
        seconds = [s for _, s in fits[kind]]
        out[kind] = {
            "requests": len(mine),
            "sources": dict(sources),
            "wait_p50": statistics.median(past) if past else None,
            "wait_max": max(past) if past else None,
            "fits": len(seconds),
            "fit_p50": statistics.median(seconds) if seconds else None,
            "fit_max": max(seconds) if seconds else None,
            "first_fit_stored_at": fits[kind][0][0] if fits[kind] else None,
            "sobol_warnings": sobol[kind],
        }
    return out


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--optimizers", type=int, default=None)
    parser.add_argument("--slow-workers", type=int, default=4)
    parser.add_argument("--fast-workers", type=int, default=3)
    parser.add_argument("--fast-evaluations", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=110.0)
    parser.add_argument("--candidate-wait", type=float, default=None)
    args = parser.parse_args(argv)
    import httpx

    extra = ["--log-level", "info"]
    if args.candidate_wait is not None:
        extra += ["--candidate-wait", str(args.candidate_wait)]
    load_start = os.getloadavg()[0]
    with fresh_server("honed-fairness-", extra_args=extra, optimizers=args.optimizers) as served:
        with httpx.Client(base_url=served.url, auth=(served.token, "")) as client:
            ids: dict[str, str] = {}
            bodies = {
                "slow": multitask_body("honed-served-multitask", SLOW_BUDGET, args.slow_workers),
                "fast": plain_body(
                    PROBLEMS[FAST_PROBLEM], args.fast_evaluations, args.fast_workers
                ),
            }
            for kind, body in bodies.items():
                created = client.post("/v1/experiments", json=body)
                created.raise_for_status()
                ids[kind] = str(created.json()["id"])
        deadline = time.time() + args.seconds
        plans = [
            Plan(
                i,
                served.url,
                served.token,
                ids[kind],
                kind,
                args.fast_evaluations,
                args.fast_workers,
                deadline,
            )
            for i, kind in enumerate(["slow"] * args.slow_workers + ["fast"] * args.fast_workers)
        ]
        records, seconds = drive(plans, worker, _shared)
        log = served.log()
    load_end = os.getloadavg()[0]
    # The start signal: the first request (the workers' spawn is not part of the run).
    summary = summarize(records, log, ids, min(r["asked"] for r in records))
    print(
        f"optimizers {args.optimizers or 'default'}, {seconds:.0f} s, load average "
        f"{load_start:.1f} -> {load_end:.1f}"
    )
    print(
        "| experiment | requests | sources | wait p50 / max past design | fits | fit p50 / "
        "max | first fit stored at | Sobol warnings |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for kind, row in summary.items():
        sources = ", ".join(f"{k} {v}" for k, v in sorted(row["sources"].items()))
        print(
            f"| {kind} | {row['requests']} | {sources} | {_figure(row['wait_p50'])} / "
            f"{_figure(row['wait_max'])} s | {row['fits']} | {_figure(row['fit_p50'])} / "
            f"{_figure(row['fit_max'])} s | {_figure(row['first_fit_stored_at'])} s | "
            f"{row['sobol_warnings']} |"
        )
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"served_fairness-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {
                "args": vars(args),
                "load": [load_start, load_end],
                "seconds": seconds,
                "summary": summary,
                "records": records,
            },
            indent=1,
        )
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
