"""The dashboard's JSON: compact shapes made for charts and tables, not the v1 objects."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from honed.api import render
from honed.domain.experiment import Experiment
from honed.domain.metrics import Metric
from honed.domain.records import Observation
from honed.domain.records import Suggestion
from honed.domain.records import generation_method
from honed.domain.trials import ENDED_KEY
from honed.domain.trials import REASON_KEY
from honed.domain.trials import STARTED_KEY
from honed.domain.trials import number_of
from honed.domain.trials import progress_curve
from honed.domain.trials import status_of
from honed.service.analysis import AnalysisView
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
        "num_solutions": spec.solutions,
        "created": experiment.created,
        "parameters": [
            {
                "name": p.name,
                "type": p.type.value,
                "bounds": list(p.bounds) if p.bounds else None,
                "categories": list(p.categorical_values) or None,
                "transformation": p.transformation,
                "grid": list(p.grid) if p.grid is not None else None,
                "default": p.default_value,
                "conditions": {name: list(values) for name, values in p.conditions},
            }
            for p in spec.space.parameters
        ],
        "conditionals": [
            {"name": c.name, "values": list(c.values)} for c in spec.space.conditionals
        ],
        "metrics": [_metric(m) for m in spec.metrics],
        "linear_constraints": [
            {"type": c.type, "terms": dict(c.terms), "threshold": c.threshold}
            for c in spec.space.linear_constraints
        ],
        "suggestion_ttl_seconds": spec.suggestion_ttl_seconds,
        "project": spec.project,
        "runs_only": spec.runs_only,
        "metadata": dict(spec.metadata or {}),
        # Multitask: the target (cost 1) first; empty for a plain experiment.
        "tasks": [
            {"name": t.name, "cost": t.cost}
            for t in sorted(spec.tasks, key=lambda t: t.cost, reverse=True)
        ],
    }


def summary_json(summary: ExperimentSummary) -> JSON:
    optimized = summary.experiment.spec.optimized_metrics
    return {
        **experiment_head(summary.experiment),
        "observation_count": summary.observation_count,
        "failure_count": summary.failure_count,
        "early_stopped_count": summary.early_stopped_count,
        "best_value": summary.best_value,
        "best_count": summary.best_count,
        "best_metric": metric_key(optimized[0].name) if len(optimized) == 1 else None,
        "last_activity": summary.last_activity,
        "budget_consumed": summary.budget_consumed,
    }


def _observation(observation: Observation, suggestion: Suggestion | None) -> JSON:
    """One row of the table and every chart: a scheduler trial's status, reason, times and
    intermediate values are read back from the metadata it was stored with."""
    metadata = dict(observation.metadata or {})
    suggested = suggestion.metadata if suggestion is not None else None
    started = number_of(metadata, STARTED_KEY) or number_of(suggested, STARTED_KEY)
    if started is None and suggestion is not None:
        started = suggestion.created
    reason = metadata.get(REASON_KEY)
    return {
        "id": str(observation.id),
        "created": observation.created,
        "suggestion": str(observation.suggestion_id) if observation.suggestion_id else None,
        # What chose the point, in the words of the exports and Scheduler.to_dataframe().
        "source": generation_method(suggestion.source) if suggestion is not None else None,
        "task": observation.task,
        "assignments": dict(observation.assignments),
        "values": {metric_key(v.name): v.value for v in observation.values},
        "failed": observation.failed,
        "status": status_of(observation),
        "reason": str(reason) if reason is not None else None,
        "started": started,
        "ended": number_of(metadata, ENDED_KEY) or observation.created,
        "hostname": hostname_of(observation),
        "metadata": metadata,
        "curve": [list(point) for point in progress_curve(suggested)] or None,
    }


def _suggestion(suggestion: Suggestion, now: int) -> JSON:
    return {
        "id": str(suggestion.id),
        "created": suggestion.created,
        "age": max(0, now - suggestion.created),
        "assignments": dict(suggestion.assignments),
        "source": generation_method(suggestion.source),
        "task": suggestion.task,
        "hostname": (suggestion.metadata or {}).get("hostname"),
        "model": render.model_json(suggestion.model),
    }


def page_version(version: str, fresh_until: int | None) -> str:
    """An experiment page's ``version`` (its ETag): the records' version
    (``SummaryService.version``) and the second from which the clock changes the page
    (``ExperimentDetail.fresh_until``; 0: never)."""
    return f"{version}.{fresh_until or 0}"


def is_current(etag: str, version: str, now: float) -> bool:
    """Whether a page whose ETag is ``etag`` (as sent back, quoted) still shows what the
    records of ``version`` show at ``now``, so the answer can be a 304 without building it."""
    held, _, until = etag.strip().strip('"').rpartition(".")
    if held != version or not until.isdigit():
        return False
    return int(until) == 0 or now < int(until)


def detail_json(detail: ExperimentDetail) -> JSON:
    """The page's data with ``version`` (``page_version``), which changes whenever what
    it shows does (the clock aside: ages are the page's to count), so a page redraws (and
    a refresh transfers) only when its records were written."""
    data: JSON = {
        "experiment": experiment_head(detail.experiment),
        "budget_consumed": detail.budget_consumed,
        "observations": [
            _observation(o, detail.suggestions.get(o.suggestion_id or 0))
            for o in detail.observations
        ],
        "open_suggestions": [_suggestion(s, detail.now) for s in detail.open_suggestions],
        "best_so_far": [
            {"metric": metric_key(b.metric.name), "values": list(b.values)}
            for b in detail.best_so_far
        ],
        "best_ids": [str(i) for i in detail.best_ids],
        "pareto_ids": [str(i) for i in detail.pareto_ids],
        "hypervolume": None
        if detail.hypervolume is None
        else {
            "reference": list(detail.hypervolume.reference),
            "values": list(detail.hypervolume.values),
        },
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
    data["version"] = page_version(detail.version, detail.fresh_until)
    data["now"] = detail.now
    return data


def model_json(view: AnalysisView) -> JSON:
    """The model analysis for the importance chart and the slices' bands, with ``version``:
    a digest of all of it, so an unchanged analysis is a 304 and never redrawn."""
    analysis = None
    if view.analysis is not None:
        analysis = asdict(view.analysis)
        for metric in analysis["metrics"]:
            metric["metric"] = metric_key(metric["metric"])
    data: JSON = {
        "status": view.status.value,
        "message": view.message,
        "observation_count": view.observation_count,
        "analysis": analysis,
        # Multitask: the task the analysis is of (the target, cost 1); null otherwise.
        "task": view.task,
    }
    text = json.dumps(data, separators=(",", ":"), default=str).encode()
    data["version"] = hashlib.sha1(text, usedforsecurity=False).hexdigest()
    return data
