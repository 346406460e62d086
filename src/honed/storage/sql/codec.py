"""Domain objects to JSON columns and back."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentType
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.metrics import Strategy
from honed.domain.parameters import Conditional
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.records import MetricValue
from honed.storage.sql.database import json_loads

# Distinct stored specs kept decoded (``spec_from_text``): a few KB each.
DECODED_SPECS = 256


def spec_to_json(spec: ExperimentSpec) -> dict[str, Any]:
    return {
        "parameters": [_parameter_to_json(p) for p in spec.space.parameters],
        "conditionals": [
            {"name": c.name, "values": list(c.values)} for c in spec.space.conditionals
        ],
        "linear_constraints": [
            {"type": c.type, "terms": [list(t) for t in c.terms], "threshold": c.threshold}
            for c in spec.space.linear_constraints
        ],
        "metrics": [
            {
                "name": m.name,
                "objective": m.objective.value,
                "strategy": m.strategy.value,
                "threshold": m.threshold,
            }
            for m in spec.metrics
        ],
        "observation_budget": spec.observation_budget,
        "parallel_bandwidth": spec.parallel_bandwidth,
        "metadata": dict(spec.metadata) if spec.metadata is not None else None,
        "suggestion_ttl_seconds": spec.suggestion_ttl_seconds,
        "num_solutions": spec.num_solutions,
        # Pairs, in the order given (absent from specs stored before multitask).
        "tasks": [[t.name, t.cost] for t in spec.tasks],
    }


def _parameter_to_json(parameter: Parameter) -> dict[str, Any]:
    return {
        "name": parameter.name,
        "type": parameter.type.value,
        "bounds": list(parameter.bounds) if parameter.bounds is not None else None,
        "categorical_values": list(parameter.categorical_values),
        "grid": list(parameter.grid) if parameter.grid is not None else None,
        "transformation": parameter.transformation,
        "default_value": parameter.default_value,
        "prior": dict(parameter.prior) if parameter.prior is not None else None,
        # Pairs, not an object: PostgreSQL's JSONB would reorder an object's keys.
        "conditions": [[name, list(values)] for name, values in parameter.conditions],
    }


def spec_from_json(
    name: str,
    type_: str,
    development: bool,
    data: dict[str, Any],
    runs_only: bool = False,
    project: str | None = None,
) -> ExperimentSpec:
    parameters = tuple(
        Parameter(
            name=p["name"],
            type=ParameterType(p["type"]),
            bounds=(p["bounds"][0], p["bounds"][1]) if p["bounds"] is not None else None,
            categorical_values=tuple(p["categorical_values"]),
            grid=tuple(p["grid"]) if p["grid"] is not None else None,
            transformation=p["transformation"],
            default_value=p["default_value"],
            prior=p["prior"],
            conditions=tuple((c[0], tuple(c[1])) for c in p.get("conditions", ())),
        )
        for p in data["parameters"]
    )
    conditionals = tuple(
        Conditional(c["name"], tuple(c["values"])) for c in data.get("conditionals", ())
    )
    constraints = tuple(
        LinearConstraint(
            type=c["type"],
            terms=tuple((t[0], float(t[1])) for t in c["terms"]),
            threshold=c["threshold"],
        )
        for c in data["linear_constraints"]
    )
    metrics = tuple(
        Metric(
            name=m["name"],
            objective=Objective(m["objective"]),
            strategy=Strategy(m["strategy"]),
            threshold=m["threshold"],
        )
        for m in data["metrics"]
    )
    return ExperimentSpec(
        name=name,
        space=SearchSpace(parameters, constraints, conditionals),
        metrics=metrics,
        type=ExperimentType(type_),
        observation_budget=data["observation_budget"],
        parallel_bandwidth=data["parallel_bandwidth"],
        metadata=data["metadata"],
        suggestion_ttl_seconds=data.get("suggestion_ttl_seconds"),
        num_solutions=data.get("num_solutions"),
        tasks=tuple(Task(t[0], float(t[1])) for t in data.get("tasks", ())),
        development=development,
        runs_only=runs_only,
        project=project,
    )


@lru_cache(maxsize=DECODED_SPECS)
def spec_from_text(
    name: str,
    type_: str,
    development: bool,
    text: str,
    runs_only: bool = False,
    project: str | None = None,
) -> ExperimentSpec:
    """``spec_from_json`` of a spec column read as its JSON text, decoded once per
    distinct text and columns: every worker-loop request reads its experiment, whose spec
    rarely changes, and a spec is frozen, so one decoded copy serves them all
    (docs/decisions.md: The worker loop decodes a spec once and updates one index fewer)."""
    return spec_from_json(name, type_, development, json_loads(text), runs_only, project)


def values_to_json(values: tuple[MetricValue, ...]) -> list[dict[str, Any]]:
    return [{"name": v.name, "value": v.value, "value_stddev": v.value_stddev} for v in values]


def values_from_json(data: list[dict[str, Any]]) -> tuple[MetricValue, ...]:
    return tuple(MetricValue(d["name"], d["value"], d["value_stddev"]) for d in data)
