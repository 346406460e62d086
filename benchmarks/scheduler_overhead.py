"""Scheduler overhead: honed's Scheduler against Ax's Orchestrator, side by side.

200 trials that finish the moment they start, 10 at a time (``--trials``, ``--parallelism``),
so the wall time is the scheduler's own overhead: suggesting, deploying, polling, recording.
Both sides suggest with Sobol (no model fitting), to time the loop and not the optimizer:

- ``honed``: ``honed.Scheduler`` on an embedded SQLite file (every trial written through the
  API: suggestion create, metadata update, observation create), no optimizer process, so
  Sobol serves. Two runners: ``instant`` (an in-process runner whose trials are complete
  when first polled; it does not implement ``Runner.wait``, so the loop sleeps its poll
  interval, default options) and ``instant+wait`` (the same runner telling the loop that
  trials are done, as CallableRunner, RayRunner and DaskRunner do).
- ``ax default`` / ``ax tuned``: Ax 1.3.1's ``Orchestrator`` with a Sobol-only generation
  strategy, an in-process runner and metric whose trials complete instantly, in memory (no
  SQL storage), run by ``benchmarks/_ax_orchestrator_arm.py`` under ``benchmarks/.venv-ax``.
  ``default`` is ``OrchestratorOptions(max_pending_trials=10)``; ``tuned`` adds
  ``init_seconds_between_polls=0, min_seconds_before_poll=0, run_trials_in_batches=True``.

The goal (issue 4): honed at least 10x faster than Ax's defaults and under 20 ms of
scheduler overhead per trial. Results go to benchmarks/results/scheduler_overhead.json.

Usage: .venv/bin/python benchmarks/scheduler_overhead.py [--trials 200] [--parallelism 10]
       [--arms honed,ax-default,ax-tuned]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honed.client import Client
from honed.scheduler import Poll
from honed.scheduler import PollStatus
from honed.scheduler import Runner
from honed.scheduler import Scheduler
from honed.scheduler import SchedulerOptions
from honed.scheduler import TrialSpec

HERE = Path(__file__).resolve().parent
AX_PYTHON = HERE / ".venv-ax" / "bin" / "python"
AX_HELPER = HERE / "_ax_orchestrator_arm.py"
RESULTS = HERE / "results" / "scheduler_overhead.json"

EXPERIMENT = {
    "name": "scheduler overhead",
    "parameters": [
        {"name": "x1", "type": "double", "bounds": {"min": -5, "max": 10}},
        {"name": "x2", "type": "double", "bounds": {"min": 0, "max": 15}},
    ],
    "metrics": [{"name": "f", "objective": "minimize"}],
}


class InstantRunner(Runner):
    """Trials are complete when first polled; ``wakes`` makes ``wait`` say so at once."""

    def __init__(self, wakes: bool) -> None:
        self.wakes = wakes
        self.unpolled = 0

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        self.unpolled += 1
        return {}

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        self.unpolled = 0
        return {t.id: Poll(PollStatus.COMPLETED) for t in trials}

    def fetch(self, trial: TrialSpec) -> float:
        x1, x2 = trial.assignments["x1"], trial.assignments["x2"]
        return float((x2 - 0.129 * x1**2 + 1.59 * x1 - 6) ** 2 + 9.6 * (x1 > 0) + 10)

    def stop(self, trial: TrialSpec, reason: str) -> None:
        pass

    def wait(self, timeout: float) -> bool:
        return self.wakes and self.unpolled > 0


def run_honed(trials: int, parallelism: int, wakes: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Client(str(Path(tmp) / "honed.db")) as client:
        options = SchedulerOptions(total_trials=trials, max_pending_trials=parallelism)
        scheduler = Scheduler(EXPERIMENT, InstantRunner(wakes), options, client)
        start, cpu = time.perf_counter(), time.process_time()
        result = scheduler.run_all_trials()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        sources = {s.source for s in client.list_suggestions(scheduler.experiment.id)}
    if result.completed != trials:
        raise RuntimeError(f"honed completed {result.completed} of {trials} trials: {result}")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "completed": result.completed,
        "sources": sorted(map(str, sources)),
    }


def run_ax(trials: int, parallelism: int, variant: str) -> dict[str, Any]:
    if not AX_PYTHON.exists():
        raise SystemExit(
            f"{AX_PYTHON} is missing: python3 -m venv {HERE / '.venv-ax'} && "
            f"{AX_PYTHON.parent / 'pip'} install torch==2.13.0 && "
            f"{AX_PYTHON.parent / 'pip'} install ax-platform==1.3.1"
        )
    request = json.dumps({"trials": trials, "parallelism": parallelism, "variant": variant})
    done = subprocess.run(
        [str(AX_PYTHON), str(AX_HELPER)],
        input=request,
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Ax arm failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=10)
    parser.add_argument("--arms", default="honed,ax-default,ax-tuned")
    args = parser.parse_args()
    logging.getLogger("honed.scheduler").setLevel(logging.WARNING)
    arms = args.arms.split(",")
    rows: dict[str, dict[str, Any]] = {}
    if "honed" in arms:
        rows["honed instant"] = run_honed(args.trials, args.parallelism, wakes=False)
        rows["honed instant+wait"] = run_honed(args.trials, args.parallelism, wakes=True)
    for variant in ("default", "tuned"):
        if f"ax-{variant}" in arms:
            print(f"running ax {variant} ...", file=sys.stderr, flush=True)
            rows[f"ax {variant}"] = run_ax(args.trials, args.parallelism, variant)

    print(f"\n{args.trials} instant trials, parallelism {args.parallelism} (Sobol on both sides)")
    print(
        f"{'arm':<22}{'seconds':>10}{'ms/trial':>10}{'cpu ms/trial':>14}"
        f"{'x vs ax default':>17}{'x vs ax tuned':>15}"
    )
    ax_default = rows.get("ax default", {}).get("seconds")
    ax_tuned = rows.get("ax tuned", {}).get("seconds")
    for name, row in rows.items():
        seconds = row["seconds"]
        per = 1000 * seconds / args.trials
        vs_default = f"{ax_default / seconds:.1f}" if ax_default else "-"
        vs_tuned = f"{ax_tuned / seconds:.1f}" if ax_tuned else "-"
        cpu = 1000 * row["cpu_seconds"] / args.trials
        print(f"{name:<22}{seconds:>10.2f}{per:>10.1f}{cpu:>14.1f}{vs_default:>17}{vs_tuned:>15}")
    honed = rows.get("honed instant")
    if honed:
        per = 1000 * honed["seconds"] / args.trials
        print(f"\ngoal: < 20 ms/trial with default options: {'met' if per < 20 else 'NOT met'}")
        if ax_default:
            ratio = ax_default / honed["seconds"]
            print(f"goal: >= 10x faster than Ax defaults: {'met' if ratio >= 10 else 'NOT met'}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
