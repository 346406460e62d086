"""Experiments with known contents for the dashboard, CLI and notebook tests."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx

from honed.domain import trials

HOSTS = ("gpu-1", "gpu-2", "cpu-1")
N_OBSERVATIONS = 45
BUDGET = 60


@dataclass
class Trained:
    """A network trained by a scheduler, stored as honed.scheduler.record stores trials."""

    id: str
    statuses: list[str] = field(default_factory=list)  # completed | failed | early_stopped
    values: list[float | None] = field(default_factory=list)
    curves: list[list[list[float]]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    observation_ids: list[str] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Seeded:
    """What was stored, to compare the dashboard and CLI against."""

    single: str  # one metric, maximize: 45 observations (every 9th failed), 2 open suggestions
    pareto: str  # two metrics, minimize both: 20 observations
    live: str  # for the live-refresh test, which adds observations (metric sharpe_ratio)
    trained: Trained | None = None  # scheduler trials: curves, early stopping, log parameters
    values: list[float | None] = field(default_factory=list)  # single, oldest first
    hosts: list[str] = field(default_factory=list)
    open_suggestions: list[str] = field(default_factory=list)


def accuracy(x: float, y: int, kind: str) -> float:
    """A classifier's validation accuracy: between 0.5 and 0.96, as a real one would be."""
    return round(
        0.62 + 0.12 * math.sin(3 * x) + 0.015 * y + {"a": 0.0, "b": 0.03, "c": -0.02}[kind], 6
    )


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
                "name": "Trading strategy backtest",
                "parameters": parameters[:1],
                "metrics": [{"name": "sharpe_ratio", "objective": "maximize"}],
                "observation_budget": 10,
            },
        )["id"]
        post(
            f"/v1/experiments/{seeded.live}/observations",
            {"assignments": {"x": 0.5}, "values": [{"name": "sharpe_ratio", "value": 1.0}]},
        )
        seeded.trained = seed_trained(post)
        return seeded


TRAINED_HOSTS = ("gpu-1", "gpu-2", "gpu-3", "gpu-4")
N_TRIALS = 36
EPOCHS = 10
STOP_AT = 4  # the early-stopping rule's step


# A ResNet-18's hyperparameters on CIFAR-10, as the seeded trials and the model views tune it.
RESNET: dict[str, Any] = {
    "name": "ResNet-18 on CIFAR-10",
    "parameters": [
        {
            "name": "learning_rate",
            "type": "double",
            "bounds": {"min": 1e-4, "max": 1.0},
            "transformation": "log",
        },
        {
            "name": "weight_decay",
            "type": "double",
            "bounds": {"min": 1e-6, "max": 1e-2},
            "transformation": "log",
        },
        {"name": "batch_size", "type": "int", "bounds": {"min": 32, "max": 256}},
        {
            "name": "optimizer",
            "type": "categorical",
            "categorical_values": ["sgd", "adam", "adamw"],
        },
    ],
    "metrics": [{"name": "val_accuracy", "objective": "maximize"}],
}


def final_accuracy(
    learning_rate: float, weight_decay: float, batch_size: int, optimizer: str
) -> float:
    """Peaks near lr = 3e-3 and weight decay = 5e-4, as a ResNet on CIFAR-10 would."""
    score = (
        0.935
        - 0.06 * (math.log10(learning_rate) - math.log10(3e-3)) ** 2
        - 0.012 * (math.log10(weight_decay) + 3.3) ** 2
        - 0.00015 * abs(batch_size - 128)
        + {"sgd": 0.0, "adam": -0.012, "adamw": 0.004}[optimizer]
    )
    return round(min(0.95, max(0.1, score)), 4)


def seed_trained(post: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Trained:
    """Trials as ``honed run`` leaves them: suggestions from the experiment's design, each
    with its curve; observations with the trial's status, times and failure reason. The
    worst third by their epoch-4 accuracy are stopped early (their value: the last
    intermediate one); a learning rate above 0.3 diverges and fails."""
    experiment = post(
        "/v1/experiments", {**RESNET, "observation_budget": 48, "parallel_bandwidth": 4}
    )["id"]
    trained = Trained(id=experiment)
    start = time.time() - 6 * 3600
    free_at = dict.fromkeys(TRAINED_HOSTS, start)
    suggestions = [post(f"/v1/experiments/{experiment}/suggestions", {}) for _ in range(N_TRIALS)]
    finals = [final_accuracy(**s["assignments"]) for s in suggestions]
    at_stop = sorted(f * (1 - math.exp(-STOP_AT / 3)) for f in finals)
    stop_below = at_stop[len(at_stop) // 3]
    for index, suggestion in enumerate(suggestions):
        a = suggestion["assignments"]
        final = finals[index]
        curve = [[e, round(final * (1 - math.exp(-e / 3)), 4)] for e in range(1, EPOCHS + 1)]
        host = TRAINED_HOSTS[index % len(TRAINED_HOSTS)]
        status, reason = "completed", None
        if a["learning_rate"] > 0.3:
            status, reason = (
                "failed",
                "RuntimeError: loss is nan at epoch 3 (learning rate too high)",
            )
            curve = curve[:2]
        elif curve[STOP_AT - 1][1] < stop_below:
            status, curve = "early_stopped", curve[:STOP_AT]
        # gpu-4 is a slower machine: its trials take twice as long (a straggler).
        seconds = 60 * len(curve) * (2 if host == "gpu-4" else 1)
        started = free_at[host]
        free_at[host] = started + seconds + 20
        trial = {trials.STATUS_KEY: status, "honed_trial": index}
        metadata: dict[str, Any] = {
            **trial,
            "hostname": host,
            trials.STARTED_KEY: started,
            trials.ENDED_KEY: started + seconds,
        }
        if reason:
            metadata[trials.REASON_KEY] = reason
        progress = json.dumps(curve, separators=(",", ":"))
        post(
            f"/v1/experiments/{experiment}/suggestions/{suggestion['id']}",
            {"metadata": {"honed_trial": index, trials.PROGRESS_PREFIX + "0": progress}},
        )
        value = None if status == "failed" else curve[-1][1]
        body: dict[str, Any] = {
            "suggestion": suggestion["id"],
            "failed": status == "failed",
            "metadata": metadata,
        }
        if value is not None:
            body["values"] = [{"name": "val_accuracy", "value": value}]
        observation = post(f"/v1/experiments/{experiment}/observations", body)
        trained.statuses.append(status)
        trained.values.append(value)
        trained.curves.append(curve)
        trained.hosts.append(host)
        trained.reasons.append(reason)
        trained.observation_ids.append(observation["id"])
        trained.assignments.append(dict(a))
    return trained


def best_so_far(values: list[float | None]) -> list[float | None]:
    best: float | None = None
    trace = []
    for value in values:
        if value is not None and (best is None or value > best):
            best = value
        trace.append(best)
    return trace
