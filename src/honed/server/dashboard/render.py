"""The dashboard's JSON: compact shapes made for charts and tables, not the v1 objects."""

from __future__ import annotations

from typing import Any

from honed.api import render
from honed.domain.experiment import Experiment
from honed.domain.metrics import Metric
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.service.summaries import ExperimentDetail
from honed.service.summaries import ExperimentSummary
from honed.service.summaries import hostname_of

JSON = dict[str, Any]


def metric_key(metric_name: str | None) -> str:
    """The unnamed metric of a single-metric experiment shows as ``value``."""
    return metric_name if metric_name is not None else "value"


def _metric(metric: Metric) -> JSON:
    return {
        "name": metric_key(metric.name),
        "objective": metric.objective.value,
        "strategy": metric.strategy.value,
        "threshold": metric.threshold,
    }


def experiment_head(experiment: Experiment) -> JSON:
    spec = experiment.spec
    return {
        "id": str(experiment.id),
        "name": spec.name,
        "state": experiment.state.value,
        "type": spec.type.value,
        "budget": spec.observation_budget,
        "parallel_bandwidth": spec.parallel_bandwidth,
        "created": experiment.created,
        "parameters": [
            {
                "name": p.name,
                "type": p.type.value,
                "bounds": list(p.bounds) if p.bounds else None,
                "categories": list(p.categorical_values) or None,
            }
            for p in spec.space.parameters
        ],
        "metrics": [_metric(m) for m in spec.metrics],
    }


def summary_json(summary: ExperimentSummary) -> JSON:
    optimized = summary.experiment.spec.optimized_metrics
    return {
        **experiment_head(summary.experiment),
        "observation_count": summary.observation_count,
        "failure_count": summary.failure_count,
        "best_value": summary.best_value,
        "best_count": summary.best_count,
        "best_metric": metric_key(optimized[0].name) if len(optimized) == 1 else None,
        "last_activity": summary.last_activity,
    }


def _observation(observation: Observation) -> JSON:
    return {
        "id": str(observation.id),
        "created": observation.created,
        "suggestion": str(observation.suggestion_id) if observation.suggestion_id else None,
        "assignments": dict(observation.assignments),
        "values": {metric_key(v.name): v.value for v in observation.values},
        "failed": observation.failed,
        "hostname": hostname_of(observation),
    }


def _suggestion(suggestion: Suggestion, now: int) -> JSON:
    return {
        "id": str(suggestion.id),
        "created": suggestion.created,
        "age": max(0, now - suggestion.created),
        "assignments": dict(suggestion.assignments),
        "source": suggestion.source.value,
        "hostname": (suggestion.metadata or {}).get("hostname"),
        "model": render.model_json(suggestion.model),
    }


def detail_json(detail: ExperimentDetail) -> JSON:
    return {
        "experiment": experiment_head(detail.experiment),
        "now": detail.now,
        "observations": [_observation(o) for o in detail.observations],
        "open_suggestions": [_suggestion(s, detail.now) for s in detail.open_suggestions],
        "best_so_far": [
            {"metric": metric_key(b.metric.name), "values": list(b.values)}
            for b in detail.best_so_far
        ],
        "best_ids": [str(i) for i in detail.best_ids],
        "pareto_ids": [str(i) for i in detail.pareto_ids],
        "workers": [
            {
                "hostname": w.hostname,
                "last_report": w.last_report,
                "observations": w.observations,
                "failures": w.failures,
                "silent": w.silent,
            }
            for w in detail.workers
        ],
    }
