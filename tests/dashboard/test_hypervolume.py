"""Hypervolume over time and early-stopped trials in the rankings (pure domain code)."""

from __future__ import annotations

import itertools
import random

import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.hypervolume import hypervolume_trace
from honed.domain.hypervolume import reference_point
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.ranking import best_observations
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.trials import STATUS_KEY
from honed.domain.trials import progress_curve

SPACE = SearchSpace((Parameter("x", ParameterType.DOUBLE, bounds=(0.0, 1.0)),))
MIN_MAX = (Metric("a", Objective.MINIMIZE), Metric("b", Objective.MAXIMIZE))


def observation(
    i: int, a: float, b: float | None = None, status: str | None = None
) -> Observation:
    values = (MetricValue("a", a),) + (() if b is None else (MetricValue("b", b),))
    return Observation(
        id=i,
        experiment_id=1,
        suggestion_id=None,
        assignments={"x": 0.5},
        values=values,
        failed=False,
        metadata={STATUS_KEY: status} if status else None,
        created=i,
    )


def brute_force(points: list[tuple[float, float]], ref: tuple[float, float]) -> float:
    """The dominated area by inclusion on a grid of the points' own coordinates (a
    minimize, b maximize)."""
    xs = sorted({ref[0], *(p[0] for p in points)})
    ys = sorted({ref[1], *(p[1] for p in points)})
    area = 0.0
    for (x0, x1), (y0, y1) in itertools.product(itertools.pairwise(xs), itertools.pairwise(ys)):
        if any(p[0] <= x0 and p[1] >= y1 for p in points) and x1 <= ref[0] and y0 >= ref[1]:
            area += (x1 - x0) * (y1 - y0)
    return area


def test_hypervolume_trace_matches_brute_force() -> None:
    spec = ExperimentSpec("e", SPACE, MIN_MAX)
    rng = random.Random(7)
    points = [(round(rng.random(), 2), round(rng.random(), 2)) for _ in range(40)]
    observations = [observation(i, a, b) for i, (a, b) in enumerate(points)]
    reference = reference_point(spec, observations)
    assert reference == (max(p[0] for p in points), min(p[1] for p in points))
    trace = hypervolume_trace(spec, observations, reference)
    expected = [brute_force(points[: i + 1], reference) for i in range(len(points))]
    assert trace == pytest.approx(expected)
    assert trace == sorted(trace)  # never shrinks


def test_thresholds_are_the_reference_and_stopped_trials_do_not_count() -> None:
    spec = ExperimentSpec(
        "e", SPACE, (Metric("a", Objective.MINIMIZE, threshold=10.0), MIN_MAX[1])
    )
    observations = [
        observation(1, 4.0, 2.0),
        observation(2, 1.0, 9.0, status="early_stopped"),
        observation(3, 12.0, 50.0),  # beyond a's threshold: adds nothing
    ]
    reference = reference_point(spec, observations)
    assert reference == (10.0, 2.0)
    assert hypervolume_trace(spec, observations, reference) == [0.0, 0.0, 0.0]
    observations.append(observation(4, 5.0, 4.0))
    assert hypervolume_trace(spec, observations, reference)[-1] == pytest.approx(5.0 * 2.0)


def test_an_early_stopped_trial_is_never_best() -> None:
    spec = ExperimentSpec("e", SPACE, (Metric("a", Objective.MAXIMIZE),))
    observations = [
        observation(1, 0.7),
        observation(2, 0.9, status="early_stopped"),
        observation(3, 0.8, status="completed"),
    ]
    assert [o.id for o in best_observations(spec, observations)] == [3]


def test_progress_curve_reads_the_scheduler_chunks() -> None:
    metadata = {"honed_progress_1": "0.5]]", "honed_progress_0": "[[2,0.4],[1,"}
    assert progress_curve(metadata) == [(1.0, 0.5), (2.0, 0.4)]
    assert progress_curve({"honed_progress_0": "not json"}) == []
    assert progress_curve(None) == []
