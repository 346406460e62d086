"""What the model analysis (importance, slices) costs next to the proposal it follows.

For every cell (n observations, d double parameters in [0, 1], Ackley on [-5, 10]^d minimised
from random points) one BoTorchEngine.propose(count=1) fits the model, then
BoTorchEngine.analyze() runs ``--reps`` times on it. Printed per cell: the proposal's wall
time, the analysis's median wall and CPU time (one torch thread; CPU time is what a quiet
core would take on a shared machine) and the ratio analysis / proposal, measured side by
side in one process.

Usage: .venv/bin/python benchmarks/model_analysis.py [--n 20,100] [--d 2,5,10,20] [--reps 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

from fit_speed import ackley


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", default="20,100")
    parser.add_argument("--d", default="2,5,10,20")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

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
    print(f"{'d':>3} {'n':>4} {'propose s':>10} {'analyze s':>10} {'cpu s':>8} {'ratio':>7}")
    for d in (int(v) for v in args.d.split(",")):
        names = [f"x{i}" for i in range(d)]
        space = SearchSpace(tuple(Parameter(n, ParameterType.DOUBLE, (0.0, 1.0)) for n in names))
        spec = ExperimentSpec("analysis", space, (Metric("f", Objective.MINIMIZE),))
        experiment = Experiment(1, 1, spec, ExperimentState.ACTIVE, 0, 0)
        for n in (int(v) for v in args.n.split(",")):
            generator = torch.Generator().manual_seed(n * 100 + d)
            rows = torch.rand(n, d, generator=generator, dtype=torch.float64).tolist()
            observations = [
                Observation(
                    i + 1,
                    1,
                    None,
                    dict(zip(names, row, strict=True)),
                    (MetricValue("f", ackley(row)),),
                    False,
                    None,
                    0,
                )
                for i, row in enumerate(rows)
            ]
            engine = BoTorchEngine(warm_starts={})
            started = time.perf_counter()
            engine.propose(ProposalRequest(experiment, 0, [], observations, 1))
            propose = time.perf_counter() - started
            wall, cpu = [], []
            for _ in range(args.reps):
                started, cpu_started = time.perf_counter(), time.process_time()
                analysis = engine.analyze()
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
                assert analysis is not None
            analyze = statistics.median(wall)
            print(
                f"{d:>3} {n:>4} {propose:>10.3f} {analyze:>10.4f} "
                f"{statistics.median(cpu):>8.4f} {analyze / propose:>7.3f}"
            )


if __name__ == "__main__":
    main()
