"""A pool of cheap model-based candidates: Thompson samples over a dense candidate set.

The acquisition-optimised batch covers the workers the experiment plans for; when requests
arrive faster than the model refits, each further request takes the next point of this
pool instead of a quasi-random one. Every pool point maximises one joint posterior sample
over a candidate set of quasi-random points and perturbations of the best points
(asynchronous parallel Thompson sampling, Kandasamy et al. 2018; the candidate set as in
TuRBO, Eriksson et al. 2019). Different samples disagree where the model is unsure, so the
pool spreads out by itself, and its cost barely grows with its size: one Cholesky of the
candidate set's posterior covariance per outcome.
"""

from __future__ import annotations

import warnings

import gpytorch
import torch
from botorch.models.model import Model
from linear_operator.utils.warnings import NumericalWarning

from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import point_hash
from honed.engine.botorch.data import TrainingData
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.feasible import feasible

#: Points in the candidate set (half quasi-random, half around the best points). Its
#: Cholesky is most of the pool's cost (cubic in this size, not in the pool's).
CANDIDATE_SET = 1024
#: Best observed points (per objective) that candidates are perturbed around.
BEST_CENTERS = 5
#: Perturbation sizes in the unit cube, from local refinement to a wider look around.
PERTURBATION_SCALES = (0.01, 0.03, 0.1, 0.2)
#: Dimensions perturbed per candidate, on average (TuRBO's 20 for high dimensions).
PERTURBED_DIMS = 20.0


def thompson_pool(
    model: Model,
    data: TrainingData,
    encoding: Encoding,
    centers: torch.Tensor,
    count: int,
    taken: set[str],
    generator: torch.Generator,
) -> list[dict[str, AssignmentValue]]:
    """Up to ``count`` new points (not in ``taken``, which grows by them), each the maximiser
    of one posterior sample; ``centers: (k, d)`` (model space, ``k`` may be 0) are
    perturbed besides the best observed points. ``model`` has the outcomes of ``data`` as
    its outputs, in ``training_data``'s order."""
    if count <= 0:
        return []
    candidates = candidate_set(encoding, data, centers, CANDIDATE_SET, generator)
    with (
        torch.no_grad(),
        gpytorch.settings.max_cholesky_size(CANDIDATE_SET + 1),
        warnings.catch_warnings(),
        # Sampling draws from torch's global generator: seed a fork of it from ours, so that
        # the pool leaves the random state of the caller's optimisation alone.
        torch.random.fork_rng(),
    ):
        torch.manual_seed(int(torch.randint(2**31, (1,), generator=generator)))
        # Near neighbours make the joint covariance nearly singular: jitter is routine here.
        warnings.simplefilter("ignore", NumericalWarning)
        samples = model.posterior(candidates).rsample(torch.Size([count]))  # (count, N, m)
        scores = _scores(samples, data)
    chosen: list[dict[str, AssignmentValue]] = []
    used: set[int] = set()
    for order in torch.argsort(scores, dim=-1, descending=True).tolist():
        # Without replacement: a point another sample chose is not chosen again.
        for index in order:
            if index in used:
                continue
            used.add(index)
            point = encoding.decode(candidates[index])
            key = point_hash(point)
            if key not in taken:
                taken.add(key)
                chosen.append(point)
                break
    return chosen


def candidate_set(
    encoding: Encoding,
    data: TrainingData,
    centers: torch.Tensor,
    size: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """``(N, d)`` with ``N <= size``: quasi-random points and perturbations of
    ``centers: (k, d)`` and the best observed points, valid in model space (discrete
    values snapped; the points that break a linear constraint are dropped)."""
    dim = encoding.dim
    sobol = torch.quasirandom.SobolEngine(  # type: ignore[no-untyped-call]
        dim, scramble=True, seed=int(torch.randint(2**31, (1,), generator=generator))
    )
    spread = sobol.draw(size // 2, dtype=DTYPE)
    anchors = torch.cat([centers.reshape(-1, dim), *_best_points(data)])
    if anchors.shape[0] == 0:
        points = spread
    else:
        local = size - spread.shape[0]
        base = anchors[torch.randint(anchors.shape[0], (local,), generator=generator)]
        base = encoding.to_unit_cube(base)
        scales = torch.tensor(PERTURBATION_SCALES, dtype=DTYPE)
        scale = scales[torch.randint(len(scales), (local, 1), generator=generator)]
        step = torch.randn(local, dim, generator=generator, dtype=DTYPE) * scale
        mask = torch.rand(local, dim, generator=generator, dtype=DTYPE) < min(
            1.0, PERTURBED_DIMS / dim
        )
        # At least one dimension moves.
        mask[torch.arange(local), torch.randint(dim, (local,), generator=generator)] = True
        moved = (base + step * mask).clamp(0.0, 1.0)
        # A perturbed categorical dimension takes a random category.
        for d in encoding.cat_dims:
            resample = torch.rand(local, generator=generator, dtype=DTYPE)
            moved[:, d] = torch.where(mask[:, d], resample, base[:, d])
        points = torch.cat([spread, moved])
    points = encoding.from_unit_cube(points)
    return points[feasible(points, encoding.inequality_constraints(), tolerance=1e-9)]


def _best_points(data: TrainingData) -> list[torch.Tensor]:
    """Per objective, ``(k, d)``: its ``k <= BEST_CENTERS`` best observed points."""
    best = []
    for outcome in data.objectives:
        if outcome.Y.shape[0] == 0:
            continue
        top = torch.argsort(outcome.Y.reshape(-1), descending=True)[:BEST_CENTERS]
        best.append(outcome.X[top])
    return best


def _scores(samples: torch.Tensor, data: TrainingData) -> torch.Tensor:
    """``samples: (count, N, m)`` (``m`` outcomes at ``N`` points) to ``(count, N)``: each
    sample's objective (several objectives: a random Chebyshev scalarization per sample),
    infeasible points ranked below all feasible ones."""
    n_objectives = len(data.objectives)
    objectives = samples[..., :n_objectives]
    if n_objectives == 1:
        score = objectives[..., 0]
    else:
        low = torch.tensor([float(o.Y.min()) for o in data.objectives], dtype=DTYPE)
        high = torch.tensor([float(o.Y.max()) for o in data.objectives], dtype=DTYPE)
        scaled = (objectives - low) / (high - low).clamp_min(1e-9)
        weights = torch.distributions.Dirichlet(torch.ones(n_objectives, dtype=DTYPE))
        drawn = weights.sample(torch.Size([samples.shape[0]]))
        score = (scaled * drawn.unsqueeze(1)).min(dim=-1).values
    violation = torch.zeros_like(score)
    for offset, (_, threshold) in enumerate(data.constraints):
        violation += (threshold - samples[..., n_objectives + offset]).clamp_min(0.0)
    if data.failure is not None:
        violation += (samples[..., n_objectives + len(data.constraints)] - 0.5).clamp_min(0.0)
    # Feasible points by score; infeasible ones below them, the least violating first.
    floor = score.min() - (score.max() - score.min()) - 1.0
    return torch.where(violation > 0, floor - violation, score)
