"""Multitask at equal cost: do cheap tasks buy a better full-cost result than spending the
same cost on full-cost evaluations alone? Directly, and through ``honed serve`` with several
workers running the official sigopt client.

The problem is BoTorch's augmented Hartmann6 (minimised). Its seventh input ``s`` is the
fidelity: ``s = 1`` is the true function, a lower ``s`` a biased approximation that stays
correlated with it. The experiment has three tasks, with cost growing with fidelity:

- ``full``: s = 1, cost 1;
- ``medium``: s = 0.75, cost 0.3;
- ``cheap``: s = 0.5, cost 0.1.

Four arms run on the same seeds, in pairs compared at equal cost. The direct pair is one
sequential worker with instant evaluations that calls honed's engine directly:

- ``honed-multitask``: the experiment with its tasks. honed chooses the point and the task,
  and evaluations go on until the cost spent reaches ``--budget``.
- ``honed-single``: the same experiment without tasks: ``--budget`` full-cost evaluations.

The served pair is users' path: a fresh ``honed serve`` per run (SQLite, one optimizer
process, ``--log-level info``; ``_served_arm.fresh_server``), the experiment created with the
official ``sigopt`` client (id ``1 + seed`` as the direct arms', which seeds the Sobol
design), and ``--workers`` spawned processes (default 4), each running the client's loop
unchanged: ``Connection(client_token=...)`` with ``SIGOPT_API_URL`` naming the server,
suggestion create, evaluation at the suggestion's ``task`` (its name gives the fidelity, its
cost what it spent), observation create of the suggestion (which is of the suggestion's
task: SigOpt refuses a ``task`` beside ``suggestion``). The cost is counted over the
suggestions handed out, shared by the workers: a worker asks while the cost spent plus the
asks in flight (each up to cost 1) is under the budget, so the workers overshoot it by less
than one evaluation's cost, as the sequential loop does.

- ``honed-served-multitask``: the experiment with its tasks.
- ``honed-served-single``: without tasks, ``--budget`` full-cost evaluations.

Regret is the best *full-cost* observed value minus the optimum (-3.32237), which is what
best assignments returns; the served runs are scored in the order the server stored their
observations. The first table gives each arm's median and quartiles over the seeds, the
ratio single / multitask of the medians per pair (the goal is at least 2), the seeds on
which multitask was better, and how each arm spent its budget by task (evaluations and share
of the cost).

For the served arms a second table gives the suggestion create latency (p50, p95, max) per
``source``: ``engine`` (the initial design), ``optimizer``, ``fallback`` (Sobol, when no model
point came in time). A third gives the optimizer's proposals, from the server log's
"experiment N: K candidates from M observations, P pending, in X s" lines (one per fit): their
count, p50/p95/max seconds, candidates per fit, seconds per candidate, and the share of
optimizer suggestions whose model was fresh (the suggestion's ``model`` extension), then the
proposal time by the observations in the model. Below them every served run is checked:
the stored suggestions and observations are the workers' own, each observation of its
suggestion's task, no (point, task) handed out twice, no fallback, no optimizer error, no
request answered other than 200 (from the access log), ``observation_budget_consumed``
equals the cost spent, and best assignments is the best full-cost result. Served runs go one
at a time, before the direct runs (``--jobs`` at once); the 1-minute load average at each
run's start and end is kept and summarised.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/multitask.py [--seeds 10]
        [--budget 30] [--workers 4] [--jobs 2]
        [--arms honed-multitask,honed-single,honed-served-multitask,honed-served-single]
        [--runs-file PATH] [--resume]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from _served_arm import REQUEST_TIMEOUT
from _served_arm import SOURCES
from _served_arm import create_experiment
from _served_arm import drive
from _served_arm import fresh_server
from _served_arm import ready_then_wait
from _served_arm import reporting

if TYPE_CHECKING:
    from multiprocessing.context import SpawnContext
    from multiprocessing.queues import Queue
    from multiprocessing.sharedctypes import SynchronizedArray
    from multiprocessing.synchronize import Event

RESULTS = Path(__file__).resolve().parent / "results"
DIRECT = ("honed-multitask", "honed-single")
SERVED = ("honed-served-multitask", "honed-served-single")
ARMS = (*DIRECT, *SERVED)
#: (multitask arm, single-task arm) compared at equal cost.
PAIRS = (DIRECT, SERVED)
DIMENSIONS = 6
OPTIMUM = -3.32237
#: Task name -> (fidelity s of the augmented Hartmann6, cost).
TASKS = {"full": (1.0, 1.0), "medium": (0.75, 0.3), "cheap": (0.5, 0.1)}
MULTITASK = ("honed-multitask", "honed-served-multitask")
#: Ask no more suggestions once this close to the budget (float sums of the costs).
EPSILON = 1e-9


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
    multitask = arm in MULTITASK
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
    while spent < budget - EPSILON:
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


# --- the served arms: honed serve, the official sigopt client, several workers -------------

#: The optimizer's line per fit at ``--log-level info`` (honed.service.optimizer).
FIT_LINE = re.compile(
    r"experiment (\d+): (\d+) candidates from (\d+) observations, (\d+) pending, in ([\d.]+)s"
)
#: uvicorn's access log line at info: the method, the path and the status.
ACCESS_LINE = re.compile(r'"(GET|POST|PUT|DELETE) (\S+) HTTP/[\d.]+" (\d{3})')
#: The shared budget account of the served workers (a synchronized array of doubles).
SPENT, ASKING, NEXT_SLOT = 0, 1, 2


def experiment_body(arm: str, budget: float, workers: int) -> dict[str, Any]:
    """The experiment as SigOpt's JSON: the direct arms' space, metric and budget."""
    body: dict[str, Any] = {
        "name": "augmented hartmann6",
        "parameters": [
            {"name": f"x{i}", "type": "double", "bounds": {"min": 0, "max": 1}}
            for i in range(DIMENSIONS)
        ],
        "metrics": [{"name": "f", "objective": "minimize"}],
        "observation_budget": int(budget),
        "parallel_bandwidth": workers,
    }
    if arm in MULTITASK:
        body["tasks"] = [{"name": name, "cost": cost} for name, (_, cost) in TASKS.items()]
    return body


@dataclass(frozen=True)
class ServedPlan:
    index: int
    url: str
    token: str
    experiment_id: str
    budget: float


def _budget_account(context: SpawnContext) -> SynchronizedArray[float]:
    """[cost spent, suggestions being asked for, next slot], under one lock."""
    return context.Array("d", 3)


def _take_slot(account: SynchronizedArray[float], budget: float) -> int | None:
    """The next suggestion's slot, or None once the cost spent reaches the budget.

    A suggestion's cost is known only once it is handed out (its task), so one being asked
    for counts as up to the full cost 1: a worker asks only while the cost spent plus the
    asks in flight stay under the budget, and otherwise waits for those to settle. One worker
    then behaves as the direct arms' loop (ask while spent < budget), and several overshoot
    the budget by less than one evaluation's cost, as that loop does."""
    while True:
        with account.get_lock():
            spent, asking = account[SPENT], account[ASKING]
            if spent >= budget - EPSILON:
                return None
            if spent + asking < budget - EPSILON:
                slot = int(account[NEXT_SLOT])
                account[NEXT_SLOT] = slot + 1
                account[ASKING] = asking + 1
                return slot
        time.sleep(0.01)


def _settle(account: SynchronizedArray[float], cost: float) -> None:
    with account.get_lock():
        account[SPENT] += cost
        account[ASKING] -= 1


def served_worker(
    plan: ServedPlan, account: SynchronizedArray[float], messages: Queue[Any], go: Event
) -> None:
    """A user's worker: the official sigopt client's loop (suggestion, evaluation at the
    suggestion's task, observation of the suggestion) until the budget is spent."""
    with reporting(plan.index, messages):
        # As users point the client at their server (and name a project, which
        # ``import sigopt`` wants).
        os.environ["SIGOPT_API_URL"] = plan.url
        os.environ.setdefault("SIGOPT_PROJECT", "honed-benchmarks")
        import sigopt
        import torch
        from botorch.test_functions.multi_fidelity import AugmentedHartmann

        torch.set_num_threads(1)
        function = AugmentedHartmann()
        conn = sigopt.Connection(client_token=plan.token)
        experiment = conn.experiments(plan.experiment_id)
        experiment.fetch()  # open the connection before the clock
        ready_then_wait(plan.index, messages, go)
        records: list[dict[str, Any]] = []
        while (slot := _take_slot(account, plan.budget)) is not None:
            started = time.perf_counter()
            try:
                suggestion = experiment.suggestions().create()
                task = suggestion.task
                cost = float(task.cost) if task is not None else 1.0
            except BaseException:
                _settle(account, 0.0)
                raise
            seconds = time.perf_counter() - started
            _settle(account, cost)
            name = str(task.name) if task is not None else None
            fidelity = TASKS[name][0] if name is not None else 1.0
            assignments = suggestion.assignments.to_json()
            x = [float(assignments[f"x{i}"]) for i in range(DIMENSIONS)]
            value = float(function(torch.tensor([*x, fidelity])))
            observing = time.perf_counter()
            # The observation of a suggestion is of the suggestion's task: SigOpt refuses a
            # ``task`` sent beside ``suggestion`` (it goes with ``assignments`` only).
            observation = experiment.observations().create(
                suggestion=suggestion.id, values=[{"name": "f", "value": value}]
            )
            wire = suggestion.to_json()
            records.append(
                {
                    "slot": slot,
                    "worker": plan.index,
                    "suggestion": str(suggestion.id),
                    "observation": int(observation.id),
                    "task": name,
                    "cost": cost,
                    "value": value,
                    "seconds": seconds,
                    "observe_seconds": time.perf_counter() - observing,
                    "source": str(wire.get("source", "unknown")),
                    "model": wire.get("model"),
                }
            )
        conn.impl.driver.session.close()
        messages.put(("result", plan.index, records))


def _connect(url: str, token: str) -> Any:
    os.environ.setdefault("SIGOPT_PROJECT", "honed-benchmarks")
    import sigopt

    conn = sigopt.Connection(client_token=token)
    conn.set_api_url(url)
    return conn


def _log_figures(log: str) -> dict[str, Any]:
    """The optimizer's fits, and the requests that were not answered 200, from the log."""
    fits = [
        {
            "candidates": int(m.group(2)),
            "observations": int(m.group(3)),
            "pending": int(m.group(4)),
            "seconds": float(m.group(5)),
        }
        for m in FIT_LINE.finditer(log)
    ]
    statuses: Counter[str] = Counter()
    for m in ACCESS_LINE.finditer(log):
        if m.group(3) != "200":
            path = re.sub(r"/\d+", "/N", m.group(2).split("?")[0])
            statuses[f"{m.group(1)} {path} {m.group(3)}"] += 1
    return {
        "fits": fits,
        "not_ok": dict(statuses),
        "optimizer_errors": log.count("optimizer failed for experiment"),
        "tracebacks": log.count("Traceback (most recent call last)"),
    }


def _checks(conn: Any, experiment_id: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the server stored against what the workers did: the suggestions and
    observations are the workers' own, each observation of its suggestion's task, no
    (point, task) handed out twice, the budget consumed is the cost spent, and best
    assignments is the best full-cost result."""
    experiment = conn.experiments(experiment_id)
    suggestions = list(experiment.suggestions().fetch().iterate_pages())
    observations = list(experiment.observations().fetch().iterate_pages())
    fetched = experiment.fetch()
    best = list(experiment.best_assignments().fetch().iterate_pages())

    def task_of(record: Any) -> str | None:
        return str(record.task.name) if record.task is not None else None

    keys = Counter(
        (json.dumps(s.assignments.to_json(), sort_keys=True), task_of(s)) for s in suggestions
    )
    suggested = {str(s.id): task_of(s) for s in suggestions}
    observed = {str(o.id): (str(o.suggestion), task_of(o)) for o in observations}
    full = [r for r in records if r["task"] in (None, "full")]
    best_value = min((r["value"] for r in full), default=math.nan)
    spent = math.fsum(r["cost"] for r in records)
    return {
        "suggestions": len(suggestions),
        "observations": len(observations),
        "duplicates": sum(n - 1 for n in keys.values()),
        "open": sum(s.state == "open" for s in suggestions),
        "task_mismatches": sum(
            suggested.get(suggestion) != task for suggestion, task in observed.values()
        ),
        "budget_consumed": float(fetched.progress.observation_budget_consumed),
        "spent": spent,
        "best_is_full_best": bool(
            best
            and math.isclose(float(best[0].values[0].value), best_value, rel_tol=0, abs_tol=1e-12)
        ),
    }


def run_served(arm: str, seed: int, budget: float, workers: int) -> dict[str, Any]:
    """One served run: a fresh ``honed serve``, the experiment created with the official
    client, ``workers`` spawned workers until the budget is spent."""
    import httpx

    load_before = os.getloadavg()
    began = time.perf_counter()
    with fresh_server("honed-multitask-", extra_args=("--log-level", "info")) as served:
        conn = _connect(served.url, served.token)
        with httpx.Client(
            base_url=served.url, auth=(served.token, ""), timeout=REQUEST_TIMEOUT
        ) as client:
            experiment_id = create_experiment(
                client,
                experiment_body(arm, budget, workers),
                seed,
                create=lambda body: str(conn.experiments().create(**body).id),
            )
        plans = [
            ServedPlan(i, served.url, served.token, experiment_id, budget) for i in range(workers)
        ]
        try:
            records, drive_seconds = drive(plans, served_worker, _budget_account)
        except Exception as error:
            raise RuntimeError(f"{error}\nserver log:\n{served.log()[-3000:]}") from error
        checks = _checks(conn, experiment_id, records)
        figures = _log_figures(served.log())
        startup = served.startup_seconds + served.optimizer_wait_seconds
    # Scored in the order the server stored the observations, as the direct arms' order.
    completed = sorted(records, key=lambda r: r["observation"])
    spent, best = 0.0, math.inf
    trace: list[tuple[float, float]] = []
    for record in completed:
        spent += record["cost"]
        if record["task"] in (None, "full"):
            best = min(best, record["value"])
        trace.append((spent, best - OPTIMUM))
    asked = sorted(records, key=lambda r: r["slot"])
    return {
        "arm": arm,
        "seed": seed,
        "budget": budget,
        "workers": workers,
        "regret": best - OPTIMUM,
        "evaluations": len(records),
        "tasks": dict(Counter(r["task"] or "full" for r in records)),
        "cost_by_task": {
            task: math.fsum(r["cost"] for r in records if (r["task"] or "full") == task)
            for task in sorted({r["task"] or "full" for r in records})
        },
        "trace": trace,
        "seconds": time.perf_counter() - began,
        "startup_seconds": startup,
        "drive_seconds": drive_seconds,
        "asks": [
            {
                "source": r["source"],
                "task": r["task"],
                "seconds": r["seconds"],
                "observe_seconds": r["observe_seconds"],
                "model": r["model"],
            }
            for r in asked
        ],
        "checks": checks,
        **figures,
        "load": [load_before, os.getloadavg()],
    }


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return q1, q2, q3


def _percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0 to 1) of the values, interpolated."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def table(runs: Sequence[dict[str, Any]]) -> str:
    """Regret per arm, the ratio of each pair, and how the budget was spent by task."""
    lines = [
        "| arm | seeds | median regret | quartiles | evaluations (median) | tasks (all seeds) "
        "| cost by task (share) |",
        "|---|---|---|---|---|---|---|",
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
        costs: Counter[str] = Counter()
        for r in mine:
            tasks.update(r["tasks"])
            for task, count in r["tasks"].items():
                costs[task] += count * (TASKS[task][1] if task in TASKS else 1.0)
        spent = sum(costs.values())
        evaluations = statistics.median(r["evaluations"] for r in mine)
        lines.append(
            f"| {arm} | {len(mine)} | {median:.4g} | {q1:.4g} to {q3:.4g} | {evaluations:g} | "
            f"{', '.join(f'{k} {v}' for k, v in sorted(tasks.items()))} | "
            f"{', '.join(f'{k} {costs[k] / spent:.0%}' for k in sorted(costs))} |"
        )
    lines.append("")
    for multitask, single in PAIRS:
        if multitask in medians and single in medians and medians[multitask] > 0:
            ratio = medians[single] / medians[multitask]
            lines.append(f"{single} / {multitask} median regret: {ratio:.2f} (goal: at least 2)")
        paired = [
            {r["arm"]: r["regret"] for r in runs if r["seed"] == seed}
            for seed in sorted({r["seed"] for r in runs})
        ]
        complete = [v for v in paired if multitask in v and single in v]
        if complete:
            wins = sum(v[multitask] < v[single] for v in complete)
            lines.append(f"{multitask} better on {wins} of {len(complete)} seeds")
    return "\n".join(lines)


def served_table(runs: Sequence[dict[str, Any]]) -> str:
    """The served arms: suggestion create latency per source, the optimizer's proposals,
    what the log and the stored records say went wrong."""
    served = [r for r in runs if r["arm"] in SERVED]
    if not served:
        return ""
    lines = [
        "| arm | source | suggestions | share | p50 s | p95 s | max s |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in SERVED:
        mine = [r for r in served if r["arm"] == arm]
        asks = [a for r in mine for a in r["asks"]]
        for source in [*SOURCES, *sorted({a["source"] for a in asks} - set(SOURCES))]:
            seconds = [a["seconds"] for a in asks if a["source"] == source]
            if not seconds:
                lines.append(f"| {arm} | {source} | 0 | 0% | | | |")
                continue
            lines.append(
                f"| {arm} | {source} | {len(seconds)} | {len(seconds) / len(asks):.0%} "
                f"| {_percentile(seconds, 0.5):.3g} | {_percentile(seconds, 0.95):.3g} "
                f"| {max(seconds):.3g} |"
            )
    lines += [
        "",
        "| arm | fits | proposal p50 s | p95 s | max s | candidates per fit (median) "
        "| s per candidate (median) | observations at the last fit (median) "
        "| optimizer points fresh |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in SERVED:
        mine = [r for r in served if r["arm"] == arm]
        fits = [f for r in mine for f in r["fits"]]
        models = [a["model"] for r in mine for a in r["asks"] if isinstance(a.get("model"), dict)]
        fresh = (
            f"{sum(m.get('fresh') is True for m in models) / len(models):.0%} of {len(models)}"
            if models
            else "none"
        )
        if not fits:
            lines.append(f"| {arm} | 0 | | | | | | | {fresh} |")
            continue
        seconds = [f["seconds"] for f in fits]
        last = statistics.median(
            max(f["observations"] for f in r["fits"]) for r in mine if r["fits"]
        )
        lines.append(
            f"| {arm} | {len(fits)} | {_percentile(seconds, 0.5):.3g} "
            f"| {_percentile(seconds, 0.95):.3g} | {max(seconds):.3g} "
            f"| {statistics.median(f['candidates'] for f in fits):g} "
            f"| {statistics.median(f['seconds'] / max(f['candidates'], 1) for f in fits):.3g} "
            f"| {last:g} | {fresh} |"
        )
    lines += ["", "| arm | proposal p50 s by observations in the model: | <50 | 50-99 | 100+ |"]
    lines.append("|---|---|---|---|---|")
    for arm in SERVED:
        fits = [f for r in served if r["arm"] == arm for f in r["fits"]]
        cells = []
        for low, high in ((0, 50), (50, 100), (100, 10**9)):
            seconds = [f["seconds"] for f in fits if low <= f["observations"] < high]
            cells.append(f"{_percentile(seconds, 0.5):.3g} ({len(seconds)})" if seconds else "")
        lines.append(f"| {arm} | | {' | '.join(cells)} |")
    problems = []
    for r in served:
        c = r["checks"]
        found = {
            "duplicates": c["duplicates"],
            "task mismatches": c["task_mismatches"],
            "open suggestions": c["open"],
            "suggestions not the workers'": c["suggestions"] - r["evaluations"],
            "observations not the workers'": c["observations"] - r["evaluations"],
            "optimizer errors": r["optimizer_errors"],
            "tracebacks": r["tracebacks"],
            "fallbacks": sum(a["source"] == "fallback" for a in r["asks"]),
            "budget consumed - spent": round(c["budget_consumed"] - c["spent"], 9),
        }
        found = {k: v for k, v in found.items() if v}
        if not c["best_is_full_best"]:
            found["best assignments is not the best full-cost result"] = 1
        if r["not_ok"]:
            found.update(r["not_ok"])
        if found:
            problems.append(f"- {r['arm']} seed {r['seed']}: {found}")
    lines.append("")
    lines += problems or [
        "No errors, duplicates, task mismatches or fallbacks in the served runs."
    ]
    loads = [pair[0] for r in served for pair in r["load"]]
    seconds = [r["drive_seconds"] for r in served]
    lines.append(
        f"Served runs: {len(served)}, driven in {statistics.median(seconds):.0f} s median "
        f"(max {max(seconds):.0f} s); 1-minute load average {min(loads):.1f} to "
        f"{max(loads):.1f} at their starts and ends."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=30.0, help="cost per run (default 30)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel direct runs (default 2)")
    parser.add_argument(
        "--workers", type=int, default=4, help="worker processes of a served run (default 4)"
    )
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

    def same(r: dict[str, Any]) -> bool:
        return bool(
            r["budget"] == args.budget
            and r["arm"] in arms
            and r["seed"] < args.seeds
            and (r["arm"] not in SERVED or r["workers"] == args.workers)
        )

    runs = [r for r in done if same(r)]
    have = {(r["arm"], r["seed"]) for r in runs}
    todo = [(arm, seed) for seed in range(args.seeds) for arm in arms if (arm, seed) not in have]
    args.runs_file.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with args.runs_file.open("a") as out:

        def keep(result: dict[str, Any]) -> None:
            out.write(json.dumps(result) + "\n")
            out.flush()
            runs.append(result)
            print(
                f"{result['arm']} seed {result['seed']}: regret {result['regret']:.4g} after "
                f"{result['evaluations']} evaluations {result['tasks']} "
                f"({result['seconds']:.0f} s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )

        # Served runs one at a time, before the direct ones: each has its server, its
        # optimizer and its workers, and its latencies are not to share the CPU with more.
        for arm, seed in todo:
            if arm in SERVED:
                keep(run_served(arm, seed, args.budget, args.workers))
        direct = [(arm, seed, args.budget) for arm, seed in todo if arm in DIRECT]
        if direct:
            with ProcessPoolExecutor(args.jobs) as pool:
                for result in pool.map(_run_job, direct):
                    keep(result)
    print()
    print(table(runs))
    served = served_table(runs)
    if served:
        print()
        print(served)
    print(f"\n{time.perf_counter() - began:.0f} s in all")


if __name__ == "__main__":
    main()
