"""What a fitted model says about an experiment: parameter importance and slices.

Importance: first- and total-order Sobol indices of each objective model's posterior mean
over the search space, estimated on ``SAMPLE_POINTS`` scrambled Sobol pairs (Saltelli's
2010 estimator for the first order, Jansen's for the total); a conditional counts as a
parameter, and a parameter inactive at a point adds nothing there. The indices are taken over
the box in model space: numbers uniform on their (log) scale, each integer, grid value and
category equally likely, linear constraints ignored. A categorical parameter is one
dimension of the encoding (the model one-hots it inside), so it counts as one parameter.

Slices: the posterior along each parameter with the others at the best observed point,
the mean and two standard deviations of the (noise-free) objective either side, mapped
back through the model's output warp to the metric's units; the warp's inverse is clipped
to a span of the fitted values (``MetricAnalysis.band_limits``), and the ends a band reached
are reported (``band_cut_at``), since there the band is flat.

A model with inputs beyond the encoding (a multitask model's task cost) is analysed with
those inputs fixed (at the target task's cost): the importance and slices of its posterior
there, based at the best point observed there.

Shapes: ``d`` = ``Encoding.dim``; model-space points are ``(n, d)`` float64.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy
import scipy.stats
import torch
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.model_list_gp_regression import ModelListGP

from honed.domain.analysis import Importance
from honed.domain.analysis import MetricAnalysis
from honed.domain.analysis import ModelAnalysis
from honed.domain.analysis import Slice
from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding

#: Base points of the Sobol estimate (a power of two, as Sobol sequences want): the model's
#: mean is evaluated at ``SAMPLE_POINTS * (d + 2)`` points (docs/decisions.md: Parameter
#: importance from Sobol indices of the model's mean, computed in the optimizer).
SAMPLE_POINTS = 512
#: Points along a numeric parameter's slice (every value when it has fewer).
SLICE_POINTS = 48
#: The band: this many posterior standard deviations either side of the mean.
BAND_SDS = 2.0
#: Points per evaluation of a posterior mean: bounds the kernel matrix held at once
#: (``EVAL_BATCH x n`` doubles).
EVAL_BATCH = 4096

# (k, d) model-space points -> (k,) values.
Predict = Callable[[torch.Tensor], torch.Tensor]
# (..., d) model-space points -> (..., d + f): the model's inputs, f fixed columns appended.
Inputs = Callable[[torch.Tensor], torch.Tensor]


def analyze(
    spec: ExperimentSpec,
    encoding: Encoding,
    objectives: Sequence[Outcome],
    model: ModelListGP,
    observation_count: int,
    fixed: Sequence[float] = (),
) -> ModelAnalysis:
    """The analysis of ``model`` for every optimized metric of ``spec``: its first models
    are the objectives', each fitted on its ``objectives`` outcome (whose best point the
    slices are based at). ``fixed``: the values of the model's inputs past the encoding's
    ``d`` columns, the same at every point analysed (a multitask model's cost column, at
    the target task's cost; its outcome then holds the target task's results only)."""
    started = time.perf_counter()
    inputs = _appending(fixed)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # numerical notes from GPyTorch, as in a proposal
        base = _sobol_points(encoding, SAMPLE_POINTS)
        metrics = tuple(
            _metric_analysis(encoding, outcome, metric, _objective(model, index), inputs, base)
            for index, (metric, outcome) in enumerate(
                zip(spec.optimized_metrics, objectives, strict=True)
            )
        )
    return ModelAnalysis(
        observation_count=observation_count,
        computed_at=time.time(),
        seconds=time.perf_counter() - started,
        sample_points=SAMPLE_POINTS,
        metrics=metrics,
    )


def _objective(model: ModelListGP, index: int) -> GPyTorchModel:
    gp = model.models[index]
    assert isinstance(gp, GPyTorchModel)  # fit_models builds a list of GPyTorch models
    return gp


def _appending(fixed: Sequence[float]) -> Inputs:
    """The model's inputs of model-space points: the points with ``fixed`` appended (the
    points themselves when ``fixed`` is empty)."""
    columns = torch.tensor(list(fixed), dtype=DTYPE)

    def inputs(X: torch.Tensor) -> torch.Tensor:
        return torch.cat([X, columns.expand(*X.shape[:-1], len(columns))], dim=-1)

    return inputs


def _metric_analysis(
    encoding: Encoding,
    outcome: Outcome,
    metric: Metric,
    gp: GPyTorchModel,
    inputs: Inputs,
    base: tuple[torch.Tensor, torch.Tensor],
) -> MetricAnalysis:
    """One objective's importance and slices from its model ``gp``, fitted on
    ``outcome.X: (n, d)`` and ``outcome.Y: (n, 1)``; ``base``: Sobol base samples ``A``,
    ``B``: ``(N, d)`` each (see sobol_indices). The slices pass through the best observed
    point, ``anchor: (d,)``."""
    first, total = sobol_indices(_mean_function(gp, inputs, base[0][:1]), *base)
    positive = first.clamp_min(0.0)
    # A flat model (all predictions equal) explains nothing: every share is 0.
    shares = positive / positive.sum() if float(positive.sum()) > 0 else positive
    parameters = encoding.space.parameters
    # Conditionals (their dimensions follow the parameters') have an importance too.
    importance = tuple(
        Importance(name, float(first[i]), float(total[i]), float(shares[i]))
        for i, name in enumerate(encoding.dim_names())
    )
    anchor = outcome.X[int(torch.argmax(outcome.Y.reshape(-1)))]
    slices = tuple(
        _slice(encoding, outcome, gp, inputs, anchor, dim, metric.sign())
        for dim in range(len(parameters))
    )
    limits = _band_limits(outcome, metric.sign())
    return MetricAnalysis(
        metric=metric.name,
        importance=importance,
        explained=float(positive.sum()),
        anchor=encoding.decode(anchor),
        slices=slices,
        clipped_at=None if outcome.clipped_at is None else metric.sign() * outcome.clipped_at,
        clipped=outcome.clipped,
        band_limits=limits,
        band_cut_at=_cut_at(limits, slices),
    )


def _band_limits(outcome: Outcome, sign: float) -> tuple[float, float] | None:
    """The span the output warp's inverse clips to, (lowest, highest) in the metric's
    units, or None when the values had no warp."""
    if outcome.warp is None:
        return None
    low, high = sorted(sign * limit for limit in outcome.warp.limits)
    return low, high


def _cut_at(limits: tuple[float, float] | None, slices: Sequence[Slice]) -> tuple[float, ...]:
    """The ends of ``limits`` that some slice's band reached: clipped values sit exactly at
    the limit (the sign only flips them), and the mean lies within the band."""
    if limits is None:
        return ()
    low, high = limits
    lowest = min((v for s in slices for v in s.lower), default=math.inf)
    highest = max((v for s in slices for v in s.upper), default=-math.inf)
    return tuple(
        limit for limit, reached in ((low, lowest <= low), (high, highest >= high)) if reached
    )


def sobol_indices(
    predict: Predict, A: torch.Tensor, B: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """First- and total-order Sobol indices ``(d,)``, ``(d,)`` of ``predict`` from the
    base samples ``A``, ``B``: ``(N, d)`` each. ``AB_i`` is ``A`` with column i from ``B``;
    first order (Saltelli 2010) ``mean(f(B) (f(AB_i) - f(A))) / V``, total (Jansen)
    ``mean((f(A) - f(AB_i))^2) / 2V``, ``V`` the variance of f over A and B. All zero when
    ``V`` is."""
    N, d = A.shape
    AB = A.expand(d, N, d).clone()  # (d, N, d)
    columns = torch.arange(d)
    AB[columns, :, columns] = B.T
    f = predict(torch.cat([A, B, AB.reshape(d * N, d)]))
    fA, fB, fAB = f[:N], f[N : 2 * N], f[2 * N :].reshape(d, N)
    variance = torch.cat([fA, fB]).var()
    if not float(variance) > 1e-12 * max(float(f.abs().max()), 1.0) ** 2:
        zeros = torch.zeros(d, dtype=f.dtype)
        return zeros, zeros
    first = (fB * (fAB - fA)).mean(dim=-1) / variance
    total = 0.5 * (fA - fAB).pow(2).mean(dim=-1) / variance
    return first, total


def _sobol_points(encoding: Encoding, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``A``, ``B``: ``(count, d)`` each, uniform points of the search space in model space
    from one scrambled Sobol sequence of dimension ``2d`` (seeded: the same data gives the
    same analysis)."""
    d = encoding.dim
    unit = scipy.stats.qmc.Sobol(2 * d, scramble=True, seed=0).random(count)
    points = torch.as_tensor(unit, dtype=DTYPE)
    first, second = points[:, :d], points[:, d:]
    return encoding.uniform_from_unit_cube(first), encoding.uniform_from_unit_cube(second)


def _mean_function(gp: GPyTorchModel, inputs: Inputs, example: torch.Tensor) -> Predict:
    """The posterior mean as ``X: (k, d) -> (k,)``, written out: ``c + K(x, train) alpha``
    at the model's inputs ``x`` of ``X``, with GPyTorch's cached ``alpha`` (a posterior at
    ``example: (1, d)`` fills the cache), then the outcome transform undone. ``gp.posterior``
    would also build the test points' k x k covariance, even when told to skip variances
    (docs/decisions.md: Parameter importance from Sobol indices of the model's mean, computed
    in the optimizer)."""
    gp.posterior(inputs(example))
    # GPyTorch's modules, untyped to mypy (Tensor | Module attributes).
    strategy: Any = gp.prediction_strategy
    constant: Any = gp.mean_module
    kernel: Any = gp.covar_module
    outcome: Any = gp.outcome_transform
    alpha: torch.Tensor = strategy.mean_cache  # (n,)
    train_inputs: tuple[torch.Tensor, ...] = gp.train_inputs  # type: ignore[assignment]
    train = train_inputs[0]  # (n, w): as the kernel sees them (categories one-hot)

    def mean(X: torch.Tensor) -> torch.Tensor:
        chunks = []
        for start in range(0, X.shape[0], EVAL_BATCH):
            x = gp.transform_inputs(inputs(X[start : start + EVAL_BATCH]))  # (b, w)
            values = constant(x) + kernel(x, train).to_dense() @ alpha
            untransformed, _ = outcome.untransform(values.unsqueeze(-1))
            chunks.append(untransformed.reshape(-1))
        return torch.cat(chunks)

    return mean


def _slice(
    encoding: Encoding,
    outcome: Outcome,
    gp: GPyTorchModel,
    inputs: Inputs,
    anchor: torch.Tensor,
    dim: int,
    sign: float,
) -> Slice:
    """The posterior along dimension ``dim`` through ``anchor: (d,)`` (a model-space point):
    ``s`` positions (see _slice_positions), the other coordinates at the anchor's; the mean
    and ``BAND_SDS`` standard deviations either side, ``(s,)`` each, in the metric's
    units."""
    parameter = encoding.space.parameters[dim]
    positions = _slice_positions(encoding, dim)  # (s,)
    X = anchor.expand(len(positions), -1).clone()  # (s, d)
    X[:, dim] = positions
    # (s, 1, d): s independent points, each with its own variance.
    posterior = gp.posterior(inputs(X).unsqueeze(-2))
    mean = posterior.mean.reshape(-1)
    sd = posterior.variance.clamp_min(0.0).sqrt().reshape(-1)
    to_metric = _to_metric(outcome, sign)
    centre, low, high = (to_metric(v) for v in (mean, mean - BAND_SDS * sd, mean + BAND_SDS * sd))
    return Slice(
        parameter=parameter.name,
        values=tuple(encoding.value(dim, float(u)) for u in positions),
        mean=tuple(float(v) for v in centre),
        lower=tuple(float(v) for v in numpy.minimum(low, high)),
        upper=tuple(float(v) for v in numpy.maximum(low, high)),
    )


def _slice_positions(encoding: Encoding, dim: int) -> torch.Tensor:
    """``(s,)`` model-space positions along dimension ``dim``: each category, each allowed
    value (evenly thinned to SLICE_POINTS), or SLICE_POINTS even steps of [0, 1]."""
    values = encoding.cat_dims.get(dim) or encoding.discrete_dims.get(dim)
    if values is None:
        return torch.linspace(0.0, 1.0, SLICE_POINTS, dtype=DTYPE)
    allowed = torch.as_tensor(values, dtype=DTYPE)
    if dim in encoding.cat_dims or len(allowed) <= SLICE_POINTS:
        return allowed
    # Evenly spaced indices: distinct, since there are more values than SLICE_POINTS.
    return allowed[torch.linspace(0, len(allowed) - 1, SLICE_POINTS).round().long()]


def _to_metric(outcome: Outcome, sign: float) -> Callable[[torch.Tensor], numpy.ndarray]:
    """Model outputs ``(s,)`` as the metric's values: through the inverse of the output
    warp, if the values had one, and the sign (the model sees larger as better)."""
    warp = outcome.warp

    def convert(values: torch.Tensor) -> numpy.ndarray:
        signed = values.numpy()
        if warp is not None:
            signed = warp.inverse(signed)
        result: numpy.ndarray = sign * signed
        return result

    return convert
