"""Observations as training tensors, one outcome per modelled metric (plus failures)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy
import scipy.stats
import torch

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.records import Observation
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding

# Past this many observations a model trains on a subset: the best points and a spread of
# the rest, so fit and acquisition stay bounded in time and memory.
MAX_TRAINING_POINTS = 800
BEST_KEPT = 200
# Fewer points give no meaningful quartiles to winsorize by, nor skew to transform away.
RESHAPE_MIN_POINTS = 5
# The Yeo-Johnson exponent is kept within +-3: beyond, a few extreme values overflow it.
LAMBDA_BOUND = 3.0
# The 95% quantile of chi-squared with one degree of freedom.
CHI2_1DF_95 = 3.841


@dataclass(frozen=True)
class Outcome:
    """One modelled output: a metric's values (signed so larger is better) or failure."""

    name: str
    #: ``(n, d)``: the points with a value of this outcome, in model space.
    X: torch.Tensor
    #: ``(n, 1)``: their values (for failure: 1.0 failed, 0.0 not).
    Y: torch.Tensor
    #: ``(n, 1)``: the values' known variances, or None when any is unknown.
    Yvar: torch.Tensor | None
    #: Observations behind the outcome before subsampling (what refits are paced by).
    observed: int
    #: The power transform ``Y`` went through, if any (see power_transform): the way back
    #: from the model's predictions to the signed values.
    warp: YeoJohnson | None = None
    #: The signed value the bad tail was clipped at (see winsorized) and how many values
    #: were, or None and 0.
    clipped_at: float | None = None
    clipped: int = 0


@dataclass(frozen=True)
class YeoJohnson:
    """A fitted Yeo-Johnson transform of standardized values: ``y = yeojohnson((x - mean) /
    spread, lmbda)``."""

    mean: float
    spread: float
    lmbda: float
    #: The range of the values it was fitted on: the inverse is clipped to a span of it
    #: either side, since far outside it (a band's tail) the inverse grows without bound.
    low: float
    high: float

    def inverse(self, y: numpy.ndarray) -> numpy.ndarray:
        """Values of the transformed scale (any shape) back on the signed values' scale."""
        lmbda, tiny = self.lmbda, 1e-12
        positive = y >= 0
        with numpy.errstate(all="ignore"):
            if abs(lmbda) > tiny:
                up = numpy.power(numpy.maximum(lmbda * y + 1, tiny), 1 / lmbda) - 1
            else:
                up = numpy.expm1(y)
            if abs(2 - lmbda) > tiny:
                down = 1 - numpy.power(numpy.maximum(1 - (2 - lmbda) * y, tiny), 1 / (2 - lmbda))
            else:
                down = -numpy.expm1(-y)
        z = numpy.where(positive, up, down)
        lowest, highest = self.limits
        clipped: numpy.ndarray = numpy.clip(z * self.spread + self.mean, lowest, highest)
        return clipped

    @property
    def limits(self) -> tuple[float, float]:
        """The values the inverse is clipped to: the fitted range widened by its own width
        either side."""
        span = self.high - self.low
        return self.low - span, self.high + span


@dataclass(frozen=True)
class TrainingData:
    objectives: list[Outcome]
    objective_thresholds: list[float | None]  # signed, for the hypervolume reference point
    constraints: list[tuple[Outcome, float]]  # outcome (signed) and signed threshold
    failure: Outcome | None
    #: ``(b, d)``: the successful observations' points, the acquisition's baseline.
    X_baseline: torch.Tensor


def _metric_outcome(
    encoding: Encoding,
    metric: Metric,
    observations: Sequence[Observation],
    observed: int,
    reshape: bool = False,
) -> Outcome:
    rows = [o for o in observations if not o.failed and o.value_of(metric.name) is not None]
    values = [metric.sign() * float(o.value_of(metric.name) or 0.0) for o in rows]
    raw = values
    if reshape:
        values = winsorized(values)
    clipped = sum(a != b for a, b in zip(raw, values, strict=True))
    fence = min(values) if clipped else None  # the clipped ones sit at the fence
    stddevs = [_stddev(o, metric.name) for o in rows]
    yvar = None
    known_noise = bool(rows) and all(s is not None for s in stddevs)
    warp = None
    if reshape and not known_noise:
        values, warp = power_transform(values)
    if known_noise:
        yvar = torch.tensor([[max(float(s or 0.0) ** 2, 1e-9)] for s in stddevs], dtype=DTYPE)
        scale = max(
            float(torch.tensor(values, dtype=DTYPE).std()) if len(values) > 1 else 1.0, 1e-9
        )
        yvar = yvar.clamp_min(1e-6 * scale**2)
    return Outcome(
        name=str(metric.name),
        X=encoding.encode([o.assignments for o in rows]),
        Y=torch.tensor(values, dtype=DTYPE).reshape(-1, 1),
        Yvar=yvar,
        observed=observed,
        warp=warp,
        clipped_at=fence,
        clipped=clipped,
    )


def winsorized(values: list[float]) -> list[float]:
    """Values (larger is better) with the bad tail clipped at Tukey's lower fence,
    Q1 - 1.5 IQR, as Ax does for objectives. A few very bad points (Branin's corners,
    a diverged run) otherwise dominate the standardized scale and the lengthscales, and
    the model fits the bad region instead of the good one; the order of points is kept."""
    if len(values) < RESHAPE_MIN_POINTS:
        return values
    q1, q3 = (
        float(q)
        for q in torch.quantile(
            torch.tensor(values, dtype=DTYPE), torch.tensor([0.25, 0.75], dtype=DTYPE)
        )
    )
    fence = q1 - 1.5 * (q3 - q1)
    return [max(v, fence) for v in values]


def power_transform(values: list[float]) -> tuple[list[float], YeoJohnson | None]:
    """Standardized values through a Yeo-Johnson transform fitted by maximum likelihood,
    as HEBO does, when they are clearly skewed: a monotone map (the order of the points,
    hence the incumbent, is kept) that brings them closer to the Gaussian a GP assumes. A
    rare spike of good values (Hartmann6) no longer forces short lengthscales on the whole
    space, and a long tail of bad ones (Branin) no longer flattens the differences between
    the good ones. The transform is returned too (None: the values are kept as they are)."""
    if len(values) < RESHAPE_MIN_POINTS:
        return values, None
    y = numpy.asarray(values, dtype=float)
    with numpy.errstate(all="ignore"):  # overflows are caught below, as non-finite values
        spread = float(y.std())
        if not (math.isfinite(spread) and spread > 0):
            return values, None
        z = (y - y.mean()) / spread
        try:
            lmbda = min(max(float(scipy.stats.yeojohnson_normmax(z)), -LAMBDA_BOUND), LAMBDA_BOUND)
        except ValueError:
            return values, None
        # The identity (lambda = 1) unless the values reject it: a likelihood-ratio test at
        # 5%. A warp the data does not ask for only adds noise to the model (docs/decisions.md:
        # One objective through Yeo-Johnson only when a likelihood-ratio test asks for it).
        gain = scipy.stats.yeojohnson_llf(lmbda, z) - scipy.stats.yeojohnson_llf(1.0, z)
        if not 2 * float(gain) > CHI2_1DF_95:
            return values, None
        out = scipy.stats.yeojohnson(z, lmbda)
    if not numpy.all(numpy.isfinite(out)):
        return values, None
    warp = YeoJohnson(float(y.mean()), spread, lmbda, float(y.min()), float(y.max()))
    return [float(v) for v in out], warp


def _stddev(observation: Observation, name: str | None) -> float | None:
    for value in observation.values:
        if value.name == name:
            return value.value_stddev
    return None


def subsample(spec: ExperimentSpec, observations: Sequence[Observation]) -> list[Observation]:
    """All observations, or past MAX_TRAINING_POINTS the best ones and an even spread."""
    if len(observations) <= MAX_TRAINING_POINTS:
        return list(observations)
    metric = spec.optimized_metrics[0] if spec.optimized_metrics else None

    def score(o: Observation) -> float:
        if metric is None or o.failed:
            return -float("inf")
        value = o.value_of(metric.name)
        return metric.sign() * value if value is not None else -float("inf")

    best = sorted(observations, key=score, reverse=True)[:BEST_KEPT]
    chosen = {o.id for o in best}
    rest = [o for o in observations if o.id not in chosen]
    step = len(rest) / (MAX_TRAINING_POINTS - BEST_KEPT)
    spread = [rest[int(i * step)] for i in range(MAX_TRAINING_POINTS - BEST_KEPT)]
    return sorted([*best, *spread], key=lambda o: o.id)


def training_data(
    spec: ExperimentSpec, encoding: Encoding, observations: Sequence[Observation]
) -> TrainingData:
    """The outcomes to model, in the order the models and the acquisition read them:
    objectives, then constraint metrics, then failure (when any observation failed). Each
    outcome has its own ``n``: the observations that carry its value."""
    observed = len(observations)
    observations = subsample(spec, observations)
    # One objective is winsorized and, when clearly skewed, power-transformed (with known
    # noise only winsorized: its variances are on the values' scale); several keep their
    # values, whose range sets the hypervolume's reference point.
    single = len(spec.optimized_metrics) == 1
    objectives = [
        _metric_outcome(encoding, m, observations, observed, reshape=single)
        for m in spec.optimized_metrics
    ]
    constraints = [
        (
            _metric_outcome(encoding, m, observations, observed),
            m.sign() * float(m.threshold or 0.0),
        )
        for m in spec.constraint_metrics
    ]
    failure = None
    if any(o.failed for o in observations):
        failure = Outcome(
            name="__failed__",
            X=encoding.encode([o.assignments for o in observations]),
            Y=torch.tensor([[1.0 if o.failed else 0.0] for o in observations], dtype=DTYPE),
            Yvar=None,
            observed=observed,
        )
    successes = [o for o in observations if not o.failed]
    return TrainingData(
        objectives=objectives,
        objective_thresholds=[
            m.sign() * m.threshold if m.threshold is not None else None
            for m in spec.optimized_metrics
        ],
        constraints=constraints,
        failure=failure,
        X_baseline=encoding.encode([o.assignments for o in successes]),
    )
