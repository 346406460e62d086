"""API throughput: many worker processes run the SigOpt worker loop against real honed servers.

Each worker is its own OS process with one keep-alive ``httpx.Client`` (HTTP Basic auth, the
token as user name). It repeats: POST /v1/experiments/{id}/suggestions, evaluate an instant
objective, POST /v1/experiments/{id}/observations. Every request is timed with
``time.perf_counter``. The deployments run side by side in one invocation, each on a fresh
database and experiment:

- ``sqlite``: one ``honed serve`` process on a SQLite file;
- ``sqlite2``: two ``honed serve`` processes on the same SQLite file, workers split;
- ``pg1``: one ``honed serve`` process on PostgreSQL;
- ``pg2``: two ``honed serve`` processes on the same PostgreSQL database, workers split
  between them.

After each timed run every suggestion is listed through the API (paging with ``before``) and
pairs of equal assignments are counted: every worker observes at once, so any equal pair is a
point handed out twice (it must be 0 with a continuous parameter in the space).

Once per invocation, on the first deployment, one process runs a fixed number of cycles with
httpx and then with the official ``sigopt`` client, to show the client's own overhead.

Usage: .venv/bin/python benchmarks/api_throughput.py [--workers 8] [--seconds 10]
       [--deployments sqlite,pg1,pg2] [--warmup 2] [--client-cycles 300] [--profile DIR]

Results are printed as a table and written to benchmarks/results/api_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import httpx
import numpy as np

from _signals import unwind_on_stop

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess
    from multiprocessing.queues import Queue

    from tests.support.postgres import PostgresServer
    from tests.support.server import RunningServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "api_throughput.json"
TOKEN = "bench-token"
HOSTNAME = socket.gethostname()
REQUEST_TIMEOUT = 60.0
READY_TIMEOUT = 120.0
ERROR_SAMPLES = 5
GOAL_SUGGESTION_P50_MS = 15.0
GOAL_OBSERVATION_P50_MS = 10.0

EXPERIMENT = {
    "name": "api throughput benchmark",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": 0.0, "max": 1.0}},
        {"name": "n", "type": "int", "bounds": {"min": 1, "max": 1000}},
        {"name": "kind", "type": "categorical", "categorical_values": ["a", "b", "c", "d"]},
    ],
    "metrics": [{"name": "value", "objective": "maximize"}],
}


@dataclass(frozen=True)
class Deployment:
    name: str
    backend: str  # "sqlite" or "postgres"
    servers: int


DEPLOYMENTS = {
    "sqlite": Deployment("sqlite", "sqlite", 1),
    # Two processes on one SQLite file: writers queue on the file lock beside it.
    "sqlite2": Deployment("sqlite2", "sqlite", 2),
    "pg1": Deployment("pg1", "postgres", 1),
    "pg2": Deployment("pg2", "postgres", 2),
}


@dataclass(frozen=True)
class WorkerPlan:
    """What one worker process does. ``cycles`` None: run by the clock the parent sends."""

    index: int
    url: str
    token: str
    experiment_id: str
    client: str = "httpx"  # or "sigopt"
    warmup_seconds: float = 0.0
    seconds: float = 0.0
    cycles: int | None = None
    warmup_cycles: int = 0


# --- the worker side (runs in spawned processes) -------------------------------------------


def objective(assignments: Any) -> float:
    """An instant objective over the three parameters."""
    x = float(assignments["x"])
    n = int(assignments["n"])
    bonus = {"a": 0.0, "b": 0.1, "c": 0.2, "d": 0.3}.get(str(assignments["kind"]), 0.0)
    return -((x - 0.3) ** 2) - ((n - 400) / 1000) ** 2 + bonus


class Recorder:
    """Per-endpoint latencies (seconds), cycles and errors inside the measured window."""

    def __init__(self) -> None:
        self.suggestion: list[float] = []
        self.observation: list[float] = []
        self.cycles = 0
        self.all_cycles = 0
        self.suggestions_created = 0
        self.errors = 0
        self.error_samples: list[str] = []
        self.cpu_started: float | None = None
        self.cpu_seconds = 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES and message not in self.error_samples:
            self.error_samples.append(message[:300])

    def as_dict(self, index: int, elapsed: float) -> dict[str, Any]:
        return {
            "index": index,
            "suggestion": self.suggestion,
            "observation": self.observation,
            "cycles": self.cycles,
            "all_cycles": self.all_cycles,
            "suggestions_created": self.suggestions_created,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "elapsed": elapsed,
            "cpu_seconds": self.cpu_seconds,
        }


Step = Callable[[], tuple[str, Any] | None]


class HttpxLoop:
    """The worker loop with raw httpx: suggestion, then observation."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.client = httpx.Client(
            base_url=plan.url, auth=(plan.token, ""), timeout=REQUEST_TIMEOUT
        )
        self.prefix = f"/v1/experiments/{plan.experiment_id}"
        # Open the keep-alive connection and check the token before the clock starts.
        self.client.get(self.prefix).raise_for_status()

    def cycle(self, rec: Recorder, measuring: bool) -> bool:
        started = time.perf_counter()
        try:
            response = self.client.post(self.prefix + "/suggestions")
        except httpx.HTTPError as error:
            rec.error(f"suggestion: {type(error).__name__}: {error}")
            return False
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            rec.error(f"suggestion: HTTP {response.status_code}: {response.text}")
            return False
        rec.suggestions_created += 1
        if measuring:
            rec.suggestion.append(elapsed)
        suggestion = response.json()
        body = {
            "suggestion": suggestion["id"],
            "values": [{"value": objective(suggestion["assignments"])}],
            "metadata": {"hostname": HOSTNAME},
        }
        started = time.perf_counter()
        try:
            response = self.client.post(self.prefix + "/observations", json=body)
        except httpx.HTTPError as error:
            rec.error(f"observation: {type(error).__name__}: {error}")
            return False
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            rec.error(f"observation: HTTP {response.status_code}: {response.text}")
            return False
        if measuring:
            rec.observation.append(elapsed)
        return True

    def close(self) -> None:
        self.client.close()


class SigoptLoop:
    """The same loop through the official sigopt client (requests underneath)."""

    def __init__(self, plan: WorkerPlan) -> None:
        os.environ.setdefault("SIGOPT_PROJECT", "honed-benchmark")  # read at import time
        import sigopt

        self.sigopt = sigopt
        connection = sigopt.Connection(client_token=plan.token)
        connection.set_api_url(plan.url)
        self.experiment = connection.experiments(plan.experiment_id)
        self.experiment.fetch()

    def cycle(self, rec: Recorder, measuring: bool) -> bool:
        started = time.perf_counter()
        try:
            suggestion = self.experiment.suggestions().create()
        except self.sigopt.exception.SigOptException as error:
            rec.error(f"suggestion: {error}")
            return False
        elapsed = time.perf_counter() - started
        rec.suggestions_created += 1
        if measuring:
            rec.suggestion.append(elapsed)
        started = time.perf_counter()
        try:
            self.experiment.observations().create(
                suggestion=suggestion.id,
                values=[{"value": objective(suggestion.assignments)}],
                metadata={"hostname": HOSTNAME},
            )
        except self.sigopt.exception.SigOptException as error:
            rec.error(f"observation: {error}")
            return False
        elapsed = time.perf_counter() - started
        if measuring:
            rec.observation.append(elapsed)
        return True

    def close(self) -> None:
        pass


def worker_main(plan: WorkerPlan, messages: Queue[Any], go: Queue[Any]) -> None:
    """Entry point of a worker process: connect, report ready, wait for the clock, loop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    try:
        loop: HttpxLoop | SigoptLoop = (
            SigoptLoop(plan) if plan.client == "sigopt" else HttpxLoop(plan)
        )
        messages.put(("ready", plan.index, None))
        start = float(go.get())
        rec = Recorder()
        began = time.monotonic()
        if plan.cycles is not None:
            for _ in range(plan.warmup_cycles):
                loop.cycle(rec, measuring=False)
            began = time.monotonic()
            rec.cpu_started = time.process_time()
            for _ in range(plan.cycles):
                if loop.cycle(rec, measuring=True):
                    rec.cycles += 1
                rec.all_cycles += 1
            elapsed = time.monotonic() - began
        else:
            measure_from = start + plan.warmup_seconds
            measure_until = measure_from + plan.seconds
            while (now := time.monotonic()) < measure_until:
                measuring = now >= measure_from
                if measuring and rec.cpu_started is None:
                    rec.cpu_started = time.process_time()
                ok = loop.cycle(rec, measuring)
                rec.all_cycles += 1
                # A cycle counts when it started and finished inside the window.
                if ok and measuring and time.monotonic() <= measure_until:
                    rec.cycles += 1
                if not ok:
                    time.sleep(0.01)
            elapsed = plan.seconds
        if rec.cpu_started is not None:
            rec.cpu_seconds = time.process_time() - rec.cpu_started
        loop.close()
        messages.put(("result", plan.index, rec.as_dict(plan.index, elapsed)))
    except BaseException:
        messages.put(("failed", plan.index, traceback.format_exc()))


# --- the parent side ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linearly interpolated percentile (q in 0..100, numpy's default); None when empty."""
    return float(np.percentile(values, q)) if len(values) else None


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def latency_stats(values: Sequence[float]) -> dict[str, float | int | None]:
    return {
        "count": len(values),
        "p50_ms": ms(percentile(values, 50)),
        "p95_ms": ms(percentile(values, 95)),
        "p99_ms": ms(percentile(values, 99)),
        "mean_ms": ms(statistics.fmean(values)) if values else None,
        "max_ms": ms(max(values)) if values else None,
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0.0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """CPU seconds each server process spends inside the measured window."""

    def __init__(self, pids: Sequence[int], warmup: float, seconds: float) -> None:
        self.pids = list(pids)
        self.warmup = warmup
        self.seconds = seconds
        self.cpu_seconds: list[float] = [0.0 for _ in self.pids]
        self._thread: threading.Thread | None = None

    def start(self, at: float) -> None:
        self._thread = threading.Thread(target=self._run, args=(at,), daemon=True)
        self._thread.start()

    def _run(self, at: float) -> None:
        time.sleep(max(0.0, at + self.warmup - time.monotonic()))
        before = [process_cpu_seconds(pid) for pid in self.pids]
        time.sleep(max(0.0, at + self.warmup + self.seconds - time.monotonic()))
        after = [process_cpu_seconds(pid) for pid in self.pids]
        self.cpu_seconds = [b - a for a, b in zip(before, after, strict=True)]

    def join(self) -> list[float]:
        if self._thread is not None:
            self._thread.join(timeout=self.warmup + self.seconds + 10)
        return self.cpu_seconds


def run_workers(
    plans: Sequence[WorkerPlan], on_start: Callable[[float], None] | None = None
) -> list[dict[str, Any]]:
    """Start one spawned process per plan, release them together, collect their results."""
    ctx = multiprocessing.get_context("spawn")
    messages: Queue[Any] = ctx.Queue()
    go: Queue[Any] = ctx.Queue()
    processes: list[SpawnProcess] = []
    try:
        for plan in plans:
            process = ctx.Process(target=worker_main, args=(plan, messages, go), daemon=True)
            process.start()
            processes.append(process)
        _await(messages, processes, "ready", len(plans), READY_TIMEOUT)
        start = time.monotonic() + 0.2
        for _ in plans:
            go.put(start)
        if on_start is not None:
            on_start(start)
        longest = max(p.warmup_seconds + p.seconds for p in plans)
        budget = longest + 60.0 if all(p.cycles is None for p in plans) else 600.0
        results = _await(messages, processes, "result", len(plans), budget)
        for process in processes:
            process.join(timeout=10)
        return sorted(results, key=lambda r: int(r["index"]))
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        messages.close()
        go.close()


def _await(
    messages: Queue[Any], processes: Sequence[SpawnProcess], kind: str, n: int, timeout: float
) -> list[Any]:
    deadline = time.monotonic() + timeout
    got: list[Any] = []
    while len(got) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"timed out waiting for {n - len(got)} worker(s) to be {kind}")
        try:
            what, index, payload = messages.get(timeout=min(remaining, 1.0))
        except Exception:  # queue.Empty: check that nobody died silently
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"worker process exited with code {dead[0].exitcode}") from None
            continue
        if what == "failed":
            raise RuntimeError(f"worker {index} failed:\n{payload}")
        if what == kind:
            got.append(payload)
    return got


def create_experiment(server: RunningServer) -> str:
    with httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=30) as client:
        response = client.post("/v1/experiments", json=EXPERIMENT)
        response.raise_for_status()
        experiment_id: str = response.json()["id"]
        return experiment_id


def list_suggestions(server: RunningServer, experiment_id: str) -> list[dict[str, Any]]:
    """Every suggestion of the experiment, newest first, paging with ``before``."""
    items: list[dict[str, Any]] = []
    before: str | None = None
    with httpx.Client(base_url=server.url, auth=(server.token, ""), timeout=60) as client:
        while True:
            params: dict[str, str | int] = {"limit": 1000}
            if before is not None:
                params["before"] = before
            response = client.get(f"/v1/experiments/{experiment_id}/suggestions", params=params)
            response.raise_for_status()
            page = response.json()
            items.extend(page["data"])
            before = page["paging"]["before"]
            if before is None:
                return items


def duplicate_pairs(suggestions: Sequence[dict[str, Any]]) -> int:
    """Pairs of suggestions with equal assignments."""
    counts = Counter(json.dumps(s["assignments"], sort_keys=True) for s in suggestions)
    return sum(c * (c - 1) // 2 for c in counts.values())


@contextmanager
def profiled(
    servers: Sequence[RunningServer], args: argparse.Namespace, label: str
) -> Iterator[Callable[[float], None] | None]:
    """With ``--profile``: a start hook that attaches py-spy to every server process for the
    measured window (it waits for the warm-up to end), and prints the top functions after."""
    directory: Path | None = args.profile
    if directory is None:
        yield None
        return
    recorders: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(at: float) -> None:
        time.sleep(max(0.0, at + args.warmup - time.monotonic()))
        for i, server in enumerate(servers):
            out = directory / f"{label}-server{i}.txt"
            command = [
                str(Path(sys.executable).with_name("py-spy")),
                "record", "--pid", str(server.process.pid), "--format", "raw",
                "--rate", "200", "--nonblocking", "--duration", str(max(1, int(args.seconds))),
                "-o", str(out),
                *(["--gil"] if args.profile_gil else []),
            ]  # fmt: skip
            recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            recorders.append((recorder, out))

    try:
        yield start
    finally:
        for recorder, out in recorders:
            try:
                recorder.wait(timeout=args.seconds + 30)
            except subprocess.TimeoutExpired:
                recorder.terminate()
                recorder.wait()
            if out.exists():
                print_profile(out, "GIL holder only" if args.profile_gil else "all threads")


def print_profile(path: Path, sampled: str, top: int = 15) -> None:
    """Top functions by self and by inclusive samples from a py-spy raw (collapsed) file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return
    print(f"\nprofile {path.name}: {total} samples ({sampled})")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"  top {top} by {title}:")
        for frame, count in counter.most_common(top):
            print(f"    {100 * count / total:5.1f}%  {frame[:150]}")


def run_deployment(
    deployment: Deployment,
    args: argparse.Namespace,
    postgres: PostgresServer | None,
    client_overhead: bool,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from tests.support.server import running_server

    with ExitStack() as stack:
        if deployment.backend == "sqlite":
            directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="honed-bench-"))
            database_url = f"sqlite:///{directory}/bench.db"
        else:
            assert postgres is not None
            database_url = postgres.create_database(prefix="honed_bench")
            stack.callback(postgres.drop_database, database_url)
        # One after the other: the first applies the migrations before the second starts.
        servers = [
            stack.enter_context(running_server(database_url, token=TOKEN))
            for _ in range(deployment.servers)
        ]
        experiment_id = create_experiment(servers[0])
        plans = [
            WorkerPlan(
                index=i,
                url=servers[i % len(servers)].url,
                token=TOKEN,
                experiment_id=experiment_id,
                warmup_seconds=args.warmup,
                seconds=args.seconds,
            )
            for i in range(args.workers)
        ]
        print(
            f"[{deployment.name}] {deployment.servers} server process(es), "
            f"{args.workers} workers, {args.warmup:g} s warm-up + {args.seconds:g} s ...",
            flush=True,
        )
        sampler = CpuSampler([s.process.pid for s in servers], args.warmup, args.seconds)

        with profiled(servers, args, deployment.name) as profile_hook:

            def on_start(at: float) -> None:
                sampler.start(at)
                if profile_hook is not None:
                    profile_hook(at)

            results = run_workers(plans, on_start=on_start)
        server_cpu = sampler.join()
        listed = list_suggestions(servers[0], experiment_id)
        summary = summarize(deployment, results, listed, args.seconds)
        summary["server_cpu_percent"] = [round(100 * c / args.seconds, 1) for c in server_cpu]
        overhead = measure_client_overhead(servers[0], args) if client_overhead else None
        return summary, overhead


def summarize(
    deployment: Deployment,
    results: Sequence[dict[str, Any]],
    listed: Sequence[dict[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    suggestion = [v for r in results for v in r["suggestion"]]
    observation = [v for r in results for v in r["observation"]]
    cycles = sum(int(r["cycles"]) for r in results)
    samples = [s for r in results for s in r["error_samples"]]
    return {
        "deployment": deployment.name,
        "backend": deployment.backend,
        "server_processes": deployment.servers,
        "workers": len(results),
        "seconds": seconds,
        "cycles": cycles,
        "cycles_per_second": cycles / seconds,
        "cycles_per_worker": [int(r["cycles"]) for r in results],
        "suggestion_create": latency_stats(suggestion),
        "observation_create": latency_stats(observation),
        "worker_cpu_percent": round(
            100 * sum(float(r["cpu_seconds"]) for r in results) / seconds, 1
        ),
        "errors": sum(int(r["errors"]) for r in results),
        "error_samples": samples[:ERROR_SAMPLES],
        "suggestions_created": sum(int(r["suggestions_created"]) for r in results),
        "suggestions_listed": len(listed),
        "open_suggestions_left": sum(1 for s in listed if s["state"] == "open"),
        "duplicate_pairs": duplicate_pairs(listed),
    }


def measure_client_overhead(server: RunningServer, args: argparse.Namespace) -> dict[str, Any]:
    """One process, fixed cycles: raw httpx, then the sigopt client, each on a new experiment."""
    out: dict[str, Any] = {"cycles": args.client_cycles, "clients": {}}
    print(f"[client overhead] 1 process, {args.client_cycles} cycles per client ...", flush=True)
    for client in ("httpx", "sigopt"):
        plan = WorkerPlan(
            index=0,
            url=server.url,
            token=TOKEN,
            experiment_id=create_experiment(server),
            client=client,
            cycles=args.client_cycles,
            warmup_cycles=20,
        )
        (result,) = run_workers([plan])
        out["clients"][client] = {
            "cycles": result["cycles"],
            "errors": result["errors"],
            "error_samples": result["error_samples"],
            "cycles_per_second": result["cycles"] / result["elapsed"],
            "suggestion_create": latency_stats(result["suggestion"]),
            "observation_create": latency_stats(result["observation"]),
        }
    return out


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_tables(rows: Sequence[dict[str, Any]], overhead: dict[str, Any] | None) -> None:
    header = (
        f"{'deployment':<11}{'servers':>8}{'workers':>8}{'cycles/s':>10}{'ratio':>7}"
        f"{'sugg p50':>10}{'sugg p95':>10}{'obs p50':>9}{'obs p95':>9}{'errors':>8}"
        f"{'suggestions':>13}{'dup pairs':>11}{'server CPU%':>13}{'worker CPU%':>13}"
    )
    print("\nLatencies in ms; ratio = cycles/s relative to " + rows[0]["ratio_base"])
    print(header)
    print("-" * len(header))
    for row in rows:
        s, o = row["suggestion_create"], row["observation_create"]
        print(
            f"{row['deployment']:<11}{row['server_processes']:>8}{row['workers']:>8}"
            f"{row['cycles_per_second']:>10.1f}{row['ratio']:>7.2f}"
            f"{fmt(s['p50_ms']):>10}{fmt(s['p95_ms']):>10}"
            f"{fmt(o['p50_ms']):>9}{fmt(o['p95_ms']):>9}{row['errors']:>8}"
            f"{row['suggestions_listed']:>13}{row['duplicate_pairs']:>11}"
            f"{'+'.join(f'{c:.0f}' for c in row['server_cpu_percent']):>13}"
            f"{row['worker_cpu_percent']:>13.0f}"
        )
    for row in rows:
        for sample in row["error_samples"]:
            print(f"  {row['deployment']} error: {sample}")
        if row["suggestions_listed"] != row["suggestions_created"]:
            print(
                f"  {row['deployment']}: workers created {row['suggestions_created']} "
                f"suggestions, the API lists {row['suggestions_listed']}"
            )
    if overhead is not None:
        clients = overhead["clients"]
        base = clients["httpx"]["cycles_per_second"]
        print(
            f"\nClient overhead (1 process, {overhead['cycles']} cycles, "
            f"{overhead['deployment']}; ratio = cycles/s relative to httpx)"
        )
        print(f"{'client':<11}{'cycles/s':>10}{'ratio':>7}{'sugg p50':>10}{'obs p50':>9}")
        for name, data in clients.items():
            print(
                f"{name:<11}{data['cycles_per_second']:>10.1f}"
                f"{data['cycles_per_second'] / base:>7.2f}"
                f"{fmt(data['suggestion_create']['p50_ms']):>10}"
                f"{fmt(data['observation_create']['p50_ms']):>9}"
            )
    goal = next((r for r in rows if r["deployment"] == "sqlite"), None)
    if goal is not None:
        s50, o50 = goal["suggestion_create"]["p50_ms"], goal["observation_create"]["p50_ms"]
        ok_s = s50 is not None and s50 < GOAL_SUGGESTION_P50_MS
        ok_o = o50 is not None and o50 < GOAL_OBSERVATION_P50_MS
        print(
            f"\nGoal on sqlite with {goal['workers']} workers: suggestion p50 {fmt(s50)} ms "
            f"(< {GOAL_SUGGESTION_P50_MS:g}: {'met' if ok_s else 'MISSED'}), observation p50 "
            f"{fmt(o50)} ms (< {GOAL_OBSERVATION_P50_MS:g}: {'met' if ok_o else 'MISSED'})"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=8, help="worker processes (default 8)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds")
    parser.add_argument(
        "--deployments",
        default="sqlite,sqlite2,pg1,pg2",
        help=f"comma-separated, from {', '.join(DEPLOYMENTS)}",
    )
    parser.add_argument(
        "--client-cycles",
        type=int,
        default=300,
        help="cycles for the httpx-vs-sigopt client comparison (0 skips it)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="attach py-spy to every server during the measured window; write raw stacks "
        "here and print the top functions (perturbs the numbers)",
    )
    parser.add_argument(
        "--profile-gil",
        action="store_true",
        help="with --profile: sample only the thread holding the GIL (Python CPU time)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.deployments.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEPLOYMENTS]
    if unknown or not names:
        parser.error(f"unknown deployment(s) {unknown}; choose from {', '.join(DEPLOYMENTS)}")
    if args.workers < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("--workers must be >= 1, --seconds > 0, --warmup >= 0")
    args.deployment_list = [DEPLOYMENTS[n] for n in names]
    if args.profile is not None:
        if not Path(sys.executable).with_name("py-spy").exists():
            parser.error("--profile needs py-spy: .venv/bin/pip install py-spy")
        args.profile.mkdir(parents=True, exist_ok=True)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.postgres import running_postgres

    unwind_on_stop()
    rows: list[dict[str, Any]] = []
    overhead: dict[str, Any] | None = None
    try:
        with ExitStack() as stack:
            postgres = None
            if any(d.backend == "postgres" for d in args.deployment_list):
                postgres = stack.enter_context(running_postgres())
            for i, deployment in enumerate(args.deployment_list):
                want_overhead = i == 0 and args.client_cycles > 0
                row, measured = run_deployment(deployment, args, postgres, want_overhead)
                rows.append(row)
                if measured is not None:
                    overhead = {"deployment": deployment.name, **measured}
    except KeyboardInterrupt:
        print("\ninterrupted; servers and workers stopped", file=sys.stderr)
        return 130
    base = next((r for r in rows if r["deployment"] == "sqlite"), rows[0])
    for row in rows:
        row["ratio"] = row["cycles_per_second"] / base["cycles_per_second"]
        row["ratio_base"] = base["deployment"]
    print_tables(rows, overhead)
    report = {
        "benchmark": "api_throughput",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "workers": args.workers,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "client_cycles": args.client_cycles,
            "profiled": args.profile is not None,
        },
        "deployments": rows,
        "client_overhead": overhead,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
