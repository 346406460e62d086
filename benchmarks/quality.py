"""Optimization quality: honed's BoTorchEngine against Sobol, Optuna TPE and Ax, side by side.

Every arm runs the same problems, budgets and seeds in one invocation:

- ``honed``: ``honed.engine.botorch.engine.BoTorchEngine`` called directly, one engine per
  run, the open points passed as ``pending``. Like the service, a proposal equal to an open
  or observed point is asked again once and then replaced by the next Sobol point.
- ``sobol``: honed's ``SobolEngine`` (the same scrambled sequence as honed's initial design).
- ``optuna``: Optuna's default ``TPESampler(seed=...)`` through ask/tell.
- ``ax``: Ax's ``Client`` with its default generation strategy, run by
  ``benchmarks/_ax_arm.py`` under the python of ``benchmarks/.venv-ax`` (Ax pins its own
  BoTorch, so it lives in its own venv).
- ``honed-served`` (on request): the whole service, a fresh ``honed serve`` with one
  optimizer process per run, driven over HTTP by 1 (30x1) or 4 (60x4) worker processes with
  instant evaluations (``benchmarks/_served_arm.py``). Served runs go one at a time, before
  the others and with nothing else of this script running beside them (the server, its
  optimizer and the workers already fill two cores, and their seconds per evaluation and the
  freshness of their points depend on the CPU they get); ``--cpu-load N`` runs N busy loops
  beside them.

Budgets: ``30x1`` is 30 evaluations one at a time; ``60x4`` is 60 evaluations with 4 points
in flight (first in, first out: each new point is asked for while 3 others are pending);
``60x8``, on request, has 8 in flight. Problems ``hartmann6_in20`` and ``levy20`` (20
parameters) are run on request too.
Regret is simple regret: the true value of the best observed point minus the optimum (for the
noisy problem the best *observed* value picks the point, its noiseless value is scored).

The table shows median and interquartile range of the final regret per problem, budget and
arm, the ratios of honed's median to Ax's and Optuna's (the one to Ax with the seeds honed
wins and a bootstrap interval, as the medians of 20 seeds are noisy), and the median seconds
per model-based candidate of honed and Ax. Results go to benchmarks/results/quality.json, a plot
of median best-so-far regret to benchmarks/results/quality.png, and every finished run is
appended to benchmarks/results/quality.runs.jsonl as it ends (``--resume`` reuses them).

Usage: .venv/bin/python benchmarks/quality.py [--seeds 10] [--problems branin,hartmann6]
       [--budgets 30x1,60x4] [--arms honed,sobol,optuna,ax,honed-served] [--jobs 2]
       [--cpu-load 0] [--resume] [--estimate]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
from multiprocessing import active_children
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from typing import TextIO

from _quality_problems import BUDGETS
from _quality_problems import DEFAULT_BUDGETS
from _quality_problems import DEFAULT_PROBLEMS
from _quality_problems import PROBLEMS
from _quality_problems import Arm
from _quality_problems import Point
from _quality_problems import Problem
from _quality_problems import simulate
from _served_arm import ARM as SERVED
from _served_arm import SOURCES as SERVED_SOURCES
from _served_arm import cpu_load
from _served_arm import run_served
from _served_arm import served_sources
from _served_arm import source_summary
from _signals import unwind_on_stop

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
AX_PYTHON = HERE / ".venv-ax" / "bin" / "python"
AX_HELPER = HERE / "_ax_arm.py"
DEFAULT_ARMS = ("honed", "sobol", "optuna", "ax")
# honed on a conditional problem's flat form: its conditionals as categorical parameters,
# every parameter always active (problems without conditionals skip it).
FLAT = "honed-flat"
# honed-served runs the whole service (a server and an optimizer process per run) and is
# run one run at a time, apart from the others (see execute).
ARMS = (*DEFAULT_ARMS, "honed-pool", "honed-lag", FLAT, SERVED)
# The order arms of one cell and seed are started in: the two slow ones first, together.
START_ORDER = ("ax", "honed", FLAT, "honed-pool", "honed-lag", "optuna", "sobol", SERVED)
# honed-pool and honed-lag model the service when requests outpace fits: the model is
# refitted only every LAG_OBSERVATIONS observations; the first ask after a fit gets its
# optimised candidate, the asks in between get the pool's Thompson samples (honed-pool) or
# Sobol points (honed-lag, what a service without a pool hands out).
LAG_OBSERVATIONS = 4
AX_TIMEOUT = 3600.0
# Rough seconds per model-based candidate on this machine, for --estimate only: honed's and
# Ax's are medians of a 10-seed grid at cce08b9 (wall time over model candidates, d <= 6,
# one worker); with workers in parallel a candidate costs BATCHED_FACTOR times as much, and
# honed's from 7 parameters on WIDE_FACTOR times. The pool and lag arms are scaled from honed.
SECONDS_PER_CANDIDATE = {
    "honed": 0.65,
    "ax": 0.6,
    "optuna": 0.03,
    "sobol": 0.001,
    "honed-pool": 0.22,
    "honed-lag": 0.16,
    FLAT: 0.65,
    SERVED: 0.8,
}
# A served run's start: the server, and its optimizer process importing torch.
SERVED_START_SECONDS = 15.0
BATCHED_FACTOR = 1.2
WIDE_FACTOR = 1.8
# Under linear constraints (the problems' own medians at f04c8e3, 30x1: honed 1.86 s and
# Ax 3.45 s per candidate): BoTorch's hit-and-run sampler draws Ax's starting points.
CONSTRAINED_FACTOR = {"honed": 3.0, "ax": 6.0}
AX_START_SECONDS = 3.0
GOAL_OPTUNA_FACTOR = 5.0
# The issue "Served quality": honed-served's median regret at most this times the engine's
# own (honed) on every cell, and no worse than Ax's on GOAL_SERVED_AX_CELLS of the 12
# default cells (scaled to the cells run).
GOAL_SERVED_FACTOR = 1.25
GOAL_SERVED_AX_CELLS = (10, 12)
# Resamples of the seeds for the interval of honed's median over Ax's: at 20 seeds two arms
# that win half the seeds each can differ by 1.5x on the median (skewed regrets), so the
# ratio alone does not say whether a cell is a real gap or a draw.
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class Job:
    problem: str
    budget: str
    arm: str
    seed: int

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.problem, self.budget, self.arm, self.seed)


_FINGERPRINT: list[str] = []


def _engine_fingerprint() -> str:
    """A digest of honed's engine sources: other people edit them while benchmarks run.

    Computed once per process, just before the process first imports honed, so it names
    the code the process's honed and sobol runs used: the honed that imports (another
    checkout on PYTHONPATH, say), found without importing it."""
    if _FINGERPRINT:
        return _FINGERPRINT[0]
    digest = hashlib.sha256()
    spec = importlib.util.find_spec("honed")
    if spec is None or spec.origin is None:
        raise SystemExit("honed is not importable: pip install -e . first")
    engine = Path(spec.origin).parent / "engine"
    for path in sorted(engine.rglob("*.py")):
        digest.update(path.relative_to(engine).as_posix().encode())
        digest.update(path.read_bytes())
    _FINGERPRINT.append(digest.hexdigest()[:16])
    return _FINGERPRINT[0]


# --- arms that run in this venv (inside pool worker processes) -----------------------------


def _honed_experiment(problem: Problem, seed: int) -> Any:
    from honed.domain.experiment import Experiment
    from honed.domain.experiment import ExperimentSpec
    from honed.domain.experiment import ExperimentState
    from honed.domain.metrics import Metric
    from honed.domain.metrics import Objective
    from honed.domain.parameters import Conditional
    from honed.domain.parameters import LinearConstraint
    from honed.domain.parameters import Parameter
    from honed.domain.parameters import ParameterType
    from honed.domain.parameters import SearchSpace

    parameters = []
    for p in problem.params:
        if p.kind == "categorical":
            parameter = Parameter(p.name, ParameterType.CATEGORICAL, categorical_values=p.values)
        elif p.kind == "int":
            parameter = Parameter(p.name, ParameterType.INT, (p.low, p.high))
        else:
            parameter = Parameter(p.name, ParameterType.DOUBLE, (p.low, p.high))
        parameters.append(replace(parameter, conditions=p.conditions))
    constraints = tuple(
        LinearConstraint("less_than", c.terms, c.bound) for c in problem.constraints
    )
    conditionals = tuple(Conditional(c.name, c.values) for c in problem.conditionals)
    spec = ExperimentSpec(
        problem.name,
        SearchSpace(tuple(parameters), constraints, conditionals),
        (Metric("f", Objective.MINIMIZE),),
    )
    # The experiment id seeds honed's Sobol sequence.
    return Experiment(1 + seed, 1, spec, ExperimentState.ACTIVE, 0, 0)


def _honed_arm(
    problem: Problem,
    seed: int,
    model: bool,
    stats: dict[str, int],
    lag: str | None = None,
    flat: bool = False,
) -> Arm[int]:
    """``lag``: None (a fresh proposal per ask), "pool" or "sobol" (see LAG_OBSERVATIONS);
    ``flat``: the problem without its conditionals (see FLAT)."""
    import torch

    from honed.domain.parameters import point_hash
    from honed.domain.records import MetricValue
    from honed.domain.records import Observation
    from honed.engine.base import Engine
    from honed.engine.base import ProposalRequest
    from honed.engine.botorch.engine import BoTorchEngine
    from honed.engine.design import initial_design_size
    from honed.engine.sobol import SobolEngine

    torch.manual_seed(seed)
    experiment = _honed_experiment(problem.flat() if flat else problem, seed)
    engine: Engine = BoTorchEngine(warm_starts={}) if model else SobolEngine()
    sobol = SobolEngine()
    observations: list[Observation] = []
    seen: set[str] = set()
    state = {"cursor": 0, "model": False}
    initial = initial_design_size(experiment.spec)
    lagged: list[Point] = []  # the last proposal's points not handed out yet
    fitted_at = [-LAG_OBSERVATIONS]  # observations at the last proposal

    def ask(pending: Sequence[Point]) -> tuple[int, Point] | None:
        taken = {point_hash(p) for p in pending} | seen
        state["model"] = model and len(observations) >= initial
        if lag is not None and state["model"]:
            if len(observations) - fitted_at[0] < LAG_OBSERVATIONS:
                while lagged:
                    point = lagged.pop(0)
                    if point_hash(point) not in taken:
                        return len(observations) + len(pending), point
                if lag == "sobol":
                    state["model"] = False
                    proposal = sobol.propose(
                        ProposalRequest(experiment, state["cursor"], list(pending), [], 1)
                    )
                    state["cursor"] = proposal.cursor
                    if point_hash(proposal.points[0]) not in taken:
                        return len(observations) + len(pending), proposal.points[0]
            fitted_at[0] = len(observations)
            proposal = engine.propose(
                ProposalRequest(
                    experiment,
                    state["cursor"],
                    list(pending),
                    observations,
                    1,
                    pool=LAG_OBSERVATIONS if lag == "pool" else 0,
                )
            )
            lagged[:] = proposal.points[1:]
            if proposal.points and point_hash(proposal.points[0]) not in taken:
                return len(observations) + len(pending), proposal.points[0]
        for attempt in range(3):
            chosen: Engine = engine if attempt < 2 else sobol
            if attempt == 2:
                stats["fallbacks"] += 1
                state["model"] = False
            proposal = chosen.propose(
                ProposalRequest(experiment, state["cursor"], list(pending), observations, 1)
            )
            state["cursor"] = proposal.cursor
            if proposal.points and point_hash(proposal.points[0]) not in taken:
                return len(observations) + len(pending), proposal.points[0]
            stats["duplicates"] += 1
        return None

    def tell(token: int, point: Point, value: float) -> None:
        seen.add(point_hash(point))
        observations.append(
            Observation(
                len(observations) + 1,
                experiment.id,
                None,
                dict(point),
                (MetricValue("f", value),),
                False,
                None,
                0,
            )
        )

    return Arm(ask=ask, tell=tell, is_model=lambda: bool(state["model"]))


def _optuna_arm(problem: Problem, seed: int) -> Arm[Any]:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.distributions import CategoricalDistribution
    from optuna.distributions import FloatDistribution
    from optuna.distributions import IntDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Optuna has no constraints on parameters; its documented way is constraints_func: the
    # trial is evaluated, and TPE ranks those that break a constraint below the others.
    sampler = optuna.samplers.TPESampler(
        seed=seed,
        constraints_func=(
            (lambda trial: trial.user_attrs["excess"]) if problem.constraints else None
        ),
    )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    distributions: dict[str, BaseDistribution] = {}
    for c in problem.conditionals:
        distributions[c.name] = CategoricalDistribution(list(c.values))
    for p in problem.params:
        if p.kind == "categorical":
            distributions[p.name] = CategoricalDistribution(list(p.values))
        elif p.kind == "int":
            distributions[p.name] = IntDistribution(int(p.low), int(p.high))
        else:
            distributions[p.name] = FloatDistribution(p.low, p.high)
    told = [0]

    def ask(pending: Sequence[Point]) -> tuple[Any, Point]:
        if not problem.conditionals:
            trial = study.ask(distributions)
            return trial, dict(trial.params)
        # Define-by-run, Optuna's own way with a conditional space: the conditionals'
        # values first, then only the parameters they activate.
        trial = study.ask()
        point: dict[str, Any] = {}
        for c in problem.conditionals:
            point[c.name] = trial.suggest_categorical(c.name, list(c.values))
        for p in problem.params:
            if not p.is_active(point):
                continue
            if p.kind == "categorical":
                point[p.name] = trial.suggest_categorical(p.name, list(p.values))
            elif p.kind == "int":
                point[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high))
            else:
                point[p.name] = trial.suggest_float(p.name, p.low, p.high)
        return trial, point

    def tell(trial: Any, point: Point, value: float) -> None:
        trial.set_user_attr("excess", [c.excess(point) for c in problem.constraints])
        study.tell(trial, value)
        told[0] += 1

    startup = 10  # TPESampler's n_startup_trials default
    return Arm(ask=ask, tell=tell, is_model=lambda: told[0] >= startup)


def run_local(job: Job) -> dict[str, Any]:
    """One run of a local arm, in a pool worker process."""
    import warnings

    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    evaluations, workers = BUDGETS[job.budget]
    problem = PROBLEMS[job.problem]
    result: dict[str, Any] = asdict(job)
    result["honed_engine_sources"] = _engine_fingerprint()
    stats = {"duplicates": 0, "fallbacks": 0}
    started = time.perf_counter()
    try:
        if job.arm == "optuna":
            arm = _optuna_arm(problem, job.seed)
        else:
            lag = {"honed-pool": "pool", "honed-lag": "sobol"}.get(job.arm)
            model = job.arm.startswith("honed")
            arm = _honed_arm(problem, job.seed, model, stats, lag, flat=job.arm == FLAT)
        result.update(simulate(problem, arm, evaluations, workers, job.seed))
    except Exception:
        result["error"] = traceback.format_exc()[-2000:]
    result.update(stats)
    result["wall_seconds"] = time.perf_counter() - started
    return result


#: Ax subprocesses running in this worker, killed when the worker is stopped.
_AX_PROCESSES: set[subprocess.Popen[str]] = set()


def run_ax(job: Job) -> dict[str, Any]:
    """One run of the Ax arm: a subprocess of benchmarks/.venv-ax's python."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    payload = json.dumps([{"problem": job.problem, "budget": job.budget, "seed": job.seed}])
    result: dict[str, Any] = asdict(job)
    started = time.perf_counter()
    with subprocess.Popen(
        [str(AX_PYTHON), str(AX_HELPER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=HERE,
    ) as process:
        _AX_PROCESSES.add(process)
        try:
            stdout, stderr = process.communicate(payload, timeout=AX_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = "", ""
            result["error"] = f"timed out after {AX_TIMEOUT:.0f} s"
        finally:
            _AX_PROCESSES.discard(process)
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if lines:
        result.update(json.loads(lines[-1]))
    elif "error" not in result:
        result["error"] = f"exit {process.returncode}: {stderr[-2000:]}"
    result["process_seconds"] = time.perf_counter() - started
    return result


def run_job(job: Job) -> dict[str, Any]:
    load = os.getloadavg()[0]
    result = run_ax(job) if job.arm == "ax" else run_local(job)
    result["load_before"] = load
    result["load_after"] = os.getloadavg()[0]
    return result


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    signal.signal(signal.SIGTERM, _stop_worker)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us


def _stop_worker(signum: int, frame: object) -> None:
    """Stopped by the parent: take a running Ax arm along and leave at once (the pool
    would catch an exception and start the next queued run)."""
    for process in list(_AX_PROCESSES):
        process.kill()
    os._exit(128 + signum)


# --- planning ------------------------------------------------------------------------------


def _model_candidates(problem: Problem, budget: str, arm: str) -> int:
    from honed.engine.design import initial_design_size

    evaluations, _ = BUDGETS[budget]
    if arm == "ax":
        initial = 5
    elif arm == "optuna":
        initial = 10
    else:
        initial = initial_design_size(_honed_experiment(problem, 0).spec)
    return max(evaluations - initial, 0)


def estimate_seconds(job: Job) -> float:
    problem = PROBLEMS[job.problem]
    per = SECONDS_PER_CANDIDATE[job.arm] * (BATCHED_FACTOR if BUDGETS[job.budget][1] > 1 else 1)
    seconds = per * _model_candidates(problem, job.budget, job.arm)
    if job.arm == "ax":
        seconds += AX_START_SECONDS
    if job.arm == SERVED:
        seconds += SERVED_START_SECONDS
    if job.arm.startswith("honed") and problem.dim > 6:
        seconds *= WIDE_FACTOR
    if problem.constraints:
        seconds *= CONSTRAINED_FACTOR.get(job.arm.split("-")[0], 1.0)
    return seconds


def runs_on(problem: Problem, arm: str) -> bool:
    """Whether ``arm`` runs ``problem``: the flat arm only where there are conditionals to
    flatten, Ax only where there are none (its arm here has no hierarchical spaces)."""
    if arm == FLAT:
        return bool(problem.conditionals)
    return arm != "ax" or not problem.conditionals


def plan(args: argparse.Namespace) -> list[Job]:
    """Cells longest first (so the workers finish together), the arms of one cell and seed
    next to each other: honed and Ax then run at the same time, under the same load from
    whatever else the machine is doing, which keeps their per-candidate times comparable.
    Arms that do not run a problem (``runs_on``) are left out of its cells."""
    groups = [
        [
            Job(problem, budget, arm, seed)
            for arm in sorted(args.arms, key=START_ORDER.index)
            if runs_on(PROBLEMS[problem], arm)
        ]
        for problem in args.problems
        for budget in args.budgets
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    groups.sort(key=lambda group: sum(estimate_seconds(j) for j in group), reverse=True)
    return [job for group in groups for job in group]


def _load_previous(path: Path, wanted: set[tuple[str, str, str, int]]) -> list[dict[str, Any]]:
    """Finished runs to reuse: honed and sobol runs only if honed's engine is unchanged."""
    if not path.exists():
        return []
    results: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            run = json.loads(line)
        except json.JSONDecodeError:
            continue
        key = (run["problem"], run["budget"], run["arm"], int(run["seed"]))
        if run["arm"] == SERVED:  # the whole server ran, not only the engine
            same_code = run.get("honed_sources") == served_sources()
        else:
            same_code = run["arm"] in ("optuna", "ax") or (
                run.get("honed_engine_sources") == _engine_fingerprint()
            )
        if key in wanted and "error" not in run and same_code:
            results[key] = run
    return list(results.values())


def run_served_job(job: Job) -> dict[str, Any]:
    """One run of the served arm, in this process (it starts its server and workers)."""
    result: dict[str, Any] = asdict(job)
    result["honed_engine_sources"] = _engine_fingerprint()
    result["honed_sources"] = served_sources()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        result.update(run_served(job.problem, job.budget, job.seed))
    except Exception:
        result["error"] = traceback.format_exc()[-3000:]
    result["wall_seconds"] = time.perf_counter() - started
    result["load_before"] = load
    result["load_after"] = os.getloadavg()[0]
    return result


class _Progress:
    """Appends each finished run to the runs file and prints a line for it."""

    def __init__(self, total: int, log: TextIO) -> None:
        self.total = total
        self.log = log
        self.results: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def add(self, job: Job, run: dict[str, Any]) -> None:
        self.results.append(run)
        self.log.write(json.dumps(run) + "\n")
        self.log.flush()
        status = f"regret {run['regret']:.4g}" if "error" not in run else "ERROR"
        if "error" not in run and "seconds_per_evaluation" in run:
            status += f", {run['seconds_per_evaluation']:.2f} s per evaluation"
        elapsed = time.perf_counter() - self.started
        print(
            f"[{len(self.results)}/{self.total} {elapsed:6.0f}s] {job.problem} {job.budget} "
            f"{job.arm} seed {job.seed}: {status} ({run.get('wall_seconds', 0.0):.1f} s)",
            flush=True,
        )
        if "error" in run:
            print(str(run["error"])[-600:], file=sys.stderr, flush=True)


def execute(
    jobs: Sequence[Job], workers: int, log_path: Path, load: int = 0
) -> list[dict[str, Any]]:
    """The served runs first, one at a time and alone (``load`` busy loops beside them),
    then the others on ``workers`` processes.

    A served run already keeps both cores busy (its server, its optimizer process and up to
    4 worker processes): beside other runs it would get less CPU, its optimizer would fall
    behind the workers and the arm would be judged on the machine's load, not on the service.
    """
    served = [job for job in jobs if job.arm == SERVED]
    local = [job for job in jobs if job.arm != SERVED]
    with log_path.open("a") as log:
        progress = _Progress(len(jobs), log)
        if served:
            with cpu_load(load) as busy:
                if busy:
                    print(f"{len(busy)} busy-loop processes: {busy}", flush=True)
                for job in served:
                    progress.add(job, run_served_job(job))
        if local:
            _execute_pool(local, workers, progress)
    return progress.results


def _execute_pool(jobs: Sequence[Job], workers: int, progress: _Progress) -> None:
    context = get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init) as pool:
        futures: dict[Future[dict[str, Any]], Job] = {pool.submit(run_job, j): j for j in jobs}
        remaining = set(futures)
        try:
            while remaining:
                finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = futures[future]
                    try:
                        run = future.result()
                    except Exception:
                        run = {**asdict(job), "error": traceback.format_exc()[-2000:]}
                    progress.add(job, run)
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM: stop the runs in flight (finished ones are in the log).
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in active_children():
                worker.terminate()
            raise


# --- summary -------------------------------------------------------------------------------


def _quantiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def _model_seconds(runs: Sequence[dict[str, Any]]) -> list[float]:
    return [
        s
        for run in runs
        for s, is_model in zip(run["ask_seconds"], run["ask_model"], strict=True)
        if is_model
    ]


def _seconds_per_evaluation(run: dict[str, Any]) -> float:
    """Wall time of the run over its evaluations: for the served arm from the workers'
    start to the last observation, for Ax without its import, for honed's arms in-process
    with the engine's construction."""
    if "seconds_per_evaluation" in run:
        return float(run["seconds_per_evaluation"])
    return float(run["wall_seconds"]) / len(run["trace"])


def _paired_with_ax(runs: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """honed against Ax on the seeds both ran: on how many honed's regret is lower, and a
    90% bootstrap interval (seeds resampled in pairs) of the ratio of their medians."""
    by_arm: dict[str, dict[int, float]] = {"honed": {}, "ax": {}}
    for run in runs:
        if run["arm"] in by_arm:
            by_arm[run["arm"]][int(run["seed"])] = float(run["regret"])
    honed, ax = by_arm["honed"], by_arm["ax"]
    seeds = sorted(set(honed) & set(ax))
    if len(seeds) < 2:
        return None
    generator = random.Random(0)
    ratios = []
    for _ in range(BOOTSTRAP_SAMPLES):
        sample = generator.choices(seeds, k=len(seeds))
        ratio = _ratio(
            statistics.median(honed[s] for s in sample), statistics.median(ax[s] for s in sample)
        )
        ratios.append(math.inf if ratio is None else ratio)
    ratios.sort()
    return {
        "seeds": len(seeds),
        "honed_better": sum(honed[s] < ax[s] for s in seeds),
        "ratio_low": ratios[int(0.05 * BOOTSTRAP_SAMPLES)],
        "ratio_high": ratios[int(0.95 * BOOTSTRAP_SAMPLES) - 1],
    }


def summarize(args: argparse.Namespace, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in results if "error" not in r]
    cells: list[dict[str, Any]] = []
    for problem in args.problems:
        for budget in args.budgets:
            cell: dict[str, Any] = {"problem": problem, "budget": budget, "arms": {}}
            for arm in args.arms:
                runs = [
                    r
                    for r in ok
                    if (r["problem"], r["budget"], r["arm"]) == (problem, budget, arm)
                ]
                if not runs:
                    continue
                regrets = [float(r["regret"]) for r in runs]
                q1, median, q3 = _quantiles(regrets)
                model_seconds = _model_seconds(runs)
                cell["arms"][arm] = {
                    "runs": len(runs),
                    "median": median,
                    "q25": q1,
                    "q75": q3,
                    "regrets": regrets,
                    "median_model_seconds": (
                        statistics.median(model_seconds) if model_seconds else None
                    ),
                    "duplicates": sum(int(r.get("duplicates", 0)) for r in runs),
                    "fallbacks": sum(int(r.get("fallbacks", 0)) for r in runs),
                    "stalls": sum(int(r.get("stalls", 0)) for r in runs),
                    "infeasible": sum(int(r.get("infeasible", 0)) for r in runs),
                    "evaluations": sum(len(r["trace"]) for r in runs),
                    "seconds_per_evaluation": statistics.median(
                        _seconds_per_evaluation(r) for r in runs
                    ),
                }
                if arm == SERVED:
                    cell["arms"][arm]["served"] = source_summary(runs)
            cell["paired_with_ax"] = _paired_with_ax(
                [r for r in ok if (r["problem"], r["budget"]) == (problem, budget)]
            )
            medians = {arm: v["median"] for arm, v in cell["arms"].items()}
            cell["honed_over_ax"] = _ratio(medians.get("honed"), medians.get("ax"))
            cell["honed_over_optuna"] = _ratio(medians.get("honed"), medians.get("optuna"))
            cell["served_over_honed"] = _ratio(medians.get(SERVED), medians.get("honed"))
            cell["served_over_ax"] = _ratio(medians.get(SERVED), medians.get("ax"))
            cells.append(cell)
    latency: dict[str, Any] = {}
    for budget in args.budgets:
        row: dict[str, float | None] = {}
        for arm in ("honed", "ax"):
            seconds = _model_seconds([r for r in ok if r["arm"] == arm and r["budget"] == budget])
            row[arm] = statistics.median(seconds) if seconds else None
        row["honed_over_ax"] = _ratio(row["honed"], row["ax"])
        latency[budget] = row
    goals: dict[str, Any] = {
        "honed_no_worse_than_ax": [],
        "honed_5x_better_than_optuna": None,
        "served_within_factor_of_honed": [],
        "served_no_worse_than_ax": [],
    }
    for cell in cells:
        where = {"problem": cell["problem"], "budget": cell["budget"]}
        if cell["served_over_honed"] is not None:
            goals["served_within_factor_of_honed"].append(
                {**where, "met": cell["served_over_honed"] <= GOAL_SERVED_FACTOR}
            )
        if cell["served_over_ax"] is not None:
            goals["served_no_worse_than_ax"].append(
                {**where, "met": cell["served_over_ax"] <= 1.0}
            )
        ratio = cell["honed_over_ax"]
        if ratio is not None:
            goals["honed_no_worse_than_ax"].append(
                {"problem": cell["problem"], "budget": cell["budget"], "met": ratio <= 1.0}
            )
        if (cell["problem"], cell["budget"]) == ("hartmann6", "60x4"):
            optuna_ratio = cell["honed_over_optuna"]
            if optuna_ratio is not None:
                goals["honed_5x_better_than_optuna"] = optuna_ratio <= 1 / GOAL_OPTUNA_FACTOR
    sources = sorted(
        {str(r["honed_engine_sources"]) for r in ok if r["arm"] in ("honed", "sobol")}
    )
    return {
        "cells": cells,
        "latency": latency,
        "goals": goals,
        "errors": len(results) - len(ok),
        "honed_engine_sources": sources,
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.{digits}g}"


def print_table(args: argparse.Namespace, summary: dict[str, Any]) -> None:
    served = SERVED in args.arms
    header = ["problem", "budget", *args.arms, "honed/ax", "honed/optuna"]
    if served:
        header += ["served/honed", "served/ax", "s/eval served", "s/eval ax"]
    rows = [header]
    for cell in summary["cells"]:
        row = [cell["problem"], cell["budget"]]
        for arm in args.arms:
            stats = cell["arms"].get(arm)
            if stats is None:
                row.append("-")
            else:
                row.append(
                    f"{_fmt(stats['median'])} [{_fmt(stats['q25'], 2)}, {_fmt(stats['q75'], 2)}]"
                )
        row += [_fmt(cell["honed_over_ax"]), _fmt(cell["honed_over_optuna"])]
        if served:
            seconds = {a: s["seconds_per_evaluation"] for a, s in cell["arms"].items()}
            row += [
                _fmt(cell["served_over_honed"]),
                _fmt(cell["served_over_ax"]),
                _fmt(seconds.get(SERVED), 2),
                _fmt(seconds.get("ax"), 2),
            ]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print("\nSimple regret, median [25%, 75%] over seeds (lower is better)")
    for index, row in enumerate(rows):
        print("  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    paired = [(c, c["paired_with_ax"]) for c in summary["cells"] if c["paired_with_ax"]]
    if paired:
        print(
            "\nhoned against Ax, paired by seed: the seeds where honed's regret is lower, and"
            "\nhoned/ax of the medians with a 90% bootstrap interval (it straddles 1: a draw)"
        )
        for cell, pair in paired:
            print(
                f"  {cell['problem']} {cell['budget']}: {pair['honed_better']} of "
                f"{pair['seeds']} seeds; {_fmt(cell['honed_over_ax'])} "
                f"[{_fmt(pair['ratio_low'], 2)}, {_fmt(pair['ratio_high'], 2)}]"
            )
    if served:
        _print_served(summary)
    print("\nMedian seconds per model-based candidate")
    for budget, row in summary["latency"].items():
        print(
            f"  {budget}: honed {_fmt(row['honed'])} s, ax {_fmt(row['ax'])} s, "
            f"honed/ax {_fmt(row['honed_over_ax'])}"
        )
    extras = [
        f"  {c['problem']} {c['budget']} {arm}: {s['duplicates']} duplicate proposals, "
        f"{s['fallbacks']} Sobol fallbacks, {s['stalls']} stalls"
        for c in summary["cells"]
        for arm, s in c["arms"].items()
        # The served arm's fallbacks are the server's (its sources are printed above).
        if arm != SERVED and (s["duplicates"] or s["fallbacks"] or s["stalls"])
    ]
    if extras:
        print("\nRe-asks (a proposal equal to an open or observed point)")
        print("\n".join(extras))
    constrained = [c for c in summary["cells"] if PROBLEMS[c["problem"]].constraints]
    if constrained:
        print("\nEvaluated points that broke a linear constraint (never counted as the best)")
        for cell in constrained:
            counts = ", ".join(
                f"{arm} {s['infeasible']} of {s['evaluations']}" for arm, s in cell["arms"].items()
            )
            print(f"  {cell['problem']} {cell['budget']}: {counts}")
    goals = summary["goals"]
    if goals["honed_no_worse_than_ax"]:
        missed = [
            f"{g['problem']} {g['budget']}"
            for g in goals["honed_no_worse_than_ax"]
            if not g["met"]
        ]
        verdict = "met" if not missed else "NOT met on " + ", ".join(missed)
        print(f"\nGoal: honed median regret <= Ax on every problem and budget: {verdict}")
    if goals["honed_5x_better_than_optuna"] is not None:
        verdict = "met" if goals["honed_5x_better_than_optuna"] else "NOT met"
        print(
            f"Goal: honed >= {GOAL_OPTUNA_FACTOR:.0f}x lower than Optuna on hartmann6 60x4: "
            f"{verdict}"
        )
    if served:
        _print_served_goals(summary)
    if len(summary["honed_engine_sources"]) > 1:
        print(
            "\nWARNING: honed's engine sources changed during the run "
            f"({', '.join(summary['honed_engine_sources'])}); compare with care"
        )
    if summary["errors"]:
        print(f"\n{summary['errors']} runs failed; see the JSON for their tracebacks")


def _print_served(summary: dict[str, Any]) -> None:
    print(
        "\nhoned-served: share of suggestions per source; among optimizer ones that report "
        "`model`,\nthe share with fresh=true and from the batch or the pool; median seconds "
        "per evaluation\n(wall time from the workers' start to the last observation over "
        "the evaluations)"
    )
    for cell in summary["cells"]:
        stats = cell["arms"].get(SERVED)
        if stats is None:
            continue
        info = stats["served"]
        shares = ", ".join(
            f"{source} {100 * info['share'].get(source, 0.0):.0f}%" for source in SERVED_SOURCES
        )
        others = sorted(set(info["share"]) - set(SERVED_SOURCES))
        if others:
            shares += ", " + ", ".join(f"{s} {100 * info['share'][s]:.0f}%" for s in others)
        if info["with_model"]:
            candidates = "/".join(
                f"{c} {100 * share:.0f}%" for c, share in info["candidate_share"].items()
            )
            fresh = (
                f"fresh {100 * info['fresh_share']:.0f}% of {info['with_model']} optimizer "
                f"points ({candidates})"
            )
        elif info["optimizer"]:
            fresh = "freshness not reported by this server"
        else:
            fresh = "no optimizer points"
        print(
            f"  {cell['problem']} {cell['budget']}: {shares}; {fresh}; "
            f"{_fmt(stats['seconds_per_evaluation'], 2)} s per evaluation"
        )


def _print_served_goals(summary: dict[str, Any]) -> None:
    goals = summary["goals"]
    within = goals["served_within_factor_of_honed"]
    print()
    if within:
        missed = [f"{g['problem']} {g['budget']}" for g in within if not g["met"]]
        verdict = "met" if not missed else "NOT met on " + ", ".join(missed)
        print(
            f"Goal: honed-served median regret <= {GOAL_SERVED_FACTOR} x honed (the engine "
            f"called directly) on every cell ({len(within)} judged): {verdict}"
        )
    versus_ax = goals["served_no_worse_than_ax"]
    if versus_ax:
        wins, total = GOAL_SERVED_AX_CELLS
        needed = math.ceil(len(versus_ax) * wins / total)
        held = sum(g["met"] for g in versus_ax)
        verdict = "met" if held >= needed else "NOT met"
        missed = [f"{g['problem']} {g['budget']}" for g in versus_ax if not g["met"]]
        print(
            f"Goal: honed-served median regret <= Ax on at least {wins} of {total} cells "
            f"(here {needed} of {len(versus_ax)}): {held} hold, {verdict}"
            + (f" (worse on {', '.join(missed)})" if missed else "")
        )
    else:
        print("Goal: honed-served against Ax: not judged (Ax did not run)")


def plot(args: argparse.Namespace, results: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ok = [r for r in results if "error" not in r]
    count = len(args.problems)
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.9 * rows), squeeze=False)
    colors = {
        "honed": "tab:blue",
        "sobol": "tab:gray",
        "optuna": "tab:green",
        "ax": "tab:red",
        "honed-pool": "tab:purple",
        "honed-lag": "tab:orange",
        FLAT: "tab:brown",
        SERVED: "tab:cyan",
    }
    styles = {"30x1": "-", "60x4": "--"}
    for index, problem in enumerate(args.problems):
        axis = axes[index // columns][index % columns]
        for budget in args.budgets:
            for arm in args.arms:
                traces = [
                    r["trace"]
                    for r in ok
                    if (r["problem"], r["budget"], r["arm"]) == (problem, budget, arm)
                ]
                if not traces:
                    continue
                data = np.maximum(np.array(traces, dtype=float), 1e-6)
                x = np.arange(1, data.shape[1] + 1)
                axis.plot(
                    x,
                    np.median(data, axis=0),
                    styles.get(budget, ":"),
                    color=colors.get(arm),
                    label=f"{arm} {budget}",
                )
        axis.set_yscale("log")
        axis.set_title(problem)
        axis.set_xlabel("evaluations")
        axis.set_ylabel("median best-so-far regret")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    for index in range(count, rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    seeds = args.seeds
    figure.suptitle(f"Median simple regret over {seeds} seeds (solid 30x1, dashed 60x4)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- main ----------------------------------------------------------------------------------


def _names(text: str, allowed: Sequence[str], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=10, help="seeds per cell (default 10)")
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the first seed (default 0): --first-seed 40 --seeds 20 adds seeds 40-59 to an "
        "earlier run of 40, for a new sample beside it",
    )
    parser.add_argument(
        "--problems",
        default=",".join(DEFAULT_PROBLEMS),
        help=f"comma-separated, of {', '.join(PROBLEMS)}",
    )
    parser.add_argument(
        "--budgets",
        default=",".join(DEFAULT_BUDGETS),
        help=f"comma-separated, of {', '.join(BUDGETS)}",
    )
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS), help="comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument(
        "--cpu-load",
        type=int,
        default=0,
        help=f"busy-loop processes beside the {SERVED} runs (default 0); they run only "
        "while those runs do, and end with the script",
    )
    parser.add_argument("--resume", action="store_true", help="reuse runs in the runs file")
    parser.add_argument("--estimate", action="store_true", help="print the plan and exit")
    parser.add_argument("--output", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "quality.png")
    parser.add_argument("--runs-file", type=Path, default=RESULTS / "quality.runs.jsonl")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, not {args.seeds}")
    if args.first_seed < 0:
        # Seeds reach NumPy's and Ax's generators, which take no negative seed.
        parser.error(f"--first-seed must be 0 or more, not {args.first_seed}")
    if args.cpu_load < 0:
        parser.error(f"--cpu-load must be 0 or more, not {args.cpu_load}")
    args.problems = _names(args.problems, list(PROBLEMS), "problems")
    args.budgets = _names(args.budgets, list(BUDGETS), "budgets")
    args.arms = _names(args.arms, ARMS, "arms")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = "1"
    if "ax" in args.arms and not AX_PYTHON.exists():
        print(
            f"{AX_PYTHON} is missing: python3 -m venv {HERE / '.venv-ax'}, then install "
            "torch==2.13.0 and ax-platform==1.3.1 into it (or drop ax from --arms)",
            file=sys.stderr,
        )
        return 2
    jobs = plan(args)
    previous: list[dict[str, Any]] = []
    if args.resume:
        previous = _load_previous(args.runs_file, {j.key for j in jobs})
        done = {(r["problem"], r["budget"], r["arm"], int(r["seed"])) for r in previous}
        jobs = [j for j in jobs if j.key not in done]
    cpu_seconds = sum(estimate_seconds(j) for j in jobs if j.arm != SERVED)
    served_seconds = sum(estimate_seconds(j) for j in jobs if j.arm == SERVED)
    served_runs = sum(j.arm == SERVED for j in jobs)
    print(
        f"{len(jobs)} runs ({len(previous)} reused) on {args.jobs} processes: about "
        f"{(cpu_seconds + served_seconds) / 60:.0f} CPU minutes, "
        f"{(cpu_seconds / args.jobs + served_seconds) / 60:.0f} minutes wall time"
        + (f" ({served_runs} {SERVED} runs one at a time)" if served_runs else "")
        + " (a rough guess; shared machines vary)",
        flush=True,
    )
    if args.estimate:
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if not args.resume and args.runs_file.exists():
        args.runs_file.unlink()
    started = time.perf_counter()
    fingerprint = _engine_fingerprint()
    unwind_on_stop()
    try:
        results = [*previous, *execute(jobs, args.jobs, args.runs_file, args.cpu_load)]
    except KeyboardInterrupt:
        print(f"Stopped; --resume continues from {args.runs_file}", file=sys.stderr)
        return 130
    summary = summarize(args, results)
    print_table(args, summary)
    report = {
        "benchmark": "quality",
        "config": {
            "seeds": args.seeds,
            "first_seed": args.first_seed,
            "problems": {name: PROBLEMS[name].note for name in args.problems},
            "budgets": {name: BUDGETS[name] for name in args.budgets},
            "arms": args.arms,
            "jobs": args.jobs,
            "cpu_load": args.cpu_load,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "honed_engine_sources": fingerprint,
            "honed_sources": served_sources() if SERVED in args.arms else None,
            "wall_seconds": time.perf_counter() - started,
        },
        "summary": summary,
        "runs": results,
    }
    args.output.write_text(json.dumps(report, indent=1))
    plot(args, results, args.plot)
    print(f"\nWrote {args.output}, {args.plot} and {args.runs_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
