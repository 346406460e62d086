"""CPU seconds of a multitask proposal, for comparing revisions run one after the other.

``BoTorchEngine.propose`` on ``--n`` observations of BoTorch's augmented Hartmann6 at random
points, each at one of three tasks (``benchmarks/multitask.py``'s), asking for ``--count``
points with ``--open`` open suggestions (random points at random tasks) pending: the
request an optimizer process serves to several workers. The same requests for every
revision (seeded); one torch thread; CPU time (``time.process_time``, what a quiet core
would take), the median of ``--reps``; and the points, to see where revisions agree.
Run it with each revision's ``src`` on the path:

    PYTHONPATH=src .venv/bin/python benchmarks/multitask_proposal.py [--n 40,70]
        [--count 1,6] [--open 0,3] [--reps 2]

A cell with ``--count`` 1 and nothing open is a sequential worker's request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch
from botorch.test_functions.multi_fidelity import AugmentedHartmann

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Assignments
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.engine.base import ProposalRequest
from honed.engine.botorch.engine import BoTorchEngine

DIMENSIONS = 6
#: Task name -> (fidelity s of the augmented Hartmann6, cost), as benchmarks/multitask.py.
TASKS = {"full": (1.0, 1.0), "medium": (0.75, 0.3), "cheap": (0.5, 0.1)}


def request(n: int, count: int, open_: int, seed: int) -> ProposalRequest:
    generator = torch.Generator().manual_seed(seed)
    names = list(TASKS)
    function = AugmentedHartmann()

    def point() -> tuple[Assignments, str, torch.Tensor]:
        x = torch.rand(DIMENSIONS, generator=generator, dtype=torch.double)
        task = names[int(torch.randint(0, len(names), (1,), generator=generator))]
        return {f"x{i}": float(x[i]) for i in range(DIMENSIONS)}, task, x

    observations = []
    for i in range(n):
        assignments, task, x = point()
        value = float(function(torch.cat([x, torch.tensor([TASKS[task][0]])])))
        observations.append(
            Observation(
                i + 1, 1, None, assignments, (MetricValue("f", value),), False, None, 0, task=task
            )
        )
    pending = [point() for _ in range(open_)]
    spec = ExperimentSpec(
        "augmented hartmann6",
        SearchSpace(
            tuple(Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(DIMENSIONS))
        ),
        (Metric("f", Objective.MINIMIZE),),
        observation_budget=100,
        tasks=tuple(Task(name, cost) for name, (_, cost) in TASKS.items()),
    )
    return ProposalRequest(
        Experiment(1, 1, spec, ExperimentState.ACTIVE, 0, 0),
        n,
        [p for p, _, _ in pending],
        observations,
        count,
        pending_tasks=[t for _, t, _ in pending],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", default="40,70")
    parser.add_argument("--count", default="1,6")
    parser.add_argument("--open", default="0,3")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for n in (int(v) for v in args.n.split(",")):
        for count in (int(v) for v in args.count.split(",")):
            for open_ in (int(v) for v in args.open.split(",")):
                seconds, points = [], None
                for _ in range(args.reps):
                    torch.manual_seed(args.seed)
                    started = time.process_time()
                    proposal = BoTorchEngine().propose(request(n, count, open_, args.seed))
                    seconds.append(time.process_time() - started)
                    tasks = proposal.tasks or [None] * len(proposal.points)
                    points = [[p, t] for p, t in zip(proposal.points, tasks, strict=True)]
                cell: dict[str, Any] = {
                    "n": n,
                    "count": count,
                    "open": open_,
                    "cpu_seconds": round(statistics.median(seconds), 2),
                    "points": points,
                }
                print(json.dumps(cell), flush=True)


if __name__ == "__main__":
    main()
