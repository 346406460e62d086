"""Memory and time of one optimizer proposal (GP fit + candidates) against the number of
categorical values, each size in a process of its own under an address-space limit.

    .venv/bin/python benchmarks/categorical_fit.py [--sizes 20,100,500,2000] \
        [--observations 20] [--count 1] [--categoricals 1] [--limit-gb 6] [--budget 0] \
        [--exhausted 0]

Per size, one experiment: ``--categoricals`` parameters with that many values each and two
doubles,
``--observations`` observed points past the initial design, then one
``BoTorchEngine.propose`` of ``--count`` candidates with one torch thread, as `honed
optimizer` runs it. Prints per size the peak RSS, the seconds and the outcome (points, or
the error: a MemoryError under the limit, or the fit budget's error with ``--budget S``).

``--exhausted N`` measures instead a discrete space of N points (two ints, N = 16 x N/16)
in which every point is observed: what the optimizer spends to find there is nothing left.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any


def run_one(args: argparse.Namespace, size: int) -> dict[str, Any]:
    limit = int(args.limit_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    import numpy as np
    import torch

    from honed.domain.experiment import Experiment
    from honed.domain.experiment import ExperimentSpec
    from honed.domain.experiment import ExperimentState
    from honed.domain.metrics import Metric
    from honed.domain.parameters import Parameter
    from honed.domain.parameters import ParameterType
    from honed.domain.parameters import SearchSpace
    from honed.domain.records import MetricValue
    from honed.domain.records import Observation
    from honed.engine.base import ProposalRequest
    from honed.engine.botorch.engine import BoTorchEngine

    torch.set_num_threads(1)
    rng = np.random.default_rng(size)
    if args.exhausted:
        columns = args.exhausted // 16
        parameters: tuple[Parameter, ...] = (
            Parameter("a", ParameterType.INT, bounds=(1, 16)),
            Parameter("b", ParameterType.INT, bounds=(1, columns)),
        )
        points: list[dict[str, Any]] = [
            {"a": a, "b": b} for a in range(1, 17) for b in range(1, columns + 1)
        ]
    else:
        values = tuple(f"v{i}" for i in range(size))
        names = [f"c{j}" for j in range(args.categoricals)]
        parameters = (
            *(Parameter(n, ParameterType.CATEGORICAL, categorical_values=values) for n in names),
            Parameter("x", ParameterType.DOUBLE, bounds=(0.0, 1.0)),
            Parameter("y", ParameterType.DOUBLE, bounds=(0.0, 1.0)),
        )
        points = [
            {
                **{n: values[int(rng.integers(size))] for n in names},
                "x": float(rng.random()),
                "y": float(rng.random()),
            }
            for _ in range(args.observations)
        ]
    spec = ExperimentSpec("bench", SearchSpace(parameters), (Metric("f"),))
    experiment = Experiment(1, 1, spec, ExperimentState.ACTIVE, 0, 0)
    observations = [
        Observation(i, 1, None, point, (MetricValue("f", float(rng.random())),), False, None, 0)
        for i, point in enumerate(points)
    ]
    engine = BoTorchEngine(**({"fit_budget_seconds": args.budget} if args.budget else {}))
    request = ProposalRequest(experiment, 0, (), observations, count=args.count)
    started = time.perf_counter()
    try:
        outcome = f"{len(engine.propose(request).points)} points"
    except Exception as error:  # the figure is the outcome
        outcome = f"{type(error).__name__}: {str(error)[:120]}"
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "size": size,
        "peak_rss_mb": round(rss),
        "seconds": round(seconds, 2),
        "outcome": outcome,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20,100,500,2000")
    parser.add_argument("--observations", type=int, default=20)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--categoricals", type=int, default=1)
    parser.add_argument("--limit-gb", type=float, default=6.0)
    parser.add_argument("--budget", type=float, default=0.0)
    parser.add_argument("--exhausted", type=int, default=0)
    parser.add_argument("--child", type=int, default=None)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run_one(args, args.child)))
        return
    sizes = [args.exhausted] if args.exhausted else [int(s) for s in args.sizes.split(",")]
    for size in sizes:
        command = [sys.executable, *sys.argv, "--child", str(size)]
        done = subprocess.run(command, capture_output=True, text=True)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            print(
                json.dumps({"size": size, "exit": done.returncode, "stderr": done.stderr[-300:]})
            )
        else:
            print(lines[-1], flush=True)


if __name__ == "__main__":
    main()
