"""Experiments with known contents for the dashboard, CLI and notebook tests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx

HOSTS = ("gpu-1", "gpu-2", "cpu-1")
N_OBSERVATIONS = 45
BUDGET = 60


@dataclass
class Seeded:
    """What was stored, to compare the dashboard and CLI against."""

    single: str  # one metric, maximize: 45 observations (every 9th failed), 2 open suggestions
    pareto: str  # two metrics, minimize both: 20 observations
    live: str  # for the live-refresh test, which adds observations
    values: list[float | None] = field(default_factory=list)  # single, oldest first
    hosts: list[str] = field(default_factory=list)
    open_suggestions: list[str] = field(default_factory=list)


def accuracy(x: float, y: int, kind: str) -> float:
    return round(math.sin(3 * x) + 0.1 * y + {"a": 0.0, "b": 0.3, "c": -0.2}[kind], 6)


def seed(url: str, token: str) -> Seeded:
    with httpx.Client(base_url=url, auth=(token, ""), timeout=30) as http:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = http.post(path, json=body)
            assert response.status_code == 200, response.text
            result: dict[str, Any] = response.json()
            return result

        parameters = [
            {"name": "x", "type": "double", "bounds": {"min": 0, "max": 1}},
            {"name": "y", "type": "int", "bounds": {"min": 1, "max": 10}},
            {"name": "kind", "type": "categorical", "categorical_values": ["a", "b", "c"]},
        ]
        single = post(
            "/v1/experiments",
            {
                "name": "Classifier accuracy",
                "parameters": parameters,
                "metrics": [{"name": "accuracy", "objective": "maximize"}],
                "observation_budget": BUDGET,
            },
        )["id"]
        seeded = Seeded(single=single, pareto="", live="")
        batch = []
        for i in range(N_OBSERVATIONS):
            x, y, kind = (i * 0.37) % 1, 1 + (i * 7) % 10, "abc"[i % 3]
            host = HOSTS[i % 3]
            failed = i % 9 == 4
            value = None if failed else accuracy(x, y, kind)
            item: dict[str, Any] = {
                "assignments": {"x": x, "y": y, "kind": kind},
                "metadata": {"hostname": host},
                "failed": failed,
            }
            if not failed:
                item["values"] = [{"name": "accuracy", "value": value}]
            batch.append(item)
            seeded.values.append(value)
            seeded.hosts.append(host)
        post(f"/v1/experiments/{single}/observations/batch", {"observations": batch})
        for _ in range(2):
            suggestion = post(f"/v1/experiments/{single}/suggestions", {})
            seeded.open_suggestions.append(suggestion["id"])

        seeded.pareto = post(
            "/v1/experiments",
            {
                "name": "Latency against loss",
                "parameters": parameters[:2],
                "metrics": [
                    {"name": "loss", "objective": "minimize"},
                    {"name": "latency", "objective": "minimize"},
                ],
                "observation_budget": 30,
            },
        )["id"]
        pareto_batch = [
            {
                "assignments": {"x": i / 20, "y": 1 + i % 10},
                "values": [
                    {"name": "loss", "value": round((i / 20 - 0.3) ** 2 + 0.01 * (i % 4), 6)},
                    {"name": "latency", "value": round(1 + i / 20 + 0.05 * (i % 3), 6)},
                ],
                "metadata": {"hostname": HOSTS[i % 2]},
            }
            for i in range(20)
        ]
        post(f"/v1/experiments/{seeded.pareto}/observations/batch", {"observations": pareto_batch})

        seeded.live = post(
            "/v1/experiments",
            {
                "name": "Live one",
                "parameters": parameters[:1],
                "metrics": [{"name": "score", "objective": "maximize"}],
                "observation_budget": 10,
            },
        )["id"]
        post(
            f"/v1/experiments/{seeded.live}/observations",
            {"assignments": {"x": 0.5}, "values": [{"name": "score", "value": 1.0}]},
        )
        return seeded


def best_so_far(values: list[float | None]) -> list[float | None]:
    best: float | None = None
    trace = []
    for value in values:
        if value is not None and (best is None or value > best):
            best = value
        trace.append(best)
    return trace
