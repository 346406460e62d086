"""Which observations are best: one optimum, a few diverse ones (multisolution), a Pareto
front, or every feasible point."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TypeVar

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.parameters import Assignments
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.records import Observation
from honed.domain.trials import is_early_stopped

#: Multisolution: solutions closer than this (root mean square over the dimensions of the
#: unit cube, see ``distance``) count as one, the better one kept. 0.1 is a tenth of each
#: range in every dimension, a third of a range in one of ten.
SOLUTION_RADIUS = 0.1
MAX_SOLUTION_SCAN = 1_000

Item = TypeVar("Item")


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
    its curve), so it never ranks as best, in best_assignments, best-so-far or a front.
    Multitask: only an evaluation of the cost-1 task is complete (SigOpt's "best at task
    cost 1"); a cheaper task's value is not the one users optimize."""
    return (
        is_feasible(spec, observation)
        and not is_early_stopped(observation)
        and (not spec.tasks or spec.task_cost(observation.task) == 1.0)
    )


def budget_consumed(spec: ExperimentSpec, observations: Sequence[Observation]) -> float:
    """What the observations cost of the ``observation_budget``: each non-deleted one its
    task's cost (failed ones too, as in SigOpt), so the count for a plain experiment."""
    return budget_of_counts(spec, Counter(o.task for o in observations if not o.deleted))


def budget_of_counts(spec: ExperimentSpec, per_task: Mapping[str | None, int]) -> float:
    """``budget_consumed`` from how many non-deleted observations each task has."""
    if not spec.tasks:
        return float(sum(per_task.values()))
    # Each observation's cost summed, as fsum rounds it once whatever the grouping.
    costs = (itertools.repeat(spec.task_cost(task), n) for task, n in per_task.items())
    return math.fsum(itertools.chain.from_iterable(costs))


def best_observations(
    spec: ExperimentSpec, observations: Sequence[Observation]
) -> list[Observation]:
    """SigOpt's best_assignments semantics.

    One optimized metric: the single best feasible, complete observation (earliest wins
    ties; see counts_for_best); with ``num_solutions`` > 1, that many diverse ones (see
    ``diverse_best``).
    Two: the Pareto front, sorted by the first metric. None (all constraints): every
    feasible observation, newest first.
    """
    feasible = [o for o in observations if not o.deleted and counts_for_best(spec, o)]
    optimized = spec.optimized_metrics
    if not feasible:
        return []
    if not optimized:
        return sorted(feasible, key=lambda o: o.id, reverse=True)
    if len(optimized) == 1 and spec.solutions == 1:
        return [max(feasible, key=lambda o: (_score(optimized[0], o), -o.id))]
    if len(optimized) == 1:
        ranked = sorted(feasible, key=lambda o: (-_score(optimized[0], o), o.id))
        return diverse_best(spec.space, ranked, spec.solutions)
    return pareto_front(optimized, feasible)


def diverse_best(
    space: SearchSpace, ranked: Sequence[Observation], count: int
) -> list[Observation]:
    """Up to ``count`` of ``ranked`` (best first) that no better one lies within
    SOLUTION_RADIUS of: each the best point of its neighbourhood, so no two lie within the
    radius, and a point on the slope just outside a better solution's radius stops being a
    solution of its own once anything better is observed beside it. Only the first
    MAX_SOLUTION_SCAN of ``ranked`` are looked at (the work grows with its square)."""
    scanned = ranked[:MAX_SOLUTION_SCAN]
    places = [_places(space, o.assignments) for o in scanned]
    limit = SOLUTION_RADIUS**2 * (len(space.conditionals) + len(space.parameters))
    chosen: list[Observation] = []
    for index, observation in enumerate(scanned):
        if all(_squared(places[index], better) >= limit for better in places[:index]):
            chosen.append(observation)
            if len(chosen) == count:
                break
    return chosen


def distance(space: SearchSpace, a: Assignments, b: Assignments) -> float:
    """How far apart two points are, from 0 to 1: the root mean square over the space's
    dimensions of each one's distance in the unit cube. A number counts by its place in
    its range (in log space for a log parameter); a category or a conditional's value 0
    where the two agree, else 1; a parameter active in one point only, 1."""
    squared = _squared(_places(space, a), _places(space, b))
    return math.sqrt(squared / (len(space.conditionals) + len(space.parameters)))


Place = float | str | None


def _places(space: SearchSpace, point: Assignments) -> list[Place]:
    """Per dimension: a number's place in its range, else the value as it is (a category,
    a conditional's value, None where inactive)."""
    places: list[Place] = [str(point.get(c.name)) for c in space.conditionals]
    for parameter in space.parameters:
        value = point.get(parameter.name)
        if value is None or parameter.type is ParameterType.CATEGORICAL:
            places.append(None if value is None else str(value))
        else:
            places.append(parameter.to_unit(float(value)))
    return places


def _squared(a: Sequence[Place], b: Sequence[Place]) -> float:
    total = 0.0
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and isinstance(y, float):
            total += (x - y) ** 2
        elif x != y:
            total += 1.0
    return total


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
    return _undominated(scored)


def _undominated(scored: Sequence[tuple[float, float, Item]]) -> list[Item]:
    """The items of ``scored`` (larger is better on both, sorted best first by the first
    score, then the second) that no other dominates."""
    front: list[Item] = []
    best_second = -math.inf
    first_at_best = math.inf
    for first, second, item in scored:
        # Every earlier item is at least as good on the first metric, so this one is on the
        # front iff it beats them all on the second, or equals the item that set the record.
        if second > best_second:
            best_second, first_at_best = second, first
            front.append(item)
        elif second == best_second and first == first_at_best:
            front.append(item)
    return front
