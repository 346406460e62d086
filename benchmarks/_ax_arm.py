"""The Ax arm of quality.py, run by the python of benchmarks/.venv-ax (Ax pins its own BoTorch).

Reads a JSON list of runs ``[{"problem", "budget", "seed"}, ...]`` from stdin, runs each with
Ax's ``Client`` and its default generation strategy (centre point, Sobol, then "MBM
defaults"), and prints one JSON object per run on stdout. Candidates for parallel workers
come from ``get_next_trials(max_trials=1)`` while the other trials are still RUNNING, which
Ax treats as pending. Ax's own log output goes to stderr.

Usage: benchmarks/.venv-ax/bin/python benchmarks/_ax_arm.py < runs.json
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

from _quality_problems import BUDGETS
from _quality_problems import PROBLEMS
from _quality_problems import Arm
from _quality_problems import Point
from _quality_problems import Problem
from _quality_problems import simulate


def _parameters(problem: Problem) -> list[Any]:
    from ax.api.configs import ChoiceParameterConfig
    from ax.api.configs import RangeParameterConfig

    if problem.conditionals:
        raise ValueError(f"{problem.name}: this Ax arm has no conditional (hierarchical) spaces")
    configs: list[Any] = []
    for p in problem.params:
        if p.kind == "categorical":
            configs.append(
                ChoiceParameterConfig(
                    name=p.name, values=list(p.values), parameter_type="str", is_ordered=False
                )
            )
        elif p.kind == "int":
            configs.append(
                RangeParameterConfig(
                    name=p.name, bounds=(int(p.low), int(p.high)), parameter_type="int"
                )
            )
        else:
            configs.append(
                RangeParameterConfig(name=p.name, bounds=(p.low, p.high), parameter_type="float")
            )
    return configs


def run_one(problem: Problem, evaluations: int, workers: int, seed: int) -> dict[str, Any]:
    from ax.api.client import Client

    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=_parameters(problem),
        parameter_constraints=[c.ax_string() for c in problem.constraints],
        name=f"{problem.name}-{seed}",
    )
    client.configure_optimization(objective="-f")
    last_node = [""]

    def ask(pending: Sequence[Point]) -> tuple[int, Point] | None:
        trials = client.get_next_trials(max_trials=1)
        if not trials:
            return None
        index, parameters = next(iter(trials.items()))
        runs = client._experiment.trials[index].generator_runs
        last_node[0] = str(getattr(runs[0], "_generation_node_name", "") if runs else "")
        return index, dict(parameters)

    def tell(index: int, point: Point, value: float) -> None:
        client.complete_trial(trial_index=index, raw_data={"f": value})

    arm: Arm[int] = Arm(ask=ask, tell=tell, is_model=lambda: last_node[0] == "MBM")
    return simulate(problem, arm, evaluations, workers, seed)


def main() -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    started = time.perf_counter()
    import ax

    import_seconds = time.perf_counter() - started
    runs = json.loads(sys.stdin.read())
    for run in runs:
        evaluations, workers = BUDGETS[run["budget"]]
        result: dict[str, Any] = {
            "problem": run["problem"],
            "budget": run["budget"],
            "arm": "ax",
            "seed": run["seed"],
            "import_seconds": import_seconds,
            "version": ax.__version__,
        }
        begun = time.perf_counter()
        try:
            problem = PROBLEMS[run["problem"]]
            result.update(run_one(problem, evaluations, workers, int(run["seed"])))
        except Exception:
            result["error"] = traceback.format_exc()[-2000:]
        result["wall_seconds"] = time.perf_counter() - begun
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
