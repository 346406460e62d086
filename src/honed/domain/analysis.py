"""What the optimizer's model says about an experiment, for people: which parameters matter
and how the objective moves along each one.

Computed in an optimizer process from the model it has just fitted (honed.engine.botorch
.analysis), stored per experiment, and served read-only to the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass

from honed.domain.parameters import Assignments
from honed.domain.parameters import AssignmentValue


@dataclass(frozen=True)
class Importance:
    """One parameter's Sobol indices for the model's predicted metric over the whole search
    space (a categorical parameter is one parameter, whatever its categories)."""

    parameter: str
    #: The variance explained by this parameter alone (first-order index), as a share of all.
    first_order: float
    #: The variance this parameter takes part in, interactions included (total-order index).
    total: float
    #: ``first_order`` normalised so that the parameters' shares sum to 1: what is charted.
    share: float


@dataclass(frozen=True)
class Slice:
    """The model's prediction along one parameter, the others held at ``MetricAnalysis
    .anchor``: at each of ``values`` the prediction and a band of two posterior standard
    deviations either side, mapped back to the metric's own units (so for a metric the
    model saw warped, ``mean`` is the prediction's median)."""

    parameter: str
    values: tuple[AssignmentValue, ...]
    mean: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]


@dataclass(frozen=True)
class MetricAnalysis:
    #: The optimized metric (None: the unnamed metric of a single-metric experiment).
    metric: str | None
    importance: tuple[Importance, ...]
    #: The sum of the first-order indices: the share of the prediction's variance that the
    #: parameters explain one at a time (the rest comes from interactions).
    explained: float
    #: The best observed point of this metric, where the slices hold the other parameters.
    anchor: Assignments
    slices: tuple[Slice, ...]
    #: The model saw values worse than this as this value (the bad tail clipped at Tukey's
    #: lower fence, so a few very bad points do not set its scale), in the metric's units;
    #: None when no value was clipped. ``clipped``: how many observations were.
    clipped_at: float | None = None
    clipped: int = 0
    #: For a metric the model saw warped: the span its predictions are mapped back within,
    #: (lowest, highest) in the metric's units: the range of the values it was fitted on
    #: widened by its own width either side (beyond, the warp's inverse grows without
    #: bound); None without a warp.
    band_limits: tuple[float, float] | None = None
    #: The ends of ``band_limits`` that a slice's band reached: there the band is cut, flat.
    band_cut_at: tuple[float, ...] = ()


@dataclass(frozen=True)
class ModelAnalysis:
    """The analysis of one fitted model: per optimized metric, in the spec's order."""

    #: Observations (not deleted, failed ones too) the model was fitted on.
    observation_count: int
    #: When it was computed (epoch seconds) and how long it took.
    computed_at: float
    seconds: float
    #: Quasi-random base points of the Sobol estimate (the model is evaluated at
    #: ``sample_points * (parameters + 2)`` points).
    sample_points: int
    metrics: tuple[MetricAnalysis, ...]
