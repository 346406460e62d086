"""Metrics overhead: what ``--metrics-port`` costs the worker loop's requests.

Two apps in this process, each on its own SQLite file, one with metrics off and one with
them on (prometheus-client in multiprocess mode, as ``honed serve --metrics-port`` runs
it). Rounds alternate between them: each round runs the worker loop (suggestion create,
observation create) through the whole ASGI app with httpx's in-process transport, and
counts the CPU seconds this process spent (``time.process_time``, which a loaded machine
disturbs less than wall time). Prints CPU per cycle for each, and their ratio; then the
metrics' own CPU per request and per suggestion, measured alone (a difference of two
noisy rounds cannot resolve a few microseconds).

Usage: .venv/bin/python benchmarks/metrics_overhead.py [--cycles 300] [--rounds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

# Before honed imports prometheus_client, as honed serve does.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="honed-bench-metrics-")

import httpx

from honed.server.app import create_app
from honed.server.settings import Settings

TOKEN = "bench-token"
EXPERIMENT = {
    "name": "metrics overhead",
    "parameters": [
        {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
        {"name": "n", "type": "int", "bounds": {"min": 1, "max": 100}},
    ],
    "metrics": [{"name": "f", "objective": "maximize"}],
    "observation_budget": 1_000_000,
}


async def cycles(client: httpx.AsyncClient, experiment: str, count: int) -> float:
    """CPU seconds per cycle of ``count`` worker-loop cycles."""
    base = f"/v1/experiments/{experiment}"
    started = time.process_time()
    for _ in range(count):
        suggestion = (await client.post(f"{base}/suggestions")).json()
        x = float(suggestion["assignments"]["x"])
        answer = await client.post(
            f"{base}/observations", json={"suggestion": suggestion["id"], "value": x}
        )
        answer.raise_for_status()
    return (time.process_time() - started) / count


async def bookkeeping(count: int) -> dict[str, float]:
    """CPU microseconds of the metrics' own work: the request middleware around an app that
    answers at once, less that app alone; one suggestion handed out."""
    from starlette.routing import Route

    from honed.domain.records import Suggestion
    from honed.domain.records import SuggestionSource
    from honed.domain.records import SuggestionState
    from honed.server.metrics import HandOutMetrics
    from honed.server.metrics import RequestMetrics

    route = Route("/v1/experiments/{experiment_id}/suggestions", lambda _: None)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = route
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(_message: Any) -> None:
        pass

    async def receive() -> dict[str, str]:
        return {"type": "http.request"}

    async def cpu(call: Any) -> float:
        started = time.process_time()
        for _ in range(count):
            await call({"type": "http", "method": "POST"}, receive, send)
        return (time.process_time() - started) / count * 1e6

    bare, measured = await cpu(app), await cpu(RequestMetrics(app))
    observer = HandOutMetrics()
    handed = Suggestion(1, 1, {"x": 0.5}, SuggestionState.OPEN, SuggestionSource.ENGINE, None, 0)
    started = time.process_time()
    for _ in range(count):
        observer.handed_out(handed, None)
    hand_out = (time.process_time() - started) / count * 1e6
    return {"request_us": measured - bare, "hand_out_us": hand_out}


async def main(count: int, rounds: int) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="honed-bench-"))
    clients: dict[str, tuple[httpx.AsyncClient, str]] = {}
    for name, port in (("off", None), ("on", 9)):
        settings = Settings(
            database_url=f"sqlite:///{directory / name}.db", api_token=TOKEN, metrics_port=port
        )
        transport = httpx.ASGITransport(app=create_app(settings))
        client = httpx.AsyncClient(transport=transport, base_url="http://app", auth=(TOKEN, ""))
        experiment = (await client.post("/v1/experiments", json=EXPERIMENT)).json()["id"]
        await cycles(client, experiment, 20)  # warm-up
        clients[name] = (client, experiment)
    seconds: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):
        for name, (client, experiment) in clients.items():
            seconds[name].append(await cycles(client, experiment, count))
    for client, _ in clients.values():
        await client.aclose()
    off, on = (statistics.median(seconds[name]) for name in ("off", "on"))
    own = await bookkeeping(100_000)
    return {
        "bookkeeping_cpu_us_per_request": own["request_us"],
        "bookkeeping_cpu_us_per_hand_out": own["hand_out_us"],
        "cycles_per_round": count,
        "rounds": rounds,
        "cpu_us_per_cycle_off": off * 1e6,
        "cpu_us_per_cycle_on": on * 1e6,
        "ratio_on_off": on / off,
        "rounds_us": {k: [round(v * 1e6, 1) for v in vs] for k, vs in seconds.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    result = asyncio.run(main(args.cycles, args.rounds))
    print(
        f"CPU per worker-loop cycle (median of {args.rounds} rounds of {args.cycles}): "
        f"metrics off {result['cpu_us_per_cycle_off']:.0f} us, "
        f"on {result['cpu_us_per_cycle_on']:.0f} us, ratio {result['ratio_on_off']:.3f}"
    )
    print(
        f"the metrics' own CPU: {result['bookkeeping_cpu_us_per_request']:.1f} us per request, "
        f"{result['bookkeeping_cpu_us_per_hand_out']:.1f} us per suggestion handed out"
    )
    out = Path(__file__).parent / "results" / "metrics_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
