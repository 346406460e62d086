"""Scheduler overhead: honed's Scheduler against Ax's Orchestrator, side by side, and what a
run leaves behind (bytes on disk, peak RSS).

200 trials that finish the moment they start, 10 at a time (``--trials``, ``--parallelism``),
so the wall time is the scheduler's own overhead: suggesting, deploying, polling, recording.
Both sides suggest with Sobol (no model fitting), to time the loop and not the optimizer:

- ``honed``: ``honed.Scheduler`` on an embedded SQLite file (every trial written through the
  API: suggestion create, metadata update, observation create), no optimizer process, so
  Sobol serves. Two runners: ``instant`` (an in-process runner whose trials are complete
  when first polled; it does not implement ``Runner.wait``, so the loop sleeps its poll
  interval, default options) and ``instant+wait`` (the same runner telling the loop that
  trials are done, as CallableRunner, RayRunner and DaskRunner do).
- ``callable`` and ``subprocess`` (not run by default): the shipped runners that keep files
  per trial, ``CallableRunner`` (``--parallelism`` workers) and ``SubprocessRunner``
  (``sleep S; echo <value>``), with trials of ``--trial-seconds`` (default 0.1). Their
  overhead is against the floor, trials x seconds / parallelism.
- ``ax default`` / ``ax tuned``: Ax 1.3.1's ``Orchestrator`` with a Sobol-only generation
  strategy, an in-process runner and metric whose trials complete instantly, in memory (no
  SQL storage), run by ``benchmarks/_ax_orchestrator_arm.py`` under ``benchmarks/.venv-ax``.
  ``default`` is ``OrchestratorOptions(max_pending_trials=10)``; ``tuned`` adds
  ``init_seconds_between_polls=0, min_seconds_before_poll=0, run_trials_in_batches=True``.

Each honed arm runs in a process of its own (``benchmarks/_scheduler_arm.py``), which reports
its peak RSS (the scheduler and the embedded database it serves; not the trials' workers)
and, once the scheduler is closed, the bytes (allocated, as ``du`` counts) and entries left
under the runners' work directory, and the size of the database. ``--before REV`` runs
every honed arm on that git revision's ``src/`` too, alternating with this checkout's, and
prints the two side by side.

The goal (issue 4): honed at least 10x faster than Ax's defaults and under 20 ms of
scheduler overhead per trial. Results go to benchmarks/results/scheduler_overhead.json.

Usage: .venv/bin/python benchmarks/scheduler_overhead.py [--trials 200] [--parallelism 10]
       [--arms honed,callable,subprocess,ax-default,ax-tuned] [--trial-seconds 0.1]
       [--before main]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _revisions import extract_src

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AX_PYTHON = HERE / ".venv-ax" / "bin" / "python"
AX_HELPER = HERE / "_ax_orchestrator_arm.py"
HONED_ARM = HERE / "_scheduler_arm.py"
RESULTS = HERE / "results" / "scheduler_overhead.json"
# --arms names -> the honed arms _scheduler_arm.py runs for it.
HONED_ARMS = {
    "honed": ("instant", "instant+wait"),
    "callable": ("callable",),
    "subprocess": ("subprocess",),
}


def run_honed(arm: str, src: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One honed arm in a fresh process and directory, on the code in ``src``."""
    request = {
        "arm": arm,
        "trials": args.trials,
        "parallelism": args.parallelism,
        "trial_seconds": args.trial_seconds,
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(HERE)])}
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [sys.executable, str(HONED_ARM)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=False,
            cwd=scratch,
            env=env,
        )
    if done.returncode != 0:
        raise RuntimeError(f"the honed arm {arm} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


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


def floor_seconds(arm: str, args: argparse.Namespace) -> float:
    """The wall time of the trials alone: rounds of ``parallelism`` trials back to back."""
    if arm.startswith("instant"):
        return 0.0
    rounds = -(-args.trials // args.parallelism)
    return float(rounds * args.trial_seconds)


def run_honed_arms(arms: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Every selected honed arm on this checkout's code, and on ``--before``'s if given,
    alternating which goes first so that a change in the machine's load hits both."""
    rows: dict[str, dict[str, Any]] = {}
    selected = [arm for name in arms for arm in HONED_ARMS.get(name, ())]
    with tempfile.TemporaryDirectory() as scratch:
        sources = {"": ROOT / "src"}
        if args.before:
            sources = {f" @{args.before}": extract_src(args.before, Path(scratch)), **sources}
        for index, arm in enumerate(selected):
            order = list(sources.items())
            for label, src in order if index % 2 == 0 else order[::-1]:
                print(f"running honed {arm}{label} ...", file=sys.stderr, flush=True)
                row = run_honed(arm, src, args)
                row["floor_seconds"] = floor_seconds(arm, args)
                rows[f"honed {arm}{label}"] = row
    # Listed as the arms are, before beside after.
    return {
        name: rows[name]
        for arm in selected
        for name in (f"honed {arm} @{args.before}", f"honed {arm}")
        if name in rows
    }


def print_table(rows: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.trials} trials, parallelism {args.parallelism} (Sobol on both sides); "
        f"callable and subprocess trials last {args.trial_seconds:g} s"
    )
    print(
        f"{'arm':<28}{'seconds':>9}{'ms/trial':>9}{'cpu ms/trial':>13}{'vs floor':>9}"
        f"{'RSS MB':>8}{'left on disk':>14}{'entries':>9}{'database':>10}{'x ax default':>13}"
        f"{'x ax tuned':>11}"
    )
    ax_default = rows.get("ax default", {}).get("seconds")
    ax_tuned = rows.get("ax tuned", {}).get("seconds")
    for name, row in rows.items():
        seconds = row["seconds"]
        per = 1000 * seconds / args.trials
        cpu = 1000 * row["cpu_seconds"] / args.trials
        floor = row.get("floor_seconds")
        overhead = f"{100 * (seconds - floor) / floor:+.1f}%" if floor else "-"
        rss = f"{row['peak_rss_mb']:.0f}" if "peak_rss_mb" in row else "-"
        left = f"{row['left_bytes'] / 1e6:.2f} MB" if "left_bytes" in row else "-"
        entries = str(row.get("left_entries", "-"))
        database = f"{row['database_bytes'] / 1e6:.1f} MB" if "database_bytes" in row else "-"
        vs_default = f"{ax_default / seconds:.1f}" if ax_default else "-"
        vs_tuned = f"{ax_tuned / seconds:.1f}" if ax_tuned else "-"
        print(
            f"{name:<28}{seconds:>9.2f}{per:>9.1f}{cpu:>13.1f}{overhead:>9}{rss:>8}"
            f"{left:>14}{entries:>9}{database:>10}{vs_default:>13}{vs_tuned:>11}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--parallelism", type=int, default=10)
    parser.add_argument("--arms", default="honed,ax-default,ax-tuned")
    parser.add_argument("--trial-seconds", type=float, default=0.1)
    parser.add_argument("--before", help="a git revision to run the honed arms on as well")
    args = parser.parse_args()
    logging.getLogger("honed.scheduler").setLevel(logging.WARNING)
    arms = args.arms.split(",")
    unknown = set(arms) - set(HONED_ARMS) - {"ax-default", "ax-tuned"}
    if unknown:
        parser.error(f"unknown arms {sorted(unknown)}")
    rows = run_honed_arms(arms, args)
    for variant in ("default", "tuned"):
        if f"ax-{variant}" in arms:
            print(f"running ax {variant} ...", file=sys.stderr, flush=True)
            rows[f"ax {variant}"] = run_ax(args.trials, args.parallelism, variant)
    print_table(rows, args)
    honed = rows.get("honed instant")
    if honed:
        per = 1000 * honed["seconds"] / args.trials
        print(f"\ngoal: < 20 ms/trial with default options: {'met' if per < 20 else 'NOT met'}")
        ax_default = rows.get("ax default", {}).get("seconds")
        if ax_default:
            ratio = ax_default / honed["seconds"]
            print(f"goal: >= 10x faster than Ax defaults: {'met' if ratio >= 10 else 'NOT met'}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
