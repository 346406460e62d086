"""The search of a multitask point at every task: each task's best points under one
acquisition over the encoded point and the cost column, ``(d + 1)``, with the cost fixed at
the task's (``multitask.choose`` picks among them). A continuous space has its tasks'
restarts ascended together; any other space one task after the other, by the optimizers of
single-task points."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Protocol

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
from botorch.optim.initializers import gen_batch_initial_conditions
from botorch.optim.optimize import optimize_acqf

from honed.engine.botorch.encoding import Encoding

# A multitask point is searched at every task, each with this effort (its restarts, their
# iterations, its raw samples).
TASK_RESTARTS = 8
TASK_MAXITER = 100
TASK_RAW_SAMPLES = 512


class BatchOptimizer(Protocol):
    """The engine's optimizer of points in any space: ``(q, d)`` candidates in model space,
    ``fixed`` dimensions at their values (``BoTorchEngine._optimize_batch``)."""

    def __call__(
        self,
        acquisition: AcquisitionFunction,
        encoding: Encoding,
        q: int,
        restarts: int,
        maxiter: int,
        fixed: dict[int, float] | None = None,
        raw_samples: int | None = None,
        bounds: torch.Tensor | None = None,
    ) -> torch.Tensor: ...


def optimize_apart(
    acquisition: AcquisitionFunction,
    encoding: Encoding,
    costs: Sequence[float],
    optimize_batch: BatchOptimizer,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(t, d + 1)``: each task's best point, searched with its cost fixed by the
    optimizers of any space (integers, categoricals, linear constraints), and their
    acquisition values ``(t,)``."""
    d = encoding.dim
    points, values = [], []
    for cost in costs:
        fixed = FixedFeatureAcquisitionFunction(acquisition, d + 1, [d], [cost])
        x = optimize_batch(
            fixed, encoding, 1, TASK_RESTARTS, TASK_MAXITER, raw_samples=TASK_RAW_SAMPLES
        )
        with torch.no_grad():
            values.append(fixed(x.unsqueeze(0)).reshape(1))
        points.append(torch.cat([x, torch.full((1, 1), cost, dtype=x.dtype)], dim=1))
    return torch.cat(points), torch.cat(values)


def optimize_together(
    acquisition: AcquisitionFunction, encoding: Encoding, costs: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(t * TASK_RESTARTS, d + 1)``: in a continuous space, each task's restarts chosen
    from its raw samples as the engine's optimizer does, then all of them ascended in one
    batch of independent L-BFGS-B problems, each with its task's cost fixed, and their
    acquisition values. The same ascents as one task after the other in a third of the
    evaluations: an evaluation costs mostly the model's Python, whatever the batch."""
    d = encoding.dim
    bounds = encoding.bounds()
    # All of a task's raw samples scored in one pass.
    options: dict[str, bool | float | int] = {
        "init_batch_limit": TASK_RAW_SAMPLES,
        "sample_around_best": False,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        starts = torch.cat(
            [
                gen_batch_initial_conditions(
                    acquisition,
                    _with_cost_bounds(bounds, cost, cost),
                    q=1,
                    num_restarts=TASK_RESTARTS,
                    raw_samples=TASK_RAW_SAMPLES,
                    fixed_features={d: cost},
                    options=options,
                )
                for cost in costs
            ]
        )  # (t * restarts, 1, d + 1)
        points, values = optimize_acqf(
            acquisition,
            bounds=_with_cost_bounds(bounds, min(costs), max(costs)),
            q=1,
            num_restarts=len(starts),
            batch_initial_conditions=starts,
            # A cost per start: the batched L-BFGS-B fixes each problem's own.
            fixed_features={d: starts[:, 0, d]},
            return_best_only=False,
            options={"maxiter": TASK_MAXITER, "batch_limit": len(starts)},
        )
    assert values is not None
    return points.detach().reshape(-1, d + 1), values.detach().reshape(-1)


def _with_cost_bounds(bounds: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``(2, d)`` bounds and the cost column's ``(2, d + 1)``."""
    column = torch.tensor([[low], [high]], dtype=bounds.dtype)
    return torch.cat([bounds, column], dim=1)
