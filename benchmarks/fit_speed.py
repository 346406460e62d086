"""The optimizer's cycle: BoTorchEngine.propose(count=1) before and after a change, side by side.

For every cell (n observations, d double parameters in [0, 1]) an experiment minimizing
Ackley (on [-5, 10]^d) starts from random observations and one untimed proposal, which
fills a ``warm_starts`` dict as the optimizer process's would. Then ``--reps`` proposals
follow on growing data, each proposed point evaluated and observed before the next, with the
same dict: the last timed proposal sees n observations, the first n - reps + 1 (or 5, the
initial design, when that is more). Each is timed end to end with ``pool=0``, in wall and
in CPU seconds (the CPU time is what a quiet core would take: on a shared machine other
processes inflate the wall time), and the engine's log record splits the wall time into
the fit and the candidate. One more proposal on the last data asks for a pool of
``--pool`` Thompson samples; its pool seconds are reported on their own (the fit is
skipped there, the data being unchanged; ``--pool 0``: no such proposal).

``--mixed`` adds an int (1-8) and a categorical parameter (four values) to the d doubles:
the model one-hot encodes the category (an input transform), and the mixed optimizer
searches. ``--pending P`` puts P open suggestions (random points) in every request. The
last column counts the timed proposals whose point after the change is the one before (its
numbers within 1e-4; the data of later proposals differ as the earlier points did, in
rounding at least).

The code before the change is ``src/`` of ``--before`` (a git revision, extracted with ``git
archive`` into a temporary directory), the code after it is this checkout's ``src/``
(``--after-src`` for another). Each variant runs in its own process per d, one torch thread,
the two variants alternating by d so that a change in the machine's load hits both. Results
are printed as p50/p95 per cell with the ratio after/before and written to
benchmarks/results/fit_speed.json.

Usage: .venv/bin/python benchmarks/fit_speed.py [--before main] [--n 5,20,50,100]
       [--d 3,6,10] [--reps 5] [--pool 32] [--seed 0] [--blas-threads 1] [--mixed]
       [--pending 0]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _revisions import extract_src

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VARIANTS = ("before", "after")


#: ``--mixed``: the categorical parameter's values, each a shift of the objective.
CATEGORIES = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 0.5}


def ackley(x: list[float]) -> float:
    """Ackley on [-5, 10]^d from the unit cube."""
    v = [-5.0 + 15.0 * xi for xi in x]
    n = len(v)
    part1 = -20.0 * math.exp(-0.2 * math.sqrt(sum(t * t for t in v) / n))
    part2 = -math.exp(sum(math.cos(2 * math.pi * t) for t in v) / n)
    return part1 + part2 + 20.0 + math.e


class _Records(logging.Handler):
    """Keeps the engine's per-proposal timings (its log record's extra fields)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "fit_seconds"):
            self.records.append(record)


def _extra(record: logging.LogRecord, name: str) -> float:
    return float(record.__dict__[name])


def worker(
    d: int, ns: list[int], reps: int, pool: int, seed: int, mixed: bool, pending: int
) -> dict[str, Any]:
    """Time one variant (the honed on sys.path) at one d; returns timings by n."""
    import torch

    from honed.domain.experiment import Experiment
    from honed.domain.experiment import ExperimentSpec
    from honed.domain.experiment import ExperimentState
    from honed.domain.metrics import Metric
    from honed.domain.metrics import Objective
    from honed.domain.parameters import Parameter
    from honed.domain.parameters import ParameterType
    from honed.domain.parameters import SearchSpace
    from honed.domain.records import MetricValue
    from honed.domain.records import Observation
    from honed.engine.base import ProposalRequest
    from honed.engine.botorch.engine import BoTorchEngine

    torch.set_num_threads(1)
    handler = _Records()
    engine_logger = logging.getLogger("honed.engine.botorch.engine")
    engine_logger.addHandler(handler)
    engine_logger.setLevel(logging.INFO)
    engine_logger.propagate = False
    names = [f"x{i}" for i in range(d)]
    parameters = [Parameter(n, ParameterType.DOUBLE, (0.0, 1.0)) for n in names]
    if mixed:
        parameters += [
            Parameter("k", ParameterType.INT, (1, 8)),
            Parameter("c", ParameterType.CATEGORICAL, categorical_values=tuple(CATEGORIES)),
        ]
    space = SearchSpace(tuple(parameters))
    spec = ExperimentSpec("fit_speed", space, (Metric("f", Objective.MINIMIZE),))
    experiment = Experiment(1, 1, spec, ExperimentState.ACTIVE, 0, 0)

    def random_points(count: int, generator: torch.Generator) -> list[dict[str, Any]]:
        rows = torch.rand(count, d + 2 * mixed, generator=generator, dtype=torch.float64)
        points: list[dict[str, Any]] = []
        for row in rows.tolist():
            point: dict[str, Any] = dict(zip(names, row, strict=False))
            if mixed:
                point["k"] = 1 + int(row[d] * 8)
                point["c"] = list(CATEGORIES)[int(row[d + 1] * len(CATEGORIES))]
            points.append(point)
        return points

    def observe(observations: list[Observation], point: dict[str, Any]) -> None:
        x = [float(point[name]) for name in names]
        if mixed:
            x.append((int(point["k"]) - 1) / 7)
        value = ackley(x) + (CATEGORIES[str(point["c"])] if mixed else 0.0)
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

    results: dict[str, Any] = {}
    for n in ns:
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed * 1000 + n * 10 + d)
        engine = BoTorchEngine(warm_starts={})
        observations: list[Observation] = []
        # The timed proposals end at n, past the initial design (5 points).
        first = max(5, n - reps + 1)
        for point in random_points(first - 1, generator):
            observe(observations, point)
        open_points = random_points(pending, generator)
        proposal = engine.propose(
            ProposalRequest(experiment, 0, open_points, list(observations), 1)
        )
        cycle: list[float] = []
        cpu: list[float] = []
        fit: list[float] = []
        candidate: list[float] = []
        points: list[dict[str, Any]] = []
        for _ in range(reps):
            observe(observations, proposal.points[0])
            handler.records.clear()
            started, cpu_started = time.perf_counter(), time.process_time()
            proposal = engine.propose(
                ProposalRequest(experiment, 0, open_points, list(observations), 1)
            )
            cycle.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            (record,) = handler.records
            fit.append(_extra(record, "fit_seconds"))
            candidate.append(_extra(record, "candidate_seconds"))
            points.append(proposal.points[0])
        pool_seconds = 0.0
        if pool > 0:
            handler.records.clear()
            engine.propose(
                ProposalRequest(experiment, 0, open_points, list(observations), 1, pool=pool)
            )
            (record,) = handler.records
            pool_seconds = _extra(record, "pool_seconds")
        results[str(n)] = {
            "cycle": cycle,
            "cpu": cpu,
            "fit": fit,
            "candidate": candidate,
            "pool": pool_seconds,
            "best": min(o.values[0].value for o in observations),
            "points": points,
        }
    return results


def _run_variant(src: Path, d: int, args: argparse.Namespace) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), str(HERE)]),
        # One thread each for torch and the BLAS under SciPy, as in an optimizer process.
        "OMP_NUM_THREADS": str(args.blas_threads),
        "PYTHONWARNINGS": "ignore",
    }
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(d),
        "--n",
        args.n,
        "--reps",
        str(args.reps),
        "--pool",
        str(args.pool),
        "--seed",
        str(args.seed),
        "--pending",
        str(args.pending),
        *(["--mixed"] if args.mixed else []),
    ]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _close(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The same point: its categories equal, its numbers within 1e-4."""
    return a.keys() == b.keys() and all(
        a[k] == b[k] if isinstance(a[k], str) else abs(a[k] - b[k]) <= 1e-4 for k in a
    )


def _table(results: dict[str, dict[str, dict[str, Any]]], ns: list[int], ds: list[int]) -> str:
    header = (
        f"{'d':>3} {'n':>4} | {'before p50':>10} {'p95':>6} | {'after p50':>9} {'p95':>6} | "
        f"{'ratio p50':>9} {'p95':>5} | {'cpu b/a':>11} {'ratio':>5} | {'fit b/a':>11} | "
        f"{'cand b/a':>11} | {'pool b/a':>11} | same points"
    )
    lines = [header, "-" * len(header)]
    for d in ds:
        for n in ns:
            cells = [results[v][str(d)][str(n)] for v in VARIANTS]
            p50 = [statistics.median(c["cycle"]) for c in cells]
            p95 = [_quantile(c["cycle"], 0.95) for c in cells]
            fit = [statistics.median(c["fit"]) for c in cells]
            cand = [statistics.median(c["candidate"]) for c in cells]
            pool = [c["pool"] for c in cells]
            cpu = [statistics.median(c["cpu"]) for c in cells]
            same = sum(_close(a, b) for a, b in zip(*(c["points"] for c in cells), strict=True))
            lines.append(
                f"{d:>3} {n:>4} | {p50[0]:>10.3f} {p95[0]:>6.3f} | {p50[1]:>9.3f} "
                f"{p95[1]:>6.3f} | {p50[1] / p50[0]:>9.2f} {p95[1] / p95[0]:>5.2f} | "
                f"{cpu[0]:>5.2f}/{cpu[1]:<5.2f} {cpu[1] / cpu[0]:>5.2f} | "
                f"{fit[0]:>5.2f}/{fit[1]:<5.2f} | {cand[0]:>5.2f}/{cand[1]:<5.2f} | "
                f"{pool[0]:>5.2f}/{pool[1]:<5.2f} | {same}/{len(cells[0]['points'])}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git revision of the old code")
    parser.add_argument("--after-src", default=str(ROOT / "src"), help="src/ of the new code")
    parser.add_argument("--n", default="5,20,50,100", help="observations per cell")
    parser.add_argument("--d", default="3,6,10", help="parameters per cell")
    parser.add_argument("--reps", type=int, default=5, help="timed proposals per cell")
    parser.add_argument("--pool", type=int, default=32, help="Thompson samples in the pool")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS of both variants (default 1, as in an optimizer process)",
    )
    parser.add_argument("--mixed", action="store_true", help="add an int and a categorical")
    parser.add_argument("--pending", type=int, default=0, help="open suggestions per request")
    parser.add_argument("--output", default=str(HERE / "results" / "fit_speed.json"))
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    ns = [int(n) for n in args.n.split(",")]
    if args.reps < 1 or min(ns) < 5:
        parser.error("--reps must be at least 1 and every --n at least 5 (the design)")
    if args.worker is not None:
        print(
            json.dumps(
                worker(args.worker, ns, args.reps, args.pool, args.seed, args.mixed, args.pending)
            )
        )
        return
    ds = [int(d) for d in args.d.split(",")]
    results: dict[str, dict[str, dict[str, Any]]] = {v: {} for v in VARIANTS}
    loads: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as scratch:
        sources = {
            "before": extract_src(args.before, Path(scratch)),
            "after": Path(args.after_src),
        }
        for index, d in enumerate(ds):
            # Alternate which variant goes first, so neither always runs on a warmer cache.
            order = VARIANTS if index % 2 == 0 else VARIANTS[::-1]
            for variant in order:
                started = time.perf_counter()
                results[variant][str(d)] = _run_variant(sources[variant], d, args)
                # Other processes on a shared machine inflate both variants' times.
                loads[f"{variant} d={d}"] = os.getloadavg()[0]
                print(
                    f"d={d} {variant}: {time.perf_counter() - started:.0f}s, "
                    f"load {loads[f'{variant} d={d}']:.1f}",
                    file=sys.stderr,
                    flush=True,
                )
    print(
        f"propose(count=1, pool=0) wall seconds, {args.reps} successive proposals per cell "
        f"ending at n (before: {args.before}, after: {args.after_src}; "
        f"{'mixed' if args.mixed else 'doubles'}, {args.pending} pending); cpu, fit and "
        f"candidate are p50s; pool: one pool of {args.pool}"
    )
    print(_table(results, ns, ds))
    print(
        "1-minute load average after each run: "
        + ", ".join(f"{k} {v:.1f}" for k, v in loads.items())
    )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps({"args": vars(args), "loads": loads, "results": results}, indent=1)
    )


if __name__ == "__main__":
    main()
