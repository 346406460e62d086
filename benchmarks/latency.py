"""Suggestion latency over HTTP with the optimizer serving, beside Ax's time per candidate.

For every cell (n existing observations, d double parameters in [0, 1], w workers) a fresh
``honed serve`` runs on a fresh SQLite file with one optimizer process. The experiment
(objective: Hartmann6 on the first six parameters, minimized; the other d - 6 parameters are
ignored; Hartmann3 on the first three when d < 6; ``parallel_bandwidth`` = w) is seeded
with n uniformly random observations through ``POST /v1/experiments/{id}/observations/batch``.
The script then waits until the optimizer has caught up: it reads the optimizer's status from
the database (``Storage.optimizer_status``) until a fit on all n observations has stored
candidates (when n is past the initial design).
Then w worker processes, each with one keep-alive ``httpx.Client`` (HTTP Basic auth, the token
as user name), repeat a fixed number of times: create a suggestion (timed), "evaluate" it by
sleeping ``--eval-seconds`` (0.2 s by default: a short job, so that the optimizer has to keep
up with 5 suggestions per second per worker), and report the observation. A thread samples the
optimizer's status every 0.2 s, which gives the share of time a candidate was ready and the
duration of the fits that ran during the window.

Each suggestion carries honed's ``source`` field: ``optimizer`` (a ready GP candidate),
``fallback`` (Sobol, because no candidate came within ``--candidate-wait``) or ``engine``
(the initial design: the first d/2 observations, 5 to 10). A fast answer is only a
success when it is an ``optimizer`` one, so the table shows the share of each. A second
table shows p50 per source and, where the server reports honed's ``model`` extension on
optimizer points (``{"observations", "candidate": "batch"|"pool", "unaccounted", "fresh"}``),
the share of fresh ones, their p50 against the stale ones', the share from the batch and the
pool, and the share of all points past the initial design that are fresh model points.

``--mode`` picks the defaults of --n, --d, --workers, --eval-seconds and --ax: ``grid`` (the
default, the grid below, judged on the issue's 8-worker goal), ``sequential`` (n=10, d=3,6,
one worker, 2 s evaluations, no Ax: judged on p50 < 20 ms and >= 90% of the points past the
design fresh model points) and ``instant`` (the same with instant evaluations: p50 printed
beside the optimizer's median fit time).

Ax 1.3.1 (its own venv, ``benchmarks/.venv-ax``) gets the same n points and values: a
``Client`` with the same parameters, n trials attached and completed, then
``get_next_trials(max_trials=1)`` timed ``--ax-reps`` times once its generation strategy
has reached the model ("MBM"); each candidate is completed before the next is asked for. One
Ax process per d handles the cells in increasing n; a cell that takes longer than
``--ax-timeout`` ends that process and the larger cells are reported as skipped. Ax skips
n=2000 unless ``--ax-n`` asks for it: attaching 2,000 trials took 81 s and one candidate at
d=20 326 s on this machine.

Usage: .venv/bin/python benchmarks/latency.py [--mode grid|sequential|instant]
       [--n 10,100,500,2000] [--d 6,20] [--workers 1,8] [--requests 20]
       [--eval-seconds 0.2] [--candidate-wait SECONDS] [--ax-n 10,100,500] [--ax-reps 2]
       [--ax-timeout 240] [--ax | --no-ax] [--profile DIR]

The scale cells are options, not defaults: ``--n 5000 --d 6,50 --no-ax`` (past 800
observations the model trains on a subset, see honed.engine.botorch.data).

Results are printed as a table and written to benchmarks/results/latency.json. The module
imports only the standard library at the top: the Ax venv runs ``ax_main`` from it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing
import os
import platform
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

    import httpx

    from honed.storage.sql.storage import SqlStorage

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results" / "latency.json"
AX_PYTHON = BENCHMARKS / ".venv-ax" / "bin" / "python"
PY_SPY = ROOT / ".venv" / "bin" / "py-spy"
TOKEN = "bench-token"
SEED = 20261123
BATCH_LIMIT = 2500
REQUEST_TIMEOUT = 120.0
READY_TIMEOUT = 120.0
MONITOR_SECONDS = 0.2
#: Ax's candidate at n=2000, d=20 took 326 s here (load 4-5 on 2 cores): not by default.
AX_DEFAULT_MAX_N = 500
AX_EXTRA_ASKS = 6  # asks allowed before Ax's strategy reaches its model (centre, Sobol)
GOAL_P50_MS = 50.0
GOAL_P95_MS = 500.0
GOAL_MAX_N = 500
GOAL_WORKERS = 8
#: "Quality holds" here: at most this share of the suggestions past the initial design are
#: Sobol fallbacks (the rest are GP candidates).
GOAL_MAX_FALLBACK = 0.10
#: --mode sequential (one worker, slow evaluations, few observations): suggestion p50 under
#: this, and at least this share of the points past the initial design fresh model points
#: (an optimizer point whose ``model.fresh`` is true: fitted on every observation so far).
GOAL_SEQUENTIAL_P50_MS = 20.0
GOAL_SEQUENTIAL_FRESH = 0.90
#: The defaults of --n, --d, --workers, --eval-seconds and --ax per --mode.
MODES: dict[str, dict[str, Any]] = {
    "grid": {"n": [10, 100, 500, 2000], "d": [6, 20], "workers": [1, 8], "eval": 0.2, "ax": True},
    "sequential": {"n": [10], "d": [3, 6], "workers": [1], "eval": 2.0, "ax": False},
    "instant": {"n": [10], "d": [3, 6], "workers": [1], "eval": 0.0, "ax": False},
}

# Hartmann6 (minimum -3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)).
HARTMANN_ALPHA = (1.0, 1.2, 3.0, 3.2)
HARTMANN_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
HARTMANN_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)
# Hartmann3, for d = 3 to 5 (minimum -3.86278 at (0.114614, 0.555649, 0.852547)).
HARTMANN3_A = ((3.0, 10.0, 30.0), (0.1, 10.0, 35.0), (3.0, 10.0, 30.0), (0.1, 10.0, 35.0))
HARTMANN3_P = (
    (0.3689, 0.1170, 0.2673),
    (0.4699, 0.4387, 0.7470),
    (0.1091, 0.8732, 0.5547),
    (0.0381, 0.5743, 0.8828),
)


# --- shared by both venvs: the problem ------------------------------------------------------


def _hartmann(
    x: Sequence[float], a_rows: Sequence[Sequence[float]], p_rows: Sequence[Sequence[float]]
) -> float:
    """A Hartmann function on the first len(a_rows[0]) coordinates (the rest are ignored)."""
    dims = len(a_rows[0])
    total = 0.0
    for alpha, a, p in zip(HARTMANN_ALPHA, a_rows, p_rows, strict=True):
        inner = sum(aj * (xj - pj) ** 2 for aj, xj, pj in zip(a, x[:dims], p, strict=True))
        total -= alpha * math.exp(-inner)
    return total


def hartmann6(x: Sequence[float]) -> float:
    return _hartmann(x, HARTMANN_A, HARTMANN_P)


def hartmann3(x: Sequence[float]) -> float:
    return _hartmann(x, HARTMANN3_A, HARTMANN3_P)


def objective(x: Sequence[float]) -> float:
    """Hartmann6 from six parameters on, Hartmann3 below (d >= 3)."""
    return hartmann6(x) if len(x) >= 6 else hartmann3(x)


def names(d: int) -> list[str]:
    return [f"x{i + 1}" for i in range(d)]


def vector(assignments: dict[str, Any], d: int) -> list[float]:
    return [float(assignments[name]) for name in names(d)]


def seed_points(n: int, d: int) -> list[list[float]]:
    """The same n uniform points for honed and Ax (a seeded stdlib generator)."""
    rng = random.Random(SEED + 10_000 * d + n)
    return [[rng.random() for _ in range(d)] for _ in range(n)]


# --- the Ax side (runs with benchmarks/.venv-ax/bin/python) --------------------------------


def ax_main() -> None:
    """Read ``{"cells": [[n, d], ...], "reps": k}`` from stdin; print one JSON line per event."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    started = time.perf_counter()
    import ax  # type: ignore[import-not-found, unused-ignore]
    from ax.api.client import Client  # type: ignore[import-not-found, unused-ignore]
    from ax.api.configs import RangeParameterConfig  # type: ignore[import-not-found, unused-ignore]

    plan = json.loads(sys.stdin.read())
    _emit({"event": "imported", "seconds": time.perf_counter() - started, "ax": ax.__version__})
    for n, d in plan["cells"]:
        client = Client(random_seed=SEED)
        client.configure_experiment(
            parameters=[
                RangeParameterConfig(name=name, bounds=(0.0, 1.0), parameter_type="float")
                for name in names(d)
            ],
            name=f"latency-{n}-{d}",
        )
        client.configure_optimization(objective="-f")
        begun = time.perf_counter()
        for point in seed_points(n, d):
            index = client.attach_trial(parameters=dict(zip(names(d), point, strict=True)))
            client.complete_trial(trial_index=index, raw_data={"f": objective(point)})
        attach_seconds = time.perf_counter() - begun
        _emit({"event": "attached", "n": n, "d": d, "attach_seconds": attach_seconds})
        asks: list[dict[str, Any]] = []
        while sum(a["node"] == "MBM" for a in asks) < plan["reps"]:
            if len(asks) >= plan["reps"] + AX_EXTRA_ASKS:
                break
            begun = time.perf_counter()
            trials = client.get_next_trials(max_trials=1)
            seconds = time.perf_counter() - begun
            index, parameters = next(iter(trials.items()))
            runs = client._experiment.trials[index].generator_runs
            node = str(getattr(runs[0], "_generation_node_name", "") if runs else "")
            asks.append({"seconds": seconds, "node": node})
            value = objective(vector(dict(parameters), d))
            client.complete_trial(trial_index=index, raw_data={"f": value})
        _emit({"event": "cell", "n": n, "d": d, "attach_seconds": attach_seconds, "asks": asks})


def _emit(event: dict[str, Any]) -> None:
    print(json.dumps(event), flush=True)


# --- the worker side (spawned processes of the main venv) ----------------------------------


@dataclass(frozen=True)
class WorkerPlan:
    index: int
    url: str
    token: str
    experiment_id: str
    d: int
    requests: int
    eval_seconds: float


def worker_main(plan: WorkerPlan, messages: Queue[Any], go: Event) -> None:
    """Connect, say ready, wait for the start, run the loop, send the records."""
    import httpx

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    try:
        records: list[dict[str, Any]] = []
        errors: list[str] = []
        prefix = f"/v1/experiments/{plan.experiment_id}"
        with httpx.Client(
            base_url=plan.url, auth=(plan.token, ""), timeout=REQUEST_TIMEOUT
        ) as client:
            client.get(prefix).raise_for_status()  # open the connection before the clock
            messages.put(("ready", plan.index, None))
            go.wait(READY_TIMEOUT)
            for _ in range(plan.requests):
                started = time.perf_counter()
                response = client.post(prefix + "/suggestions", json={})
                seconds = time.perf_counter() - started
                if response.status_code != 200:
                    errors.append(f"suggestion HTTP {response.status_code}: {response.text}")
                    time.sleep(0.05)
                    continue
                suggestion = response.json()
                value = objective(vector(suggestion["assignments"], plan.d))
                if plan.eval_seconds > 0:
                    time.sleep(plan.eval_seconds)
                began = time.perf_counter()
                observed = client.post(
                    prefix + "/observations",
                    json={"suggestion": suggestion["id"], "values": [{"value": value}]},
                )
                observe_seconds = time.perf_counter() - began
                if observed.status_code != 200:
                    errors.append(f"observation HTTP {observed.status_code}: {observed.text}")
                records.append(
                    {
                        "seconds": seconds,
                        "source": suggestion.get("source", "unknown"),
                        # honed's extension (absent from servers without it): the model
                        # behind an optimizer point, {"observations", "candidate",
                        # "unaccounted", "fresh"}, or None.
                        "model": suggestion.get("model"),
                        "observe_seconds": observe_seconds,
                        "value": value,
                    }
                )
        messages.put(("result", plan.index, {"records": records, "errors": errors[:5]}))
    except BaseException:
        messages.put(("failed", plan.index, traceback.format_exc()))


def run_workers(plans: Sequence[WorkerPlan]) -> list[dict[str, Any]]:
    ctx = multiprocessing.get_context("spawn")
    messages: Queue[Any] = ctx.Queue()
    go = ctx.Event()
    processes = [
        ctx.Process(target=worker_main, args=(plan, messages, go), daemon=True) for plan in plans
    ]
    try:
        for process in processes:
            process.start()
        _collect(messages, "ready", len(plans), READY_TIMEOUT)
        go.set()
        budget = max(p.requests for p in plans) * (REQUEST_TIMEOUT + 1.0)
        results = _collect(messages, "result", len(plans), budget)
        for process in processes:
            process.join(timeout=10)
        return results
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        messages.close()


def _collect(messages: Queue[Any], kind: str, count: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while len(found) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"workers: {len(found)}/{count} {kind} after {timeout:.0f}s")
        try:
            message, index, payload = messages.get(timeout=remaining)
        except queue.Empty:
            continue
        if message == "failed":
            raise RuntimeError(f"worker {index} failed:\n{payload}")
        if message == kind:
            found.append(payload)
    return found


# --- the parent side: one honed cell --------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linearly interpolated percentile (q in 0..100, numpy's default); None when empty."""
    return float(np.percentile(values, q)) if len(values) else None


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def latency_stats(values: Sequence[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p95_ms": ms(percentile(values, 95)),
        "max_ms": ms(max(values)) if values else None,
    }


class OptimizerMonitor:
    """Samples the optimizer's status of one experiment from the database in a thread."""

    def __init__(self, storage: SqlStorage, experiment_id: int) -> None:
        self._storage = storage
        self._experiment_id = experiment_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.samples: list[tuple[float, int, float | None, float | None, int]] = []

    def __enter__(self) -> OptimizerMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = self._storage.optimizer_status(self._experiment_id)
                self.samples.append(
                    (
                        time.time(),
                        status.ready_candidates,
                        status.fitted_at,
                        status.fit_seconds,
                        status.fitted_count,
                    )
                )
            except Exception:  # a locked database now and then: skip the sample
                pass
            self._stop.wait(MONITOR_SECONDS)

    def summary(self, started_at: float) -> dict[str, Any]:
        fits: dict[float, tuple[float | None, int]] = {}
        for _, _, fitted_at, fit_seconds, fitted_count in self.samples:
            if fitted_at is not None and fitted_at >= started_at:
                fits[fitted_at] = (fit_seconds, fitted_count)
        durations = [s for s, _ in fits.values() if s is not None]
        ready = [r for _, r, _, _, _ in self.samples]
        return {
            "samples": len(ready),
            "ready_share": sum(r > 0 for r in ready) / len(ready) if ready else None,
            "fits": len(fits),
            "fit_seconds_median": statistics.median(durations) if durations else None,
            "fit_seconds_max": max(durations) if durations else None,
            "fitted_counts": sorted(c for _, c in fits.values()),
        }


@contextmanager
def profiling(
    directory: Path | None, label: str, pids: dict[str, int]
) -> Iterator[dict[str, Path]]:
    """py-spy record (wall clock, idle included) on each pid while the block runs."""
    if directory is None:
        yield {}
        return
    directory.mkdir(parents=True, exist_ok=True)
    outputs = {role: directory / f"{label}-{role}.txt" for role in pids}
    recorders = [
        subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--pid",
                str(pid),
                "--rate",
                "100",
                "--idle",
                "--format",
                "raw",
                "--output",
                str(outputs[role]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for role, pid in pids.items()
    ]
    try:
        yield outputs
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            try:
                recorder.wait(timeout=20)
            except subprocess.TimeoutExpired:
                recorder.kill()


#: Per profiled process: the frame that marks the work of interest, and the frames to show
#: (any honed frame, plus these library ones).
PROFILE_ROOTS = {"api": "create_suggestion (honed/", "optimizer": "OptimizerLoop.fit ("}
PROFILE_FRAMES = (
    "honed/",
    "fit_gpytorch_mll (",
    "_optimize_acqf_sequential_q (",
    "gen_batch_initial_conditions (",
    "gen_candidates_scipy (",
    "time.sleep",
    "do_execute (",
)


def profile_summary(path: Path, role: str, top: int = 8) -> list[tuple[str, float]]:
    """Inclusive share of the samples under the role's root frame, per frame of interest."""
    if not path.exists():
        return []
    root = PROFILE_ROOTS[role]
    counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        frames = stack.split(";")  # outermost first
        at = next((i for i, f in enumerate(frames) if root in f), None)
        if not number.isdigit() or at is None:
            continue
        total += int(number)
        for frame in set(frames[at + 1 :]):
            if any(k in frame for k in PROFILE_FRAMES):
                counts[frame] += int(number)
    return [(frame, count / total) for frame, count in counts.most_common(top)] if total else []


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0.0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def create_experiment(client: httpx.Client, d: int, workers: int) -> str:
    response = client.post(
        "/v1/experiments",
        json={
            "name": f"latency d={d}",
            "parameters": [
                {"name": name, "type": "double", "bounds": {"min": 0.0, "max": 1.0}}
                for name in names(d)
            ],
            "metrics": [{"name": "hartmann6" if d >= 6 else "hartmann3", "objective": "minimize"}],
            "parallel_bandwidth": workers,
        },
    )
    response.raise_for_status()
    return str(response.json()["id"])


def seed(client: httpx.Client, experiment_id: str, n: int, d: int) -> None:
    points = seed_points(n, d)
    for start in range(0, n, BATCH_LIMIT):
        chunk = points[start : start + BATCH_LIMIT]
        response = client.post(
            f"/v1/experiments/{experiment_id}/observations/batch",
            json={
                "observations": [
                    {
                        "assignments": dict(zip(names(d), point, strict=True)),
                        "values": [{"value": objective(point)}],
                    }
                    for point in chunk
                ]
            },
        )
        response.raise_for_status()


def catch_up(storage: SqlStorage, experiment_id: int, n: int, timeout: float) -> dict[str, Any]:
    """Wait for a live optimizer and, past the initial design, for candidates fitted on n."""
    from honed.engine.design import initial_design_size

    began = time.monotonic()
    deadline = began + timeout
    design = initial_design_size(storage.get_experiment(experiment_id).spec)
    alive = fitted = False
    status = None
    while time.monotonic() < deadline:
        alive = alive or storage.live_optimizers(10.0) > 0
        status = storage.optimizer_status(experiment_id)
        fitted = n < design or (status.fitted_count >= n and status.ready_candidates > 0)
        if (alive and fitted) or status.error:
            break
        time.sleep(0.25)
    return {
        "seconds": round(time.monotonic() - began, 2),
        "caught_up": alive and fitted,
        "initial_design": design,
        "fit_seconds": status.fit_seconds if status and n >= design else None,
        "ready_candidates": status.ready_candidates if status else None,
        "error": status.error if status else None,
    }


def run_cell(n: int, d: int, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    import httpx
    from tests.support.server import running_server

    from honed.storage.sql.storage import SqlStorage

    label = f"n{n}-d{d}-w{workers}"
    cell: dict[str, Any] = {"n": n, "d": d, "workers": workers, "load_before": os.getloadavg()}
    wall = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="honed-latency-") as tmp:
        url = f"sqlite:///{tmp}/latency.db"
        with running_server(
            url, token=TOKEN, optimizers=1, candidate_wait=args.candidate_wait
        ) as server:
            storage = SqlStorage.from_url(url, migrate=False)
            try:
                with httpx.Client(
                    base_url=server.url, auth=(TOKEN, ""), timeout=REQUEST_TIMEOUT
                ) as client:
                    experiment_id = create_experiment(client, d, workers)
                    began = time.monotonic()
                    seed(client, experiment_id, n, d)
                    cell["seed_seconds"] = round(time.monotonic() - began, 2)
                cell["catch_up"] = catch_up(storage, int(experiment_id), n, args.catch_up_timeout)
                plans = [
                    WorkerPlan(i, server.url, TOKEN, experiment_id, d, args.requests, args.eval)
                    for i in range(workers)
                ]
                pids = {"api": server.process.pid}
                for pid in _children(server.process.pid)[:1]:
                    pids["optimizer"] = pid
                window_start = time.time()
                cpu_before = {role: cpu_seconds(pid) for role, pid in pids.items()}
                with (
                    OptimizerMonitor(storage, int(experiment_id)) as monitor,
                    profiling(args.profile, label, pids) as profiles,
                ):
                    began = time.monotonic()
                    results = run_workers(plans)
                    window = time.monotonic() - began
                    cell["measure_seconds"] = round(window, 2)
                # CPU used in the window as a share of one core: the API's includes its
                # polling while requests wait for candidates.
                cell["cpu_share"] = {
                    role: round((cpu_seconds(pid) - cpu_before[role]) / window, 2)
                    for role, pid in pids.items()
                }
                cell["optimizer"] = monitor.summary(window_start)
            finally:
                storage.close()
    records = [r for result in results for r in result["records"]]
    cell.update(summarize(records))
    cell["errors"] = [e for result in results for e in result["errors"]][:5]
    cell["profiles"] = {
        role: {"path": str(path), "top": profile_summary(path, role)}
        for role, path in profiles.items()
    }
    cell["load_after"] = os.getloadavg()
    cell["wall_seconds"] = round(time.monotonic() - wall, 1)
    return cell


def _fresh(record: dict[str, Any]) -> bool:
    model = record.get("model")
    return (
        record["source"] == "optimizer" and isinstance(model, dict) and model.get("fresh") is True
    )


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    sources = Counter(str(r["source"]) for r in records)
    total = len(records)
    # Among optimizer points, those whose suggestion carries `model` (a server that does
    # not report it leaves the freshness figures None).
    reported = [
        r for r in records if r["source"] == "optimizer" and isinstance(r.get("model"), dict)
    ]
    candidates = Counter(str(r["model"].get("candidate")) for r in reported)
    past_design = [r for r in records if r["source"] != "engine"]
    return {
        "suggestion": latency_stats([r["seconds"] for r in records]),
        "observation": latency_stats([r["observe_seconds"] for r in records]),
        "sources": dict(sources),
        "source_share": {k: v / total for k, v in sources.items()} if total else {},
        "by_source": {
            source: latency_stats([r["seconds"] for r in records if r["source"] == source])
            for source in sorted(sources)
        },
        "model_reported": len(reported),
        "fresh_share": (sum(map(_fresh, reported)) / len(reported) if reported else None),
        "candidate_share": (
            {k: v / len(reported) for k, v in sorted(candidates.items())} if reported else {}
        ),
        "by_freshness": {
            "fresh": latency_stats([r["seconds"] for r in reported if _fresh(r)]),
            "stale": latency_stats([r["seconds"] for r in reported if not _fresh(r)]),
        },
        # The share of the points past the initial design (optimizer and fallback ones)
        # that are fresh optimizer points.
        "past_design": len(past_design),
        "fresh_past_design_share": (
            sum(map(_fresh, past_design)) / len(past_design) if reported and past_design else None
        ),
        "best_value": min((r["value"] for r in records), default=None),
    }


# --- the parent side: Ax ---------------------------------------------------------------------


def run_ax(cells: Sequence[tuple[int, int]], reps: int, timeout: float) -> dict[str, Any]:
    """One Ax process per d, cells in increasing n; a slow cell ends that process."""
    out: dict[str, Any] = {"cells": {}, "version": None, "import_seconds": []}
    if not AX_PYTHON.exists():
        out["error"] = f"{AX_PYTHON} not found"
        return out
    for d in sorted({d for _, d in cells}):
        todo = sorted(n for n, dd in cells if dd == d)
        code = (
            f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r}); "
            "import latency; latency.ax_main()"
        )
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(
                [str(AX_PYTHON), "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            assert process.stdin is not None
            assert process.stdout is not None
            process.stdin.write(json.dumps({"cells": [[n, d] for n in todo], "reps": reps}))
            process.stdin.close()
            lines: queue.Queue[str | None] = queue.Queue()
            stdout = process.stdout

            def read(stream: Any = stdout, sink: queue.Queue[str | None] = lines) -> None:
                for line in stream:
                    sink.put(line)
                sink.put(None)

            threading.Thread(target=read, daemon=True).start()
            pending = list(todo)
            deadline = time.monotonic() + timeout + 60.0  # the import first
            cell_started = time.monotonic()
            while pending:
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    line = "timeout"
                if line is None or line == "timeout":
                    process.kill()
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-1500:]
                    for n in pending:
                        elapsed = time.monotonic() - cell_started
                        reason = (
                            f"skipped: n={pending[0]} took over {elapsed:.0f}s"
                            if line == "timeout"
                            else f"Ax process ended: {tail}"
                        )
                        out["cells"][f"{n},{d}"] = {"n": n, "d": d, "skipped": reason}
                    break
                event = json.loads(line)
                if event["event"] == "imported":
                    out["version"] = event["ax"]
                    out["import_seconds"].append(round(event["seconds"], 1))
                    deadline = time.monotonic() + timeout
                    cell_started = time.monotonic()
                elif event["event"] == "cell":
                    model = [a["seconds"] for a in event["asks"] if a["node"] == "MBM"]
                    out["cells"][f"{event['n']},{d}"] = {
                        "n": event["n"],
                        "d": d,
                        "attach_seconds": round(event["attach_seconds"], 2),
                        "asks": event["asks"],
                        "median_seconds": statistics.median(model) if model else None,
                        "cell_seconds": round(time.monotonic() - cell_started, 1),
                    }
                    pending.remove(event["n"])
                    deadline = time.monotonic() + timeout
                    cell_started = time.monotonic()
            process.wait(timeout=30)
    return out


# --- report ----------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(cells: Sequence[dict[str, Any]], ax: dict[str, Any]) -> None:
    header = (
        f"{'n':>5} {'d':>3} {'w':>2} {'p50 ms':>8} {'p95 ms':>8} {'opt/fb/eng %':>13} "
        f"{'ready%':>6} {'fits':>4} {'fit s':>6} {'Ax s/cand':>9} {'Ax/p50':>7}"
    )
    print(header)
    print("-" * len(header))
    for cell in cells:
        if "failed" in cell:
            print(f"{cell['n']:>5} {cell['d']:>3} {cell['workers']:>2}  failed: {cell['failed']}")
            continue
        share = cell["source_share"]
        sources = "/".join(
            f"{100 * share.get(k, 0.0):.0f}" for k in ("optimizer", "fallback", "engine")
        )
        p50 = cell["suggestion"]["p50_ms"]
        opt = cell["optimizer"]
        ready = opt["ready_share"]
        ax_cell = ax.get("cells", {}).get(f"{cell['n']},{cell['d']}", {})
        ax_s = ax_cell.get("median_seconds")
        ratio = ax_s * 1000 / p50 if ax_s is not None and p50 else None
        ax_text = _fmt(ax_s, 2) if ax_s is not None else ("skip" if ax_cell else "-")
        print(
            f"{cell['n']:>5} {cell['d']:>3} {cell['workers']:>2} {_fmt(p50):>8} "
            f"{_fmt(cell['suggestion']['p95_ms']):>8} {sources:>13} "
            f"{_fmt(None if ready is None else 100 * ready, 0):>6} {opt['fits']:>4} "
            f"{_fmt(opt['fit_seconds_median'], 2):>6} {ax_text:>9} {_fmt(ratio, 0):>7}"
        )


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}"


def print_freshness(cells: Sequence[dict[str, Any]]) -> None:
    """p50 per source and per fresh/stale optimizer point; among optimizer points that
    report ``model``, the fresh share and the share from the batch and from the pool."""
    header = (
        f"{'n':>5} {'d':>3} {'w':>2} {'opt p50':>8} {'fb p50':>7} {'eng p50':>8} "
        f"{'fresh%':>6} {'fresh p50':>9} {'stale p50':>9} {'batch/pool %':>12} "
        f"{'fresh past design %':>19}"
    )
    print("Per source and freshness (p50 in ms; freshness only where the server reports it)")
    print(header)
    print("-" * len(header))
    for cell in cells:
        if "failed" in cell:
            continue
        by_source = cell["by_source"]

        def p50(source: str, table: dict[str, Any] = by_source) -> str:
            return _fmt(table.get(source, {}).get("p50_ms"))

        share = cell["candidate_share"]
        candidates = f"{_pct(share.get('batch'))}/{_pct(share.get('pool'))}" if share else "-"
        print(
            f"{cell['n']:>5} {cell['d']:>3} {cell['workers']:>2} {p50('optimizer'):>8} "
            f"{p50('fallback'):>7} {p50('engine'):>8} {_pct(cell['fresh_share']):>6} "
            f"{p50('fresh', cell['by_freshness']):>9} {p50('stale', cell['by_freshness']):>9} "
            f"{candidates:>12} {_pct(cell['fresh_past_design_share']):>19}"
        )
    if not any(c.get("model_reported") for c in cells if "failed" not in c):
        print("(this server reports no `model` on its suggestions: freshness unknown)")


def sequential_verdict(cells: Sequence[dict[str, Any]]) -> list[str]:
    """One worker: p50 < GOAL_SEQUENTIAL_P50_MS and fresh points past the design."""
    lines = []
    for c in cells:
        if "failed" in c or c["workers"] != 1:
            continue
        p50 = c["suggestion"]["p50_ms"]
        fast = p50 is not None and p50 < GOAL_SEQUENTIAL_P50_MS
        fresh = c["fresh_past_design_share"]
        if fresh is None:
            fresh_text = "unknown (no `model` on the suggestions)"
        else:
            fresh_text = (
                f"{100 * fresh:.0f}% of {c['past_design']} "
                f"({'ok' if fresh >= GOAL_SEQUENTIAL_FRESH else 'MISSED'})"
            )
        if fresh is None:
            verdict = "MISSED" if not fast else "not judged"
        else:
            verdict = "met" if fast and fresh >= GOAL_SEQUENTIAL_FRESH else "MISSED"
        lines.append(
            f"n={c['n']} d={c['d']}: p50 {_fmt(p50)} ms ({'ok' if fast else 'MISSED'}), "
            f"fresh model points past the design {fresh_text}: {verdict}"
        )
    return lines


def goal_verdict(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    judged = [
        c
        for c in cells
        if "failed" not in c and c["n"] <= GOAL_MAX_N and c["workers"] == GOAL_WORKERS
    ]
    misses = []
    for c in judged:
        sources = c["sources"]
        past_design = sources.get("optimizer", 0) + sources.get("fallback", 0)
        fallback = sources.get("fallback", 0) / past_design if past_design else 0.0
        reasons = []
        if (c["suggestion"]["p50_ms"] or 0) >= GOAL_P50_MS:
            reasons.append(f"p50 {c['suggestion']['p50_ms']} ms")
        if (c["suggestion"]["p95_ms"] or 0) >= GOAL_P95_MS:
            reasons.append(f"p95 {c['suggestion']['p95_ms']} ms")
        if fallback > GOAL_MAX_FALLBACK:
            reasons.append(f"fallback {100 * fallback:.0f}%")
        if reasons:
            misses.append(f"n={c['n']} d={c['d']}: " + ", ".join(reasons))
    return {"cells_judged": len(judged), "met": bool(judged) and not misses, "misses": misses}


# --- main ------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode",
        choices=list(MODES),
        default="grid",
        help="grid (default): the latency grid; sequential: one worker, --eval-seconds 2, "
        "n=10, d=3,6, judged on p50 and fresh points; instant: one worker, --eval-seconds 0, "
        "p50 beside the median fit time. --n, --d, --workers, --eval-seconds, --ax override "
        "a mode's defaults",
    )
    parser.add_argument("--n", type=_ints, default=None, help="default: the mode's")
    parser.add_argument("--d", type=_ints, default=None, help="3 or more; default: the mode's")
    parser.add_argument("--workers", type=_ints, default=None, help="default: the mode's")
    parser.add_argument("--requests", type=int, default=20, help="suggestions per worker")
    parser.add_argument(
        "--eval-seconds", dest="eval", type=float, default=None, help="default: the mode's"
    )
    # None: the server's default (a wait bounded by the measured fit time).
    parser.add_argument("--candidate-wait", type=float, default=None)
    parser.add_argument("--catch-up-timeout", type=float, default=240.0)
    parser.add_argument(
        "--ax-n", type=_ints, default=None, help=f"default: the --n up to {AX_DEFAULT_MAX_N}"
    )
    parser.add_argument("--ax-reps", type=int, default=2)
    parser.add_argument("--ax-timeout", type=float, default=240.0, help="seconds per Ax cell")
    parser.add_argument(
        "--ax",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time Ax too (default: in grid mode only)",
    )
    parser.add_argument("--profile", type=Path, default=None, help="py-spy raw stacks here")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="JSON results file, or a directory for it"
    )
    args = parser.parse_args(argv)
    for key, value in MODES[args.mode].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.d) < 3:
        parser.error(f"--d must be 3 or more (Hartmann3 below 6 parameters), not {args.d}")
    if args.output.is_dir():
        args.output = args.output / RESULTS.name
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))  # tests.support.server
    started = time.monotonic()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    cells: list[dict[str, Any]] = []
    for d in args.d:
        for n in args.n:
            for workers in args.workers:
                print(f"honed n={n} d={d} workers={workers} ...", end=" ", flush=True)
                try:
                    cell = run_cell(n, d, workers, args)
                except Exception as error:
                    cell = {"n": n, "d": d, "workers": workers, "failed": repr(error)[:500]}
                    print("failed:", cell["failed"], flush=True)
                else:
                    print(
                        f"p50 {cell['suggestion']['p50_ms']} ms, sources {cell['sources']}, "
                        f"catch-up {cell['catch_up']['seconds']}s, {cell['wall_seconds']}s",
                        flush=True,
                    )
                    for role, profile in cell["profiles"].items():
                        print(f"  py-spy {role}:")
                        for frame, share in profile["top"]:
                            print(f"    {100 * share:5.1f}%  {frame}")
                cells.append(cell)
    ax: dict[str, Any] = {}
    if args.ax:
        ax_n = args.ax_n or [n for n in args.n if n <= AX_DEFAULT_MAX_N]
        print(f"Ax: n={ax_n} d={args.d}, {args.ax_reps} candidates per cell ...", flush=True)
        ax = run_ax([(n, d) for d in args.d for n in ax_n], args.ax_reps, args.ax_timeout)
        for key, value in ax["cells"].items():
            print(f"  Ax {key}: {value.get('median_seconds', value.get('skipped'))}", flush=True)
    print()
    print_table(cells, ax)
    print()
    print_freshness(cells)
    verdict = goal_verdict(cells)
    if args.mode == "grid":
        print()
        print(
            f"goal (n <= {GOAL_MAX_N}, {GOAL_WORKERS} workers: p50 < {GOAL_P50_MS:.0f} ms, "
            f"p95 < {GOAL_P95_MS:.0f} ms, fallback <= {100 * GOAL_MAX_FALLBACK:.0f}% past the "
            f"initial design): {'met' if verdict['met'] else 'MISSED'}"
        )
        for miss in verdict["misses"]:
            print(f"  {miss}")
    sequential: list[str] = []
    if args.mode == "sequential":
        sequential = sequential_verdict(cells)
        print()
        print(
            f"goal (one worker, {args.eval:g} s evaluations: suggestion p50 < "
            f"{GOAL_SEQUENTIAL_P50_MS:.0f} ms and >= {100 * GOAL_SEQUENTIAL_FRESH:.0f}% of the "
            "points past the initial design fresh model points):"
        )
        for line in sequential:
            print(f"  {line}")
    if args.eval == 0:
        print()
        print("instant evaluations: suggestion p50 beside the optimizer's median fit time")
        for c in cells:
            if "failed" in c:
                continue
            opt = c["optimizer"]
            fit = opt["fit_seconds_median"]
            before = c["catch_up"]["fit_seconds"]
            print(
                f"  n={c['n']} d={c['d']} w={c['workers']}: p50 {_fmt(c['suggestion']['p50_ms'])}"
                f" ms, median fit {_fmt(None if fit is None else 1000 * fit, 0)} ms "
                f"({opt['fits']} fits ended in the window; the fit on the n seeded "
                f"observations: {_fmt(None if before is None else 1000 * before, 0)} ms)"
            )
    load = os.getloadavg()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load)}")
    print(f"total {time.monotonic() - started:.0f}s")
    out = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_end": load,
        "total_seconds": round(time.monotonic() - started, 1),
        "cells": cells,
        "ax": ax,
        "goal": verdict,
        "sequential_goal": sequential,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
