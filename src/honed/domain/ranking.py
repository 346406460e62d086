"""Which observations are best: one optimum, a Pareto front, or every feasible point."""

from __future__ import annotations

import math
from collections.abc import Sequence

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.records import Observation
from honed.domain.trials import is_early_stopped


def is_feasible(spec: ExperimentSpec, observation: Observation) -> bool:
    """Not failed, every optimized/constraint metric present and within its threshold."""
    if observation.failed:
        return False
    for metric in (*spec.optimized_metrics, *spec.constraint_metrics):
        value = observation.value_of(metric.name)
        if value is None or not metric.satisfies_threshold(value):
            return False
    return True


def counts_for_best(spec: ExperimentSpec, observation: Observation) -> bool:
    """Feasible and complete: an early-stopped trial's value is a partial one (the last of
    its curve), so it never ranks as best, in best_assignments, best-so-far or a front."""
    return is_feasible(spec, observation) and not is_early_stopped(observation)


def best_observations(
    spec: ExperimentSpec, observations: Sequence[Observation]
) -> list[Observation]:
    """SigOpt's best_assignments semantics.

    One optimized metric: the single best feasible, complete observation (earliest wins
    ties; see counts_for_best).
    Two: the Pareto front, sorted by the first metric. None (all constraints): every
    feasible observation, newest first.
    """
    feasible = [o for o in observations if not o.deleted and counts_for_best(spec, o)]
    optimized = spec.optimized_metrics
    if not feasible:
        return []
    if not optimized:
        return sorted(feasible, key=lambda o: o.id, reverse=True)
    if len(optimized) == 1:
        return [max(feasible, key=lambda o: (_score(optimized[0], o), -o.id))]
    return pareto_front(optimized, feasible)


def _score(metric: Metric, observation: Observation) -> float:
    value = observation.value_of(metric.name)
    assert value is not None
    return metric.sign() * value


def pareto_front(
    metrics: Sequence[Metric], observations: Sequence[Observation]
) -> list[Observation]:
    """Observations no other dominates, best first by the first metric; O(n log n) for two."""
    if len(metrics) != 2:
        raise ValueError("pareto_front takes exactly two metrics")
    scored = sorted(
        ((_score(metrics[0], o), _score(metrics[1], o), o) for o in observations),
        key=lambda item: (-item[0], -item[1], item[2].id),
    )
    front: list[Observation] = []
    best_second = -math.inf
    first_at_best = math.inf
    for first, second, observation in scored:
        # Every earlier item is at least as good on the first metric, so this one is on the
        # front iff it beats them all on the second, or equals the item that set the record.
        if second > best_second:
            best_second, first_at_best = second, first
            front.append(observation)
        elif second == best_second and first == first_at_best:
            front.append(observation)
    return front
