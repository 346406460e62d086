"""Multitask at equal cost: do cheap tasks buy a better full-cost result than spending the
same cost on full-cost evaluations alone?

The problem is BoTorch's augmented Hartmann6 (minimised). Its seventh input ``s`` is the
fidelity: ``s = 1`` is the true function, a lower ``s`` a biased approximation that stays
correlated with it. The experiment has three tasks, with cost growing with fidelity:

- ``full``: s = 1, cost 1;
- ``medium``: s = 0.75, cost 0.3;
- ``cheap``: s = 0.5, cost 0.1.

Two arms run side by side on the same seeds. Each is one sequential worker with instant
evaluations, and calls honed's engine directly.

- ``honed-multitask``: the experiment with its tasks. honed chooses the point and the task,
  and evaluations go on until the cost spent reaches ``--budget``.
- ``honed-single``: the same experiment without tasks: ``--budget`` full-cost evaluations.

Regret is the best *full-cost* observed value minus the optimum (-3.32237), which is what
best assignments returns. The table gives each arm's median and quartiles over the seeds,
the ratio single / multitask of the medians (the goal is at least 2), and how the
multitask arm spent its budget.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/multitask.py [--seeds 10]
        [--budget 30] [--jobs 2] [--runs-file PATH] [--resume]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ARMS = ("honed-multitask", "honed-single")
DIMENSIONS = 6
OPTIMUM = -3.32237
#: Task name -> (fidelity s of the augmented Hartmann6, cost).
TASKS = {"full": (1.0, 1.0), "medium": (0.75, 0.3), "cheap": (0.5, 0.1)}


def run(arm: str, seed: int, budget: float) -> dict[str, Any]:
    """One run: the arm's sequential loop until its budget is spent."""
    import torch
    from botorch.test_functions.multi_fidelity import AugmentedHartmann

    from honed.domain.experiment import Experiment
    from honed.domain.experiment import ExperimentSpec
    from honed.domain.experiment import ExperimentState
    from honed.domain.experiment import Task
    from honed.domain.metrics import Metric
    from honed.domain.metrics import Objective
    from honed.domain.parameters import Parameter
    from honed.domain.parameters import ParameterType
    from honed.domain.parameters import SearchSpace
    from honed.domain.records import MetricValue
    from honed.domain.records import Observation
    from honed.engine.base import ProposalRequest
    from honed.engine.botorch.engine import BoTorchEngine
    from honed.engine.tasks import design_task

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    function = AugmentedHartmann()
    multitask = arm == "honed-multitask"
    tasks = tuple(Task(name, cost) for name, (_, cost) in TASKS.items()) if multitask else ()
    space = SearchSpace(
        tuple(Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(DIMENSIONS))
    )
    spec = ExperimentSpec(
        "augmented hartmann6",
        space,
        (Metric("f", Objective.MINIMIZE),),
        observation_budget=int(budget),
        tasks=tasks,
    )
    # The experiment id seeds the Sobol design: one per seed, the same for both arms.
    experiment = Experiment(1 + seed, 1, spec, ExperimentState.ACTIVE, 0, 0)
    engine = BoTorchEngine(warm_starts={})
    observations: list[Observation] = []
    spent, cursor, best = 0.0, 0, float("inf")
    trace: list[tuple[float, float]] = []  # (cost spent, best full-cost value so far)
    started = time.perf_counter()
    while spent < budget - 1e-9:
        proposal = engine.propose(ProposalRequest(experiment, cursor, [], observations, 1))
        point = proposal.points[0]
        # As the service does: the engine's task, else the design's (honed.engine.tasks).
        task = proposal.tasks[0] if proposal.tasks else design_task(spec, cursor)
        cursor = proposal.cursor
        fidelity, cost = TASKS[task] if task is not None else (1.0, 1.0)
        x = [float(point[f"x{i}"]) for i in range(DIMENSIONS)]
        value = float(function(torch.tensor([*x, fidelity])))
        observations.append(
            Observation(
                len(observations) + 1,
                experiment.id,
                None,
                point,
                (MetricValue("f", value),),
                False,
                None,
                0,
                task=task,
            )
        )
        spent += cost
        if fidelity == 1.0:
            best = min(best, value)
        trace.append((spent, best - OPTIMUM))
    return {
        "arm": arm,
        "seed": seed,
        "budget": budget,
        "regret": best - OPTIMUM,
        "evaluations": len(observations),
        "tasks": dict(Counter(o.task or "full" for o in observations)),
        "trace": trace,
        "seconds": time.perf_counter() - started,
    }


def _run_job(job: tuple[str, int, float]) -> dict[str, Any]:
    return run(*job)


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q1, q2, q3


def table(runs: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| arm | seeds | median regret | quartiles | evaluations (median) | tasks (all seeds) |",
        "|---|---|---|---|---|---|",
    ]
    medians: dict[str, float] = {}
    for arm in ARMS:
        mine = [r for r in runs if r["arm"] == arm]
        if not mine:
            continue
        regrets = [r["regret"] for r in mine]
        q1, median, q3 = _quartiles(regrets)
        medians[arm] = median
        tasks: Counter[str] = Counter()
        for r in mine:
            tasks.update(r["tasks"])
        evaluations = statistics.median(r["evaluations"] for r in mine)
        lines.append(
            f"| {arm} | {len(mine)} | {median:.4g} | {q1:.4g} to {q3:.4g} | {evaluations:g} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(tasks.items()))} |"
        )
    if len(medians) == 2 and medians["honed-multitask"] > 0:
        ratio = medians["honed-single"] / medians["honed-multitask"]
        lines.append("")
        lines.append(f"single / multitask median regret: {ratio:.2f} (goal: at least 2)")
    paired = {
        seed: {r["arm"]: r["regret"] for r in runs if r["seed"] == seed}
        for seed in sorted({r["seed"] for r in runs})
    }
    wins = sum(
        1 for v in paired.values() if len(v) == 2 and v["honed-multitask"] < v["honed-single"]
    )
    complete = sum(1 for v in paired.values() if len(v) == 2)
    lines.append(f"multitask better on {wins} of {complete} seeds")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=30.0, help="cost per run (default 30)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--runs-file", type=Path, default=RESULTS / "multitask.runs.jsonl")
    parser.add_argument("--resume", action="store_true", help="reuse runs in the runs file")
    args = parser.parse_args(argv)
    arms = [a for a in args.arms.split(",") if a]
    if set(arms) - set(ARMS):
        parser.error(f"unknown arms: {sorted(set(arms) - set(ARMS))}")
    done: list[dict[str, Any]] = []
    if args.resume and args.runs_file.exists():
        done = [json.loads(line) for line in args.runs_file.read_text().splitlines() if line]
    have = {(r["arm"], r["seed"]) for r in done if r["budget"] == args.budget}
    jobs = [
        (arm, seed, args.budget)
        for seed in range(args.seeds)
        for arm in arms
        if (arm, seed) not in have
    ]
    args.runs_file.parent.mkdir(parents=True, exist_ok=True)
    runs = [r for r in done if r["budget"] == args.budget]
    with ProcessPoolExecutor(args.jobs) as pool, args.runs_file.open("a") as out:
        for result in pool.map(_run_job, jobs):
            out.write(json.dumps(result) + "\n")
            out.flush()
            runs.append(result)
            print(
                f"{result['arm']} seed {result['seed']}: regret {result['regret']:.4g} after "
                f"{result['evaluations']} evaluations {result['tasks']} "
                f"({result['seconds']:.0f} s)",
                flush=True,
            )
    print()
    print(table(runs))


if __name__ == "__main__":
    main()
