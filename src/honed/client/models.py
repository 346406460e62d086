"""Typed results of the client: plain frozen dataclasses built from the v1 JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

Assignments = Mapping[str, Any]
JSON = dict[str, Any]


@dataclass(frozen=True)
class MetricDef:
    name: str
    objective: str = "maximize"
    strategy: str = "optimize"
    threshold: float | None = None


@dataclass(frozen=True)
class TaskDef:
    """A task of a multitask experiment and its cost relative to the full evaluation."""

    name: str
    cost: float


def _task_name(data: Any) -> str | None:
    """A record's ``task`` object as its name (None: a plain experiment's record)."""
    return str(data["name"]) if isinstance(data, Mapping) and "name" in data else None


@dataclass(frozen=True)
class Experiment:
    id: str
    name: str
    type: str
    state: str
    parameters: list[JSON]
    metrics: list[MetricDef]
    observation_budget: int | None
    parallel_bandwidth: int | None
    metadata: dict[str, Any] | None
    observation_count: int
    raw: JSON = field(repr=False, compare=False)
    #: Multitask: the tasks, the target (cost 1) first; empty for a plain experiment.
    tasks: list[TaskDef] = field(default_factory=list)
    #: What the observations cost of the budget: their tasks' costs (the count if plain).
    observation_budget_consumed: float = 0.0

    @property
    def optimized_metrics(self) -> list[MetricDef]:
        return [m for m in self.metrics if m.strategy == "optimize"]

    def task_cost(self, name: str | None) -> float:
        """The cost of the task ``name``: 1 for a plain experiment's evaluations."""
        return next((t.cost for t in self.tasks if t.name == name), 1.0)

    @classmethod
    def from_json(cls, data: JSON) -> Experiment:
        progress = data.get("progress") or {}
        return cls(
            id=str(data["id"]),
            name=data["name"],
            type=data.get("type") or "offline",
            state=data.get("state") or "active",
            parameters=list(data.get("parameters") or []),
            metrics=[
                MetricDef(
                    name=m.get("name") or "",
                    objective=m.get("objective") or "maximize",
                    strategy=m.get("strategy") or "optimize",
                    threshold=m.get("threshold"),
                )
                for m in data.get("metrics") or []
            ],
            observation_budget=data.get("observation_budget"),
            parallel_bandwidth=data.get("parallel_bandwidth"),
            metadata=data.get("metadata"),
            observation_count=int(progress.get("observation_count") or 0),
            raw=data,
            tasks=[TaskDef(str(t["name"]), float(t["cost"])) for t in data.get("tasks") or []],
            observation_budget_consumed=float(progress.get("observation_budget_consumed") or 0),
        )


@dataclass(frozen=True)
class SuggestionModel:
    """What the model behind an optimizer suggestion knew (honed's ``model`` field):
    observations it was fitted on, ``candidate`` "batch" or "pool", stored observations it
    neither saw nor had pending, and whether that was within the tolerance (fresh)."""

    observations: int
    candidate: str
    unaccounted: int
    fresh: bool

    @classmethod
    def from_json(cls, data: JSON | None) -> SuggestionModel | None:
        if not data:
            return None
        return cls(
            observations=int(data["observations"]),
            candidate=str(data["candidate"]),
            unaccounted=int(data["unaccounted"]),
            fresh=bool(data["fresh"]),
        )


@dataclass(frozen=True)
class Suggestion:
    id: str
    experiment: str
    state: str
    created: int
    assignments: dict[str, Any]
    metadata: dict[str, Any]
    source: str | None = None
    model: SuggestionModel | None = None
    #: Multitask: the name of the task to evaluate (None for a plain experiment).
    task: str | None = None

    @classmethod
    def from_json(cls, data: JSON) -> Suggestion:
        return cls(
            id=str(data["id"]),
            experiment=str(data["experiment"]),
            state=data.get("state") or "open",
            created=int(data.get("created") or 0),
            assignments=dict(data.get("assignments") or {}),
            metadata=dict(data.get("metadata") or {}),
            source=data.get("source"),
            model=SuggestionModel.from_json(data.get("model")),
            task=_task_name(data.get("task")),
        )


@dataclass(frozen=True)
class Observation:
    id: str
    experiment: str
    suggestion: str | None
    created: int
    assignments: dict[str, Any]
    values: dict[str, float]
    stddevs: dict[str, float | None]
    failed: bool
    metadata: dict[str, Any]
    #: Multitask: the name of the task evaluated.
    task: str | None = None

    @classmethod
    def from_json(cls, data: JSON) -> Observation:
        values = data.get("values") or []
        return cls(
            id=str(data["id"]),
            experiment=str(data.get("experiment", "")),
            suggestion=str(data["suggestion"]) if data.get("suggestion") is not None else None,
            created=int(data.get("created") or 0),
            assignments=dict(data.get("assignments") or {}),
            values={v.get("name") or "": float(v["value"]) for v in values},
            stddevs={v.get("name") or "": v.get("value_stddev") for v in values},
            failed=bool(data.get("failed")),
            metadata=dict(data.get("metadata") or {}),
            task=_task_name(data.get("task")),
        )


@dataclass(frozen=True)
class BestAssignments:
    id: str
    assignments: dict[str, Any]
    values: dict[str, float]
    metadata: dict[str, Any]
    task: str | None = None

    @classmethod
    def from_json(cls, data: JSON) -> BestAssignments:
        return cls(
            id=str(data["id"]),
            assignments=dict(data.get("assignments") or {}),
            values={v.get("name") or "": float(v["value"]) for v in data.get("values") or []},
            metadata=dict(data.get("metadata") or {}),
            task=_task_name(data.get("task")),
        )


@dataclass(frozen=True)
class NewObservation:
    """One observation to report: ``values`` by metric name, or ``failed=True``."""

    suggestion: str | None = None
    values: Mapping[str, float] | None = None
    failed: bool = False
    assignments: Assignments | None = None
    metadata: Mapping[str, Any] | None = None
    stddevs: Mapping[str, float] | None = None
    #: Multitask: the task evaluated, with ``assignments`` (one of a suggestion is its).
    task: str | None = None

    def to_json(self) -> JSON:
        body: JSON = {}
        if self.suggestion is not None:
            body["suggestion"] = self.suggestion
        if self.assignments is not None:
            body["assignments"] = dict(self.assignments)
        if self.values is not None:
            stddevs = self.stddevs or {}
            body["values"] = [
                {"name": name, "value": value}
                | ({"value_stddev": stddevs[name]} if name in stddevs else {})
                for name, value in self.values.items()
            ]
        if self.failed:
            body["failed"] = True
        if self.metadata is not None:
            body["metadata"] = dict(self.metadata)
        if self.task is not None:
            body["task"] = self.task
        return body
