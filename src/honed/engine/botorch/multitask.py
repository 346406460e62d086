"""Multitask experiments (SigOpt's ``tasks``): which point to evaluate, and at which task.

A task is a cheaper variant of the evaluation with a cost in (0, 1]; the cost-1 task is the
one whose results count. The model is BoTorch's multi-fidelity GP over the encoded point
and the task's cost as a fidelity feature (a kernel that lets results at lower cost differ
more from those at full cost, learnt from the data). The acquisition is multi-fidelity
max-value entropy search per unit cost: the information an evaluation gives about the
best value *at full cost*, divided by the task's cost, in its GIBBON lower bound (Moss et
al. 2021), an order of magnitude cheaper to evaluate than the sampled entropy. Points are
searched with the task fixed, at every task, and the point with the most information per
cost wins, among those new at their task (not observed or pending there: the same point at
another task is another evaluation). The points of a batch are chosen one after the other
by one acquisition function, with the open suggestions and the batch's earlier points
pending at their tasks: GIBBON's diversity term keeps each new point away from what they
will tell (``gibbon.PendingGIBBON``).

The dashboard's analyses of a multitask model are of the target task: the model's posterior
with the cost column at the target's cost, based at the best result of that task
(``target_outcome``); results at cheaper tasks inform the model but are never that base.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.fit import fit_gpytorch_mll
from botorch.models.cost import AffineFidelityCostModel
from botorch.models.gp_regression_fidelity import SingleTaskMultiFidelityGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls.exact_marginal_log_likelihood import ExactMarginalLogLikelihood

from honed.domain.experiment import ExperimentSpec
from honed.domain.parameters import Assignments
from honed.domain.records import Observation
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.gibbon import PendingGIBBON

# The target task's cost: the fidelity whose best value the acquisition learns about.
TARGET_COST = 1.0
# Points (at full cost) over which the best value's distribution is sampled.
MAX_VALUE_CANDIDATES = 1024
# An optimizer of points at the tasks: (the acquisition over the encoded point and the
# cost column, d + 1; the tasks' costs) -> (k, d + 1) points, each at one of the costs,
# and their acquisition values (k,).
TaskOptimizer = Callable[[AcquisitionFunction, Sequence[float]], tuple[torch.Tensor, torch.Tensor]]
# Whether a point in model space, (d,), is observed or pending at the named task.
Taken = Callable[[torch.Tensor, str], bool]


@dataclass(frozen=True)
class TaskChoice:
    """A point in model space ``(d,)`` and the name of the task to evaluate it at."""

    x: torch.Tensor
    task: str


def task_observations(
    spec: ExperimentSpec, observations: Sequence[Observation]
) -> list[tuple[Observation, float]]:
    """The successful observations of the optimized metric with a known task, and each
    one's value signed so that larger is better."""
    metric = spec.optimized_metrics[0]
    names = {t.name for t in spec.tasks}
    usable = []
    for o in observations:
        value = None if o.failed or o.deleted else o.value_of(metric.name)
        if value is not None and o.task in names:
            usable.append((o, metric.sign() * value))
    return usable


def fit_task_model(
    spec: ExperimentSpec, encoding: Encoding, usable: Sequence[tuple[Observation, float]]
) -> SingleTaskMultiFidelityGP:
    """The multi-fidelity GP over ``(d + 1)`` columns: the encoded point, then the cost."""
    X = _with_costs(
        encoding.encode([o.assignments for o, _ in usable]),
        [spec.task_cost(o.task) for o, _ in usable],
    )
    Y = torch.tensor([[value] for _, value in usable], dtype=DTYPE)
    bounds = torch.cat([encoding.bounds(), torch.tensor([[0.0], [1.0]], dtype=DTYPE)], dim=1)
    model = SingleTaskMultiFidelityGP(
        X,
        Y,
        data_fidelities=[encoding.dim],
        input_transform=Normalize(encoding.dim + 1, bounds=bounds),
        outcome_transform=Standardize(1),
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def target_outcome(
    spec: ExperimentSpec, encoding: Encoding, usable: Sequence[tuple[Observation, float]]
) -> Outcome | None:
    """The target task's results as ``fit_task_model`` saw them (values signed, no warp),
    for the analyses of the model at that task; None when it has none."""
    target = [(o, value) for o, value in usable if spec.task_cost(o.task) == TARGET_COST]
    if not target:
        return None
    return Outcome(
        name=str(spec.optimized_metrics[0].name),
        X=encoding.encode([o.assignments for o, _ in target]),
        Y=torch.tensor([[value] for _, value in target], dtype=DTYPE),
        Yvar=None,
        observed=len(target),
    )


def choose(
    spec: ExperimentSpec,
    encoding: Encoding,
    model: SingleTaskMultiFidelityGP,
    pending: Sequence[tuple[Assignments, str | None]],
    count: int,
    optimize: TaskOptimizer,
    seed: int,
    taken: Taken,
    enough: Callable[[int], bool] | None = None,
) -> list[TaskChoice]:
    """Up to ``count`` points and tasks, one after the other; fewer when every task's best
    point is ``taken`` at it (a small discrete space), or when ``enough`` (asked after each
    point with the number chosen) says so."""
    d = encoding.dim
    project = partial(project_to_target_fidelity, target_fidelities={d: TARGET_COST}, d=d + 1)
    cost = AffineFidelityCostModel(fidelity_weights={d: 1.0}, fixed_cost=0.0)
    generator = torch.Generator().manual_seed(seed)
    bounds = encoding.bounds()
    candidates = bounds[0] + (bounds[1] - bounds[0]) * torch.rand(
        MAX_VALUE_CANDIDATES, d, generator=generator, dtype=DTYPE
    )
    pending_x = _with_costs(
        encoding.encode([p for p, _ in pending]), [spec.task_cost(t) for _, t in pending]
    )
    costs = [task.cost for task in spec.tasks]
    chosen: list[TaskChoice] = []
    chosen_x = torch.zeros(0, d + 1, dtype=DTYPE)  # the batch's points, at their costs
    # One acquisition for the whole batch, as BoTorch's sequential optimization does: its
    # max-value samples (a posterior over all the candidates and the open suggestions) are
    # drawn once, not per point.
    acquisition = PendingGIBBON(
        model,
        candidate_set=_with_costs(candidates, [TARGET_COST] * len(candidates)),
        cost_aware_utility=InverseCostWeightedUtility(cost_model=cost),
        project=project,
        X_pending=pending_x,
    )
    # The open suggestions as it conditions on them (the least informative first: past
    # gibbon.MAX_PENDING the batch's points displace those).
    conditioned = acquisition.X_pending
    for _ in range(count):
        if chosen:
            acquisition.set_X_pending(
                chosen_x if conditioned is None else torch.cat([conditioned, chosen_x])
            )
        points, values = optimize(acquisition, costs)
        choice = None
        for x in points[torch.argsort(values, descending=True)]:
            # Task costs are distinct (validation): the nearest is the point's own.
            task = min(spec.tasks, key=lambda t: abs(t.cost - float(x[d])))
            if not taken(x[:d], task.name):
                choice = TaskChoice(x[:d], task.name)
                break
        if choice is None:
            break
        chosen.append(choice)
        chosen_x = torch.cat(
            [chosen_x, _with_costs(choice.x.unsqueeze(0), [spec.task_cost(choice.task)])]
        )
        if enough is not None and len(chosen) < count and enough(len(chosen)):
            break
    return chosen


def _with_costs(x: torch.Tensor, costs: Sequence[float]) -> torch.Tensor:
    """``(n, d)`` points and their tasks' costs as ``(n, d + 1)``."""
    column = torch.tensor(list(costs), dtype=DTYPE).reshape(-1, 1)
    return torch.cat([x.to(DTYPE), column], dim=1)
