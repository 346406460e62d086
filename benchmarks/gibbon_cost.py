"""What pending points cost an evaluation of the multitask acquisition, side by side.

honed's multi-fidelity GP (``multitask.fit_task_model``) on ``--n`` observations of BoTorch's
augmented Hartmann6 at random points, each at one of three tasks (costs 0.1, 0.3, 1, as
``benchmarks/multitask.py``), and four acquisitions over it, with the same max-value
samples:

- ``botorch``: BoTorch's ``qMultiFidelityLowerBoundMaxValueEntropy``, nothing pending (what
  honed evaluated before ``gibbon.PendingGIBBON``: its constructor drops ``X_pending``);
- ``ours``: ``PendingGIBBON``, nothing pending;
- ``ours+P``: ``PendingGIBBON`` with ``--pending`` points pending at random tasks;
- ``botorch+P``: BoTorch's with the same points set by ``set_X_pending`` (its slow path).

Each is evaluated on the two shapes an optimization asks for: ``--starts`` points with
their gradient (an L-BFGS-B step over the tasks' restarts) and ``--raw`` points without (the
raw samples a task's restarts are chosen from). The variants alternate within every round
(``--rounds``), so that the machine's load hits each alike; one torch thread; CPU time
(``time.process_time``) per evaluation, the median over the rounds, and its ratio to
``botorch``'s.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/gibbon_cost.py [--n 40] [--pending 6]
       [--starts 24] [--raw 512] [--rounds 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.acquisition.max_value_entropy_search import qMultiFidelityLowerBoundMaxValueEntropy
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.models.cost import AffineFidelityCostModel
from botorch.test_functions.multi_fidelity import AugmentedHartmann

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.engine.botorch import multitask
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.gibbon import PendingGIBBON

DIMENSIONS = 6
#: Task name -> (fidelity s of the augmented Hartmann6, cost), as benchmarks/multitask.py.
TASKS = {"full": (1.0, 1.0), "medium": (0.75, 0.3), "cheap": (0.5, 0.1)}
VARIANTS = ("botorch", "ours", "ours+P", "botorch+P")


def acquisitions(n: int, pending: int, seed: int) -> dict[str, AcquisitionFunction]:
    generator = torch.Generator().manual_seed(seed)
    space = SearchSpace(
        tuple(Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(DIMENSIONS))
    )
    spec = ExperimentSpec(
        "augmented hartmann6",
        space,
        (Metric("f", Objective.MINIMIZE),),
        tasks=tuple(Task(name, cost) for name, (_, cost) in TASKS.items()),
    )
    names = list(TASKS)
    function = AugmentedHartmann()
    observations = []
    for i in range(n):
        x = torch.rand(DIMENSIONS, generator=generator, dtype=torch.double)
        task = names[int(torch.randint(0, len(names), (1,), generator=generator))]
        value = float(function(torch.cat([x, torch.tensor([TASKS[task][0]])])))
        point = {f"x{j}": float(x[j]) for j in range(DIMENSIONS)}
        observations.append(
            Observation(
                i + 1, 1, None, point, (MetricValue("f", value),), False, None, 0, task=task
            )
        )
    encoding = Encoding.of(space)
    model = multitask.fit_task_model(
        spec, encoding, multitask.task_observations(spec, observations)
    )
    d = encoding.dim
    candidates = torch.rand(multitask.MAX_VALUE_CANDIDATES, d, generator=generator).double()
    arguments: dict[str, object] = {
        "model": model,
        "candidate_set": torch.cat([candidates, torch.ones(len(candidates), 1).double()], 1),
        "cost_aware_utility": InverseCostWeightedUtility(
            cost_model=AffineFidelityCostModel(fidelity_weights={d: 1.0}, fixed_cost=0.0)
        ),
        "project": partial(
            project_to_target_fidelity, target_fidelities={d: multitask.TARGET_COST}, d=d + 1
        ),
    }
    costs = torch.tensor([cost for _, cost in TASKS.values()], dtype=torch.double)
    at = costs[torch.randint(0, len(costs), (pending,), generator=generator)].unsqueeze(1)
    points = torch.cat([torch.rand(pending, d, generator=generator).double(), at], 1)
    result: dict[str, AcquisitionFunction] = {
        "botorch": qMultiFidelityLowerBoundMaxValueEntropy(**arguments),  # type: ignore[arg-type]
        "ours": PendingGIBBON(**arguments),  # type: ignore[arg-type]
        "ours+P": PendingGIBBON(**arguments),  # type: ignore[arg-type]
        "botorch+P": qMultiFidelityLowerBoundMaxValueEntropy(**arguments),  # type: ignore[arg-type]
    }
    result["ours+P"].set_X_pending(points)
    result["botorch+P"].set_X_pending(points)
    probe = torch.cat([candidates[:2], torch.ones(2, 1).double()], 1).unsqueeze(1)
    for acquisition in result.values():
        acquisition.posterior_max_values = result["botorch"].posterior_max_values
        with torch.no_grad():
            # The GP's prediction caches built without a graph, as an optimization's raw
            # samples build them before its first gradient step.
            acquisition(probe)
    return result


def timed(evaluate: Callable[[], object]) -> float:
    started = time.process_time()
    evaluate()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--pending", type=int, default=6)
    parser.add_argument("--starts", type=int, default=24)
    parser.add_argument("--raw", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    functions = acquisitions(args.n, args.pending, args.seed)
    generator = torch.Generator().manual_seed(args.seed + 1)
    costs = torch.tensor([cost for _, cost in TASKS.values()], dtype=torch.double)

    def points(k: int) -> torch.Tensor:
        x = torch.rand(k, 1, DIMENSIONS, generator=generator).double()
        at = costs[torch.randint(0, len(costs), (k, 1, 1), generator=generator)]
        return torch.cat([x, at], -1)

    def ascent_step(acquisition: AcquisitionFunction, X: torch.Tensor) -> None:
        X = X.clone().requires_grad_(True)
        # The gradient in the points only, as BoTorch's L-BFGS-B asks for it.
        torch.autograd.grad(acquisition(X).sum(), X)

    def scoring(acquisition: AcquisitionFunction, X: torch.Tensor) -> None:
        with torch.no_grad():
            acquisition(X)

    shapes = {
        f"{args.starts} points with gradient": (args.starts, ascent_step),
        f"{args.raw} points without": (args.raw, scoring),
    }
    print(
        f"n = {args.n} observations, {args.pending} pending, {args.rounds} rounds, "
        "CPU ms per evaluation (median), ratio to botorch"
    )
    for label, (k, evaluate) in shapes.items():
        seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for round_ in range(args.rounds + 1):
            X = points(k)
            for variant in VARIANTS:
                spent = timed(partial(evaluate, functions[variant], X))
                if round_ > 0:  # the first round warms every variant up
                    seconds[variant].append(spent)
        base = statistics.median(seconds["botorch"])
        cells = ", ".join(
            f"{v} {1000 * statistics.median(s):.1f} ({statistics.median(s) / base:.2f})"
            for v, s in seconds.items()
        )
        print(f"{label}: {cells}")


if __name__ == "__main__":
    main()
