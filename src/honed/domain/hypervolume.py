"""Hypervolume over time for two optimized metrics: the area the Pareto front of the first
i observations dominates, measured from a reference point, for every i."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from honed.domain.experiment import ExperimentSpec
from honed.domain.ranking import counts_for_best
from honed.domain.records import Observation


def reference_point(
    spec: ExperimentSpec, observations: Sequence[Observation]
) -> tuple[float, float] | None:
    """Each metric's threshold where it has one (SigOpt's region of interest), otherwise
    its worst value among the observations that rank; None when none rank."""
    metrics = spec.optimized_metrics
    ranked = [o for o in observations if counts_for_best(spec, o)]
    if len(metrics) != 2 or not ranked:
        return None
    point = []
    for metric in metrics:
        if metric.threshold is not None:
            point.append(metric.threshold)
        else:
            values = [o.value_of(metric.name) or 0.0 for o in ranked]
            point.append(min(values) if metric.sign() > 0 else max(values))
    return point[0], point[1]


def hypervolume_trace(
    spec: ExperimentSpec,
    observations: Sequence[Observation],
    reference: tuple[float, float],
) -> list[float]:
    """``trace[i]``: the hypervolume of observations[: i + 1] (oldest first).

    Both metrics are turned to "larger is better" and the front is kept as a staircase
    sorted by the first metric (the second then descends). The area is recomputed only when
    a point joins the front, which for most experiments happens a few dozen times; a front
    that changes on every observation costs O(n * front) in all.
    """
    first, second = spec.optimized_metrics
    rx, ry = first.sign() * reference[0], second.sign() * reference[1]
    xs: list[float] = []  # ascending
    ys: list[float] = []  # descending, parallel to xs
    area = 0.0
    trace: list[float] = []
    for observation in observations:
        if counts_for_best(spec, observation):
            x = first.sign() * (observation.value_of(first.name) or 0.0)
            y = second.sign() * (observation.value_of(second.name) or 0.0)
            if x > rx and y > ry and _joins(xs, ys, x, y):
                i = bisect.bisect_left(xs, x)
                # Points it dominates: smaller or equal x with smaller or equal y.
                start = i
                while start > 0 and ys[start - 1] <= y:
                    start -= 1
                end = i
                if end < len(xs) and xs[end] == x:
                    end += 1
                xs[start:end] = [x]
                ys[start:end] = [y]
                area = _area(xs, ys, rx, ry)
        trace.append(area)
    return trace


def _joins(xs: list[float], ys: list[float], x: float, y: float) -> bool:
    """Not weakly dominated by a point of the front."""
    i = bisect.bisect_left(xs, x)
    # The front's points with x' >= x; the first of them has the largest y among them.
    return i == len(xs) or ys[i] < y


def _area(xs: list[float], ys: list[float], rx: float, ry: float) -> float:
    area, previous = 0.0, rx
    for x, y in zip(xs, ys, strict=True):
        area += (x - previous) * (y - ry)
        previous = x
    return area
