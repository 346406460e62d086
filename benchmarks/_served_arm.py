"""quality.py's ``honed-served`` arm: the same problems through a real ``honed serve``.

One run is one problem, budget and seed: a fresh ``honed serve`` (one optimizer process) on a
fresh SQLite file in a temporary directory, on a free loopback port, with a random
``HONED_API_TOKEN``. The experiment is created over HTTP in SigOpt's JSON, with the id
``1 + seed`` as the engine arm's (honed seeds its Sobol sequence with it), and driven by
``workers`` spawned processes (1 for 30x1, 4 for 60x4), each with its own keep-alive
``httpx.Client``: take a slot from a shared counter (so exactly ``evaluations`` suggestions
are evaluated in all), create a suggestion (timed), evaluate the problem's function at once,
report the observation. The evaluations are scored in the order the server stored their
observations, with ``_quality_problems.score`` as every other arm.

Each evaluation keeps the suggestion's ``source`` (engine, optimizer, fallback) and its
``model`` (honed's extension: ``{"observations", "candidate", "unaccounted", "fresh"}``, or
None; absent from servers that do not report it).

``cpu_load(n)`` runs n busy-loop processes beside the served runs.

The parts other served benchmarks reuse (``multitask.py``'s served arms): ``fresh_server``
(the server, its optimizer up), ``create_experiment`` (the seed's experiment id), ``drive``
(spawned workers started together, a shared counter, their records), and the worker side's
``reporting`` and ``ready_then_wait``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import queue
import secrets
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from _quality_problems import BUDGETS
from _quality_problems import PROBLEMS
from _quality_problems import Problem
from _quality_problems import noise_draws
from _quality_problems import score

if TYPE_CHECKING:
    from multiprocessing.context import SpawnContext
    from multiprocessing.context import SpawnProcess
    from multiprocessing.queues import Queue
    from multiprocessing.sharedctypes import Synchronized
    from multiprocessing.synchronize import Event

    from tests.support.server import RunningServer

ROOT = Path(__file__).resolve().parent.parent
ARM = "honed-served"
STARTUP_TIMEOUT = 120.0
#: Until the optimizer process has imported torch and sent its first heartbeat.
OPTIMIZER_TIMEOUT = 180.0
READY_TIMEOUT = 120.0
REQUEST_TIMEOUT = 300.0
RUN_TIMEOUT = 3600.0
#: Attempts of a suggestion or observation request that fails (a 5xx, a lost connection).
ATTEMPTS = 3
SOURCES = ("engine", "optimizer", "fallback")

_DIGEST: list[str] = []


def served_sources() -> str:
    """A digest of all of honed's sources (the served arm runs the whole server), of the
    honed that imports, found without importing it."""
    if _DIGEST:
        return _DIGEST[0]
    spec = importlib.util.find_spec("honed")
    if spec is None or spec.origin is None:
        raise SystemExit("honed is not importable: pip install -e . first")
    package = Path(spec.origin).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    _DIGEST.append(digest.hexdigest()[:16])
    return _DIGEST[0]


def experiment_body(problem: Problem, evaluations: int, workers: int) -> dict[str, Any]:
    """The problem as SigOpt's experiment JSON."""
    parameters: list[dict[str, Any]] = []
    for p in problem.params:
        if p.kind == "categorical":
            parameter: dict[str, Any] = {
                "name": p.name,
                "type": "categorical",
                "categorical_values": [{"name": v} for v in p.values],
            }
        elif p.kind == "int":
            bounds: dict[str, float | int] = {"min": int(p.low), "max": int(p.high)}
            parameter = {"name": p.name, "type": "int", "bounds": bounds}
        else:
            bounds = {"min": p.low, "max": p.high}
            parameter = {"name": p.name, "type": "double", "bounds": bounds}
        if p.conditions:
            parameter["conditions"] = {name: list(values) for name, values in p.conditions}
        parameters.append(parameter)
    body: dict[str, Any] = {
        "name": f"quality {problem.name}",
        "parameters": parameters,
        "metrics": [{"name": "f", "objective": "minimize"}],
        "observation_budget": evaluations,
        "parallel_bandwidth": workers,
    }
    if problem.conditionals:
        body["conditionals"] = [
            {"name": c.name, "values": list(c.values)} for c in problem.conditionals
        ]
    if problem.constraints:
        body["linear_constraints"] = [
            {
                "type": "less_than",
                "terms": [{"name": name, "weight": weight} for name, weight in c.terms],
                "threshold": c.bound,
            }
            for c in problem.constraints
        ]
    return body


# --- the worker side (spawned processes) ---------------------------------------------------


@dataclass(frozen=True)
class WorkerPlan:
    index: int
    url: str
    token: str
    experiment_id: str
    problem: str
    evaluations: int
    noise: tuple[float, ...]


def _post(client: Any, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], float, int]:
    """POST with up to ATTEMPTS tries; the answer, the last try's seconds, the retries."""
    import httpx

    for attempt in range(ATTEMPTS):
        started = time.perf_counter()
        try:
            response = client.post(path, json=body)
        except httpx.TransportError:
            if attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.2)
            continue
        seconds = time.perf_counter() - started
        if response.status_code == 200:
            answer: dict[str, Any] = response.json()
            return answer, seconds, attempt
        if attempt == ATTEMPTS - 1 or response.status_code < 500:
            raise RuntimeError(f"POST {path}: HTTP {response.status_code}: {response.text[:500]}")
        time.sleep(0.2)
    raise AssertionError("unreachable")


def worker_main(
    plan: WorkerPlan, counter: Synchronized[int], messages: Queue[Any], go: Event
) -> None:
    """Connect, say ready, wait for the start, run the loop until the slots run out."""
    import httpx

    with reporting(plan.index, messages):
        problem = PROBLEMS[plan.problem]
        prefix = f"/v1/experiments/{plan.experiment_id}"
        records: list[dict[str, Any]] = []
        with httpx.Client(
            base_url=plan.url, auth=(plan.token, ""), timeout=REQUEST_TIMEOUT
        ) as client:
            client.get(prefix).raise_for_status()  # open the connection before the clock
            ready_then_wait(plan.index, messages, go)
            while True:
                with counter.get_lock():
                    slot = counter.value
                    if slot >= plan.evaluations:
                        break
                    counter.value = slot + 1
                suggestion, seconds, retries = _post(client, prefix + "/suggestions", {})
                point = dict(suggestion["assignments"])
                value = problem.function(point)
                noisy = value + plan.noise[slot]
                observation, observe_seconds, observe_retries = _post(
                    client,
                    prefix + "/observations",
                    {"suggestion": suggestion["id"], "values": [{"name": "f", "value": noisy}]},
                )
                records.append(
                    {
                        "slot": slot,
                        "worker": plan.index,
                        "suggestion": str(suggestion["id"]),
                        "observation": int(observation["id"]),
                        "point": point,
                        "value": value,
                        "observed": noisy,
                        "seconds": seconds,
                        "observe_seconds": observe_seconds,
                        "retries": retries + observe_retries,
                        "source": str(suggestion.get("source", "unknown")),
                        "model": suggestion.get("model"),
                    }
                )
        messages.put(("result", plan.index, records))


@contextmanager
def reporting(index: int, messages: Queue[Any]) -> Iterator[None]:
    """A spawned worker's body: Ctrl-C is left to the parent, and any failure goes to the
    parent as ``("failed", index, traceback)`` (``drive`` raises it there)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    try:
        yield
    except BaseException:
        messages.put(("failed", index, traceback.format_exc()[-2000:]))


def ready_then_wait(index: int, messages: Queue[Any], go: Event) -> None:
    """Tell the parent this worker is connected, and wait for everyone's start."""
    messages.put(("ready", index, None))
    if not go.wait(READY_TIMEOUT):
        raise TimeoutError("no start signal")


# --- the parent side -----------------------------------------------------------------------


def _collect(
    messages: Queue[Any],
    processes: Sequence[SpawnProcess],
    kind: str,
    timeout: float,
) -> list[Any]:
    deadline = time.monotonic() + timeout
    found: dict[int, Any] = {}
    while len(found) < len(processes):
        if time.monotonic() > deadline:
            raise TimeoutError(f"workers: {len(found)}/{len(processes)} {kind} in {timeout:.0f}s")
        try:
            message, index, payload = messages.get(timeout=1.0)
        except queue.Empty:
            message, index, payload = "", -1, None
        if not message:
            for i, process in enumerate(processes):
                if i not in found and process.exitcode not in (None, 0):
                    raise RuntimeError(f"worker {i} died (exit {process.exitcode})")
            continue
        if message == "failed":
            raise RuntimeError(f"worker {index} failed:\n{payload}")
        if message == kind:
            found[index] = payload
    return [found[i] for i in range(len(processes))]


def _slot_counter(context: SpawnContext) -> Synchronized[int]:
    return context.Value("i", 0)


def drive(
    plans: Sequence[Any],
    target: Callable[..., None] = worker_main,
    shared: Callable[[SpawnContext], Any] = _slot_counter,
) -> tuple[list[dict[str, Any]], float]:
    """Run one spawned ``target(plan, shared, messages, go)`` per plan; every record the
    workers sent, and the seconds from the start signal to the last result.

    ``shared`` makes the one object every worker gets (by default a slot counter; a
    synchronized ``multiprocessing`` value or array, whose lock the workers share). A
    worker connects, calls ``ready_then_wait``, runs, and puts ``("result", index,
    records)``, within ``reporting`` so that a failure reaches the parent."""
    context = get_context("spawn")
    messages: Queue[Any] = context.Queue()
    go = context.Event()
    counter = shared(context)
    processes = [
        context.Process(target=target, args=(plan, counter, messages, go), daemon=True)
        for plan in plans
    ]
    try:
        for process in processes:
            process.start()
        _collect(messages, processes, "ready", READY_TIMEOUT)
        started = time.perf_counter()
        go.set()
        results = _collect(messages, processes, "result", RUN_TIMEOUT)
        seconds = time.perf_counter() - started
        for process in processes:
            process.join(timeout=10)
        return [record for records in results for record in records], seconds
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        messages.close()
        messages.join_thread()


def create_experiment(
    client: Any,
    body: dict[str, Any],
    seed: int,
    create: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """Create the experiment with id ``1 + seed``, as the engine arm's: honed's Sobol
    sequence (the initial design, the fallbacks) is seeded by the experiment id, so on a
    fresh database every seed would get the same design. ``seed`` placeholder experiments,
    deleted at once, take the ids before it (over ``client``, an ``httpx.Client``).
    ``create``: how the experiment itself is created (its id), when not with ``client``
    (for example with the official sigopt client)."""
    for _ in range(seed):
        placeholder = client.post(
            "/v1/experiments",
            json={
                "name": "placeholder",
                "parameters": [{"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}}],
            },
        )
        placeholder.raise_for_status()
        client.delete(f"/v1/experiments/{placeholder.json()['id']}").raise_for_status()
    if create is None:
        created = client.post("/v1/experiments", json=body)
        if created.status_code != 200:
            raise RuntimeError(f"create: HTTP {created.status_code}: {created.text}")
        experiment_id = str(created.json()["id"])
    else:
        experiment_id = str(create(body))
    if experiment_id != str(1 + seed):
        raise RuntimeError(f"experiment id {experiment_id}, not {1 + seed}: seeds would differ")
    return experiment_id


def wait_for_optimizer(database_url: str, timeout: float) -> float:
    """Until the server's optimizer process has sent a heartbeat: its torch import is not
    part of the run (a long-running service has its optimizer up)."""
    from honed.storage.sql.storage import SqlStorage

    began = time.monotonic()
    storage = SqlStorage.from_url(database_url, migrate=False)
    try:
        while storage.live_optimizers(10.0) == 0:
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"no optimizer heartbeat in {timeout:.0f}s")
            time.sleep(0.25)
    finally:
        storage.close()
    return time.monotonic() - began


@dataclass(frozen=True)
class Served:
    """A fresh ``honed serve`` of ``fresh_server``, its optimizer up."""

    server: RunningServer
    token: str
    database_url: str
    #: From the start of the process to its /health answer.
    startup_seconds: float
    #: From then to the optimizer process's first heartbeat (its torch import).
    optimizer_wait_seconds: float

    @property
    def url(self) -> str:
        return self.server.url

    def log(self) -> str:
        """The server's output so far (its optimizer process's too); gone once it stops."""
        return self.server.log()


@contextmanager
def fresh_server(
    prefix: str = "honed-served-", extra_args: Sequence[str] = (), optimizers: int | None = 1
) -> Iterator[Served]:
    """``honed serve`` as users start it: one server process and one optimizer process, on
    a fresh SQLite file in a temporary directory, a free loopback port, a random
    ``HONED_API_TOKEN``; yielded once its optimizer has sent a heartbeat. ``extra_args``:
    more ``honed serve`` options (``--log-level info`` logs each model fit). ``optimizers``:
    its optimizer processes (None: ``honed serve``'s default)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # tests.support.server
    from tests.support.server import running_server

    token = secrets.token_urlsafe(24)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        database_url = f"sqlite:///{tmp}/served.db"
        with running_server(
            database_url,
            token=token,
            optimizers=optimizers,
            startup_timeout=STARTUP_TIMEOUT,
            extra_args=extra_args,
        ) as server:
            startup = time.perf_counter() - began
            waited = wait_for_optimizer(database_url, OPTIMIZER_TIMEOUT)
            yield Served(server, token, database_url, startup, waited)


def run_served(problem_name: str, budget: str, seed: int) -> dict[str, Any]:
    """One served run; the keys of ``simulate``'s result and the served arm's own."""
    import httpx

    problem = PROBLEMS[problem_name]
    evaluations, workers = BUDGETS[budget]
    result: dict[str, Any] = {}
    with fresh_server() as served:
        result["startup_seconds"] = served.startup_seconds
        result["optimizer_wait_seconds"] = served.optimizer_wait_seconds
        with httpx.Client(
            base_url=served.url, auth=(served.token, ""), timeout=REQUEST_TIMEOUT
        ) as client:
            experiment_id = create_experiment(
                client, experiment_body(problem, evaluations, workers), seed
            )
            noise = tuple(noise_draws(problem, seed, evaluations))
            plans = [
                WorkerPlan(
                    i, served.url, served.token, experiment_id, problem_name, evaluations, noise
                )
                for i in range(workers)
            ]
            try:
                records, drive_seconds = drive(plans)
            except Exception as error:
                raise RuntimeError(f"{error}\nserver log:\n{served.log()[-2000:]}") from error
            fetched = client.get(f"/v1/experiments/{experiment_id}")
            fetched.raise_for_status()
            stored = int(fetched.json()["progress"]["observation_count"])
    if len(records) != evaluations or stored != evaluations:
        raise RuntimeError(
            f"{len(records)} evaluations recorded, {stored} stored, {evaluations} planned"
        )
    completed = sorted(records, key=lambda r: r["observation"])
    asked = sorted(records, key=lambda r: r["slot"])
    result.update(
        score(
            problem,
            [r["point"] for r in completed],
            [r["value"] for r in completed],
            [r["observed"] for r in completed],
        )
    )
    sources = [r["source"] for r in asked]
    result.update(
        {
            "ask_seconds": [r["seconds"] for r in asked],
            "ask_model": [source == "optimizer" for source in sources],
            "sources": sources,
            "models": [r["model"] for r in asked],
            "observe_seconds": [r["observe_seconds"] for r in asked],
            "retries": sum(r["retries"] for r in records),
            "stalls": 0,
            "duplicates": 0,
            "fallbacks": sources.count("fallback"),
            "drive_seconds": drive_seconds,
            "seconds_per_evaluation": drive_seconds / evaluations,
        }
    )
    return result


# --- summaries -----------------------------------------------------------------------------


def source_summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Over the runs' suggestions: the share per source; among optimizer ones that carry
    ``model``, the share of fresh ones and of batch and pool candidates."""
    sources: Counter[str] = Counter()
    models: list[dict[str, Any]] = []
    optimizer = 0
    for run in runs:
        for source, model in zip(run["sources"], run["models"], strict=True):
            sources[source] += 1
            if source == "optimizer":
                optimizer += 1
                if isinstance(model, dict):
                    models.append(model)
    total = sum(sources.values())
    candidates = Counter(str(m.get("candidate")) for m in models)
    return {
        "suggestions": total,
        "share": {s: sources[s] / total for s in sorted(sources)} if total else {},
        "optimizer": optimizer,
        "with_model": len(models),
        "fresh_share": (
            sum(m.get("fresh") is True for m in models) / len(models) if models else None
        ),
        "candidate_share": (
            {c: n / len(models) for c, n in sorted(candidates.items())} if models else {}
        ),
        "seconds_per_evaluation": statistics.median(
            float(r["seconds_per_evaluation"]) for r in runs
        )
        if runs
        else None,
    }


# --- background CPU load -------------------------------------------------------------------


def _busy(parent: int) -> None:
    """A pure-Python busy loop, until the parent stops it or is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    while True:
        for _ in range(200_000):
            pass
        if os.getppid() != parent:  # orphaned: the parent died without stopping us
            return


@contextmanager
def cpu_load(count: int) -> Iterator[list[int]]:
    """``count`` busy-loop processes (at this process's own priority) while the block runs.

    They are stopped when the block ends, on Ctrl-C and SIGTERM too (the script unwinds
    through ``finally``); one whose parent died without stopping it ends by itself."""
    context = get_context("spawn")
    processes = [
        context.Process(target=_busy, args=(os.getpid(),), daemon=True) for _ in range(count)
    ]
    try:
        for process in processes:
            process.start()
        yield [p.pid for p in processes if p.pid is not None]
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            if process.pid is None:  # never started
                continue
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
