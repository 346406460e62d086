"""What the model is trained on for one objective: bad outliers clipped, clear skew taken out,
and the order of the values (which point is best) never changed."""

from __future__ import annotations

import math
import random

import numpy
import scipy.stats

from honed.engine.botorch.data import power_transform
from honed.engine.botorch.data import winsorized


def skewed(count: int) -> list[float]:
    """Larger is better, most values near the best and a long tail of bad ones, like a
    negated loss: -exp(N(0, 0.75))."""
    rng = random.Random(0)
    return [-math.exp(rng.gauss(0.0, 0.75)) for _ in range(count)]


def power_transformed(values: list[float]) -> list[float]:
    return power_transform(values)[0]


def ranks(values: list[float]) -> list[int]:
    return sorted(range(len(values)), key=values.__getitem__)


def test_winsorizing_clips_the_bad_tail_only() -> None:
    values = [*[float(v) for v in range(10)], -1000.0]
    clipped = winsorized(values)
    assert clipped[:10] == values[:10]
    assert -1000.0 < clipped[10] < 0.0


def test_power_transform_keeps_the_order_and_takes_out_the_skew() -> None:
    values = skewed(40)
    transformed = power_transformed(values)
    assert ranks(transformed) == ranks(values)
    assert abs(scipy.stats.skew(transformed)) < 0.5 < abs(scipy.stats.skew(values))


def test_gaussian_values_are_left_alone() -> None:
    rng = random.Random(1)
    values = [rng.gauss(5.0, 2.0) for _ in range(30)]
    assert power_transformed(values) == values


def test_power_transform_leaves_too_few_or_constant_values_alone() -> None:
    assert power_transformed([3.0, 1.0, 2.0]) == [3.0, 1.0, 2.0]
    assert power_transformed([2.0] * 10) == [2.0] * 10


def test_power_transform_of_extreme_values_stays_finite() -> None:
    values = [*[0.0] * 20, 1e300, -1e300]
    transformed = power_transformed(values)
    assert all(math.isfinite(v) for v in transformed)
    assert ranks(transformed)[0] == 21
    assert ranks(transformed)[-1] == 20


def test_the_inverse_of_the_power_transform_gives_the_values_back() -> None:
    values = skewed(40)
    transformed, warp = power_transform(values)
    assert warp is not None
    back = warp.inverse(numpy.asarray(transformed))
    assert numpy.allclose(back, values, atol=1e-9)
