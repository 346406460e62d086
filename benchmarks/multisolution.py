"""Multisolution through ``honed serve``: does ``num_solutions = 3`` give solutions in three
different basins?

Problems with several separated optima of equal value (minimised): Branin (three global
minima) and Himmelblau (four). Each run starts a fresh ``honed serve`` (SQLite, one optimizer
process), creates the experiment over HTTP, and drives it with one sequential worker
(suggestion, instant evaluation, observation) for ``--evaluations`` evaluations. Then it
reads ``best_assignments``. Arms, side by side on the same seeds:

- ``honed``: ``num_solutions = 3``. The optimizer takes turns between the whole space, the
  solutions found, and a search for the ones not found yet; best assignments returns the
  best of each basin.
- ``honed-one``: the same experiment with one solution (the optimizer looks for the single
  best), and the same diverse pick made afterwards from its observations: what the optimizer's
  turns add.

A solution is in a basin when it lies within ``BASIN_RADIUS`` (unit-cube distance) of that
optimum. The table gives, per problem and arm, the share of seeds whose three solutions lie in
three different basins, the mean number of basins found, and the median gap between the
solutions' values and the optimum.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/multisolution.py [--seeds 10]
        [--evaluations 40] [--problems branin,himmelblau] [--arms honed,honed-one]
"""

from __future__ import annotations

import argparse
import json
import math
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _served_arm import create_experiment
from _served_arm import wait_for_optimizer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SOLUTIONS = 3
#: A solution within this Euclidean distance of an optimum, in the unit square, is on it.
BASIN_RADIUS = 0.1


@dataclass(frozen=True)
class Problem:
    function: Callable[[float, float], float]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    optima: tuple[tuple[float, float], ...]
    minimum: float


def branin(x: float, y: float) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def himmelblau(x: float, y: float) -> float:
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


PROBLEMS = {
    "branin": Problem(
        branin,
        ((-5.0, 10.0), (0.0, 15.0)),
        ((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)),
        0.397887,
    ),
    "himmelblau": Problem(
        himmelblau,
        ((-5.0, 5.0), (-5.0, 5.0)),
        ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)),
        0.0,
    ),
}
ARMS = ("honed", "honed-one")


def unit(problem: Problem, x: float, y: float) -> tuple[float, float]:
    (x0, x1), (y0, y1) = problem.bounds
    return (x - x0) / (x1 - x0), (y - y0) / (y1 - y0)


def basins(problem: Problem, points: Sequence[tuple[float, float]]) -> int:
    """How many different optima the points lie on."""
    found = set()
    for x, y in points:
        u = unit(problem, x, y)
        for index, optimum in enumerate(problem.optima):
            if math.dist(u, unit(problem, *optimum)) <= BASIN_RADIUS:
                found.add(index)
    return len(found)


def experiment_body(problem: Problem, evaluations: int, solutions: int) -> dict[str, Any]:
    (x0, x1), (y0, y1) = problem.bounds
    return {
        "name": "multisolution",
        "parameters": [
            {"name": "x", "type": "double", "bounds": {"min": x0, "max": x1}},
            {"name": "y", "type": "double", "bounds": {"min": y0, "max": y1}},
        ],
        "metrics": [{"name": "f", "objective": "minimize"}],
        "observation_budget": evaluations,
        "num_solutions": solutions,
    }


def run(problem_name: str, arm: str, seed: int, evaluations: int) -> dict[str, Any]:
    import httpx

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.server import running_server

    from honed.domain.parameters import Parameter
    from honed.domain.parameters import ParameterType
    from honed.domain.parameters import SearchSpace
    from honed.domain.ranking import diverse_best
    from honed.domain.records import MetricValue
    from honed.domain.records import Observation

    problem = PROBLEMS[problem_name]
    token = secrets.token_urlsafe(24)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="honed-multisolution-") as tmp:
        url = f"sqlite:///{tmp}/honed.db"
        with running_server(url, token=token, optimizers=1, startup_timeout=120) as server:
            wait_for_optimizer(url, 180)
            with httpx.Client(base_url=server.url, auth=(token, ""), timeout=600) as client:
                wanted = SOLUTIONS if arm == "honed" else 1
                body = experiment_body(problem, evaluations, wanted)
                eid = create_experiment(client, body, seed)
                base = f"/v1/experiments/{eid}"
                history = []
                for _ in range(evaluations):
                    suggestion = client.post(f"{base}/suggestions", json={})
                    suggestion.raise_for_status()
                    point = suggestion.json()["assignments"]
                    value = problem.function(float(point["x"]), float(point["y"]))
                    client.post(
                        f"{base}/observations",
                        json={"suggestion": suggestion.json()["id"], "value": value},
                    ).raise_for_status()
                    history.append((point, value))
                best = client.get(f"{base}/best_assignments", params={"limit": 100})
                best.raise_for_status()
                solutions = [
                    (b["assignments"], b["value"] if "value" in b else b["values"][0]["value"])
                    for b in best.json()["data"]
                ]
    if arm == "honed-one":
        # The same diverse pick, from the observations of a one-solution optimization.
        (x0, x1), (y0, y1) = problem.bounds
        space = SearchSpace(
            (
                Parameter("x", ParameterType.DOUBLE, (x0, x1)),
                Parameter("y", ParameterType.DOUBLE, (y0, y1)),
            )
        )
        ranked = sorted(
            (
                Observation(i, 1, None, p, (MetricValue("f", v),), False, None, 0)
                for i, (p, v) in enumerate(history)
            ),
            key=lambda o: (o.values[0].value, o.id),
        )
        picked = diverse_best(space, ranked, SOLUTIONS)
        solutions = [(o.assignments, o.values[0].value) for o in picked]
    points = [(float(p["x"]), float(p["y"])) for p, _ in solutions]
    return {
        "problem": problem_name,
        "arm": arm,
        "seed": seed,
        "solutions": len(solutions),
        "basins": basins(problem, points),
        "gaps": [v - problem.minimum for _, v in solutions],
        "seconds": time.perf_counter() - began,
    }


def table(runs: Sequence[dict[str, Any]], problems: Sequence[str], arms: Sequence[str]) -> str:
    lines = [
        f"| problem | arm | seeds | {SOLUTIONS} basins | mean basins | median gap | "
        "worst gap (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for problem in problems:
        for arm in arms:
            mine = [r for r in runs if r["problem"] == problem and r["arm"] == arm]
            if not mine:
                continue
            full = sum(r["basins"] == SOLUTIONS for r in mine)
            gaps = [g for r in mine for g in r["gaps"]]
            worst = [max(r["gaps"]) for r in mine if r["gaps"]]
            lines.append(
                f"| {problem} | {arm} | {len(mine)} | {full}/{len(mine)} "
                f"| {statistics.mean(r['basins'] for r in mine):.2f} "
                f"| {statistics.median(gaps):.3g} | {statistics.median(worst):.3g} |"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--output", type=Path, default=RESULTS / "multisolution.json")
    args = parser.parse_args(argv)
    problems = [p for p in args.problems.split(",") if p]
    arms = [a for a in args.arms.split(",") if a]
    for name, known in (("problems", PROBLEMS), ("arms", ARMS)):
        unknown = set(problems if name == "problems" else arms) - set(known)
        if unknown:
            parser.error(f"unknown {name}: {sorted(unknown)}")
    runs = []
    for seed in range(args.seeds):
        for problem in problems:
            for arm in arms:
                result = run(problem, arm, seed, args.evaluations)
                runs.append(result)
                print(
                    f"{problem} {arm} seed {seed}: {result['basins']} basins, gaps "
                    f"{[round(g, 3) for g in result['gaps']]} ({result['seconds']:.0f} s)",
                    flush=True,
                )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(runs, indent=1))
    print()
    print(table(runs, problems, arms))


if __name__ == "__main__":
    main()
