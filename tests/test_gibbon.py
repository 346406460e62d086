"""PendingGIBBON: BoTorch's multi-fidelity GIBBON with its pending points kept, its value
BoTorch's where BoTorch's units agree, and the same whatever the metric's scale; its best
value drawn with the open suggestions too, and past the limit the most informative of them
conditioned on."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any

import pytest
import torch
from botorch.acquisition import max_value_entropy_search
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.acquisition.max_value_entropy_search import qMultiFidelityLowerBoundMaxValueEntropy
from botorch.acquisition.utils import project_to_target_fidelity
from botorch.fit import fit_gpytorch_mll
from botorch.models.cost import AffineFidelityCostModel
from botorch.models.gp_regression_fidelity import SingleTaskMultiFidelityGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls.exact_marginal_log_likelihood import ExactMarginalLogLikelihood

from honed.domain.experiment import Task
from honed.domain.parameters import Assignments
from honed.domain.records import Observation
from honed.engine.botorch import gibbon
from honed.engine.botorch import multitask
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.gibbon import PendingGIBBON
from tests.test_engine_multitask import DESIGN
from tests.test_engine_multitask import experiment
from tests.test_engine_multitask import observed

TASKS = (Task("full", 1.0), Task("medium", 0.4), Task("cheap", 0.1))
SPEC = experiment(TASKS).spec
ENCODING = Encoding.of(SPEC.space)
D = ENCODING.dim
COSTS = torch.tensor([0.1, 0.4, 1.0], dtype=torch.double)


def model_of(values: Sequence[float]) -> SingleTaskMultiFidelityGP:
    """honed's multi-fidelity GP of the design's points and tasks with these values."""
    usable = multitask.task_observations(SPEC, observed(DESIGN))
    given: list[tuple[Observation, float]] = [
        (o, v) for (o, _), v in zip(usable, values, strict=True)
    ]
    return multitask.fit_task_model(SPEC, ENCODING, given)


def arguments(model: SingleTaskMultiFidelityGP) -> dict[str, object]:
    generator = torch.Generator().manual_seed(1)
    candidates = torch.rand(256, D, generator=generator, dtype=torch.double)
    return {
        "model": model,
        "candidate_set": torch.cat([candidates, torch.ones(256, 1, dtype=torch.double)], 1),
        "cost_aware_utility": InverseCostWeightedUtility(
            cost_model=AffineFidelityCostModel(fidelity_weights={D: 1.0}, fixed_cost=0.0)
        ),
        "project": partial(project_to_target_fidelity, target_fidelities={D: 1.0}, d=D + 1),
    }


def at_tasks(n: int, seed: int) -> torch.Tensor:
    """``(n, d + 1)`` random points, each at a random task's cost."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, D, generator=generator, dtype=torch.double)
    costs = COSTS[torch.randint(0, len(COSTS), (n,), generator=generator)]
    return torch.cat([x, costs.unsqueeze(1)], 1)


def standardized() -> list[float]:
    """The design's signed values with mean 0 and standard deviation 1: the model's outcome
    transform is then the identity, where BoTorch's GIBBON is in one unit throughout."""
    usable = multitask.task_observations(SPEC, observed(DESIGN))
    values = torch.tensor([v for _, v in usable], dtype=torch.double)
    return ((values - values.mean()) / values.std()).tolist()


def test_the_values_are_botorchs_with_the_pending_points_set() -> None:
    model = model_of(standardized())
    ours = PendingGIBBON(**arguments(model))  # type: ignore[arg-type]
    theirs = qMultiFidelityLowerBoundMaxValueEntropy(**arguments(model))  # type: ignore[arg-type]
    theirs.posterior_max_values = ours.posterior_max_values.clone()
    X = at_tasks(12, seed=2).unsqueeze(1)  # (12, 1, d + 1)
    with torch.no_grad():
        alone = ours(X)
        assert alone.tolist() == pytest.approx(theirs(X).tolist(), rel=1e-8, abs=1e-10)
        pending = at_tasks(3, seed=3)
        ours.set_X_pending(pending)
        theirs.set_X_pending(pending)  # BoTorch's way: two more posteriors per evaluation
        conditioned = ours(X)
        assert conditioned.tolist() == pytest.approx(theirs(X).tolist(), rel=1e-8, abs=1e-10)
    # The pending points lower the information of what they will tell.
    assert bool((conditioned <= alone + 1e-12).all())
    assert bool((conditioned < alone - 1e-3).any())


def test_the_metric_scale_leaves_the_values_unchanged() -> None:
    """A metric in other units (here x1000) is the same problem: the same information
    about its best value, the same pending points' share of it."""
    values = [v for _, v in multitask.task_observations(SPEC, observed(DESIGN))]
    acquisitions = []
    for scale in (1.0, 1000.0):
        acquisition = PendingGIBBON(**arguments(model_of([scale * v for v in values])))  # type: ignore[arg-type]
        acquisition.set_X_pending(at_tasks(3, seed=3))
        acquisitions.append(acquisition)
    unit, thousand = acquisitions
    # The same best-value samples, in each metric's units.
    thousand.posterior_max_values = 1000.0 * unit.posterior_max_values
    X = at_tasks(12, seed=2).unsqueeze(1)
    with torch.no_grad():
        assert thousand(X).tolist() == pytest.approx(unit(X).tolist(), rel=1e-5, abs=1e-8)


def test_points_scored_in_chunks_have_the_values_of_one_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = model_of(standardized())
    acquisition = PendingGIBBON(**arguments(model))  # type: ignore[arg-type]
    acquisition.set_X_pending(at_tasks(3, seed=3))
    X = at_tasks(12, seed=2).unsqueeze(1)
    with torch.no_grad():
        whole = acquisition(X)
        # 5 rows (the point, its projection, 3 pending) against 5 training points: 2 a chunk.
        monkeypatch.setattr(gibbon, "CHUNK_VALUES", 2 * 5 * 5)
        chunked = acquisition(X)
    assert chunked.tolist() == pytest.approx(whole.tolist(), rel=1e-12, abs=1e-14)


def test_past_the_limit_a_batchs_own_points_displace_the_least_informative() -> None:
    """Each pending point is a row of every posterior: past MAX_PENDING the points set
    later (a batch's own, last) are kept, and the open suggestions the acquisition was
    built with make room from their least informative on."""
    acquisition = PendingGIBBON(**arguments(model_of(standardized())))  # type: ignore[arg-type]
    pending = at_tasks(gibbon.MAX_PENDING + 6, seed=4)
    acquisition.set_X_pending(pending)
    assert acquisition.X_pending is not None
    assert torch.equal(acquisition.X_pending, pending[6:])


def test_past_the_limit_the_most_informative_open_suggestions_count() -> None:
    """Built with more open suggestions than MAX_PENDING, the acquisition conditions on
    those whose evaluations tell the most about the target's best value."""
    given = arguments(model_of(standardized()))
    pending = at_tasks(gibbon.MAX_PENDING + 6, seed=4)
    acquisition = PendingGIBBON(**given, X_pending=pending)  # type: ignore[arg-type]
    kept = acquisition.X_pending
    assert kept is not None
    assert kept.shape == (gibbon.MAX_PENDING, D + 1)
    alone = PendingGIBBON(**given)  # type: ignore[arg-type]
    alone.posterior_max_values = acquisition.posterior_max_values
    information = alone._by_information(pending)
    # Every point once, the least informative first; the kept ones are the last.
    assert sorted(map(tuple, information.tolist())) == sorted(map(tuple, pending.tolist()))
    assert torch.equal(kept, information[-gibbon.MAX_PENDING :])


def on_a_grid(
    acquisition: AcquisitionFunction, costs: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``multitask.TaskOptimizer`` over a 21 x 21 grid: each task's best grid point."""
    side = torch.linspace(0.0, 1.0, 21, dtype=torch.double)
    grid = torch.cartesian_prod(side, side)
    points, values = [], []
    with torch.no_grad():
        for cost in costs:
            X = torch.cat([grid, torch.full((len(grid), 1), cost, dtype=torch.double)], 1)
            value = acquisition(X.unsqueeze(1))
            best = int(value.argmax())
            points.append(X[best])
            values.append(value[best])
    return torch.stack(points), torch.stack(values)


def test_the_next_point_keeps_away_from_full_cost_evaluations_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many workers: the oldest open suggestions are the long, full-cost evaluations at
    the point the acquisition rated best at full cost, then MAX_PENDING cheap ones, newer,
    near a poor result. The next point is the one the acquisition picks with every open
    suggestion pending, away from the evaluations in flight (with the latest MAX_PENDING
    alone it was a cheap point beside them)."""
    model = model_of(standardized())

    def chosen(
        pending: list[tuple[Assignments, str | None]], full_cost_only: bool = False
    ) -> multitask.TaskChoice:
        def optimize(
            acquisition: AcquisitionFunction, costs: Sequence[float]
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return on_a_grid(acquisition, [1.0] if full_cost_only else costs)

        torch.manual_seed(0)  # the same best-value samples every time
        choices = multitask.choose(
            SPEC, ENCODING, model, pending, 1, optimize, seed=0, taken=lambda x, t: False
        )
        assert len(choices) == 1
        return choices[0]

    peak = chosen([], full_cost_only=True).x.tolist()
    generator = torch.Generator().manual_seed(5)
    inward = [1.0 if p < 0.5 else -1.0 for p in peak]
    in_flight: list[tuple[Assignments, str | None]] = [
        ({"x": peak[0] + 0.01 * i * inward[0], "y": peak[1] + 0.005 * i * inward[1]}, "full")
        for i in range(6)
    ]
    near_poor = 0.9 + 0.05 * torch.rand(gibbon.MAX_PENDING, 2, generator=generator)
    newer: list[tuple[Assignments, str | None]] = [
        ({"x": float(x), "y": 1.0 - float(y)}, "cheap") for x, y in near_poor.tolist()
    ]
    capped = chosen(in_flight + newer)
    monkeypatch.setattr(gibbon, "MAX_PENDING", 10 * gibbon.MAX_PENDING)
    every = chosen(in_flight + newer)
    assert math.dist(every.x.tolist(), peak) > 0.1
    assert (capped.x.tolist(), capped.task) == (every.x.tolist(), every.task)


# A parabola peaking at x = 0.5, observed at full cost only on either side of the peak:
# the model predicts the peak above every result (-0.4 at best).
PEAK_X = torch.tensor([0.1, 0.15, 0.2, 0.25, 0.3, 0.7, 0.75, 0.8, 0.85, 0.9], dtype=torch.double)
PEAK_Y = -10 * (PEAK_X - 0.5) ** 2


def peak_model() -> SingleTaskMultiFidelityGP:
    """A multi-fidelity GP over ``(x, cost)`` of the parabola's results."""
    X = torch.stack([PEAK_X, torch.ones_like(PEAK_X)], dim=1)
    model = SingleTaskMultiFidelityGP(
        X, PEAK_Y.unsqueeze(1), data_fidelities=[1], outcome_transform=Standardize(1)
    )
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def far_from_the_peak(
    model: SingleTaskMultiFidelityGP, pending: torch.Tensor | None
) -> PendingGIBBON:
    """The acquisition over ``(x, cost)`` with its candidates all far from the peak."""
    candidates = torch.linspace(0.0, 0.05, 16, dtype=torch.double)
    return PendingGIBBON(
        model,
        candidate_set=torch.stack([candidates, torch.ones_like(candidates)], dim=1),
        cost_aware_utility=InverseCostWeightedUtility(
            cost_model=AffineFidelityCostModel(fidelity_weights={1: 1.0}, fixed_cost=0.0)
        ),
        project=partial(project_to_target_fidelity, target_fidelities={1: 1.0}, d=2),
        X_pending=pending,
    )


def test_the_best_value_is_drawn_with_the_pending_points_at_the_target() -> None:
    """An open suggestion at the predicted peak (at a cheaper task: its value at the
    target counts) may find the best value there: the best-value samples reach that level,
    as BoTorch's max-value acquisitions draw them over their pending points too."""
    model = peak_model()
    with torch.no_grad():
        posterior = model.posterior(torch.tensor([[0.5, 1.0]], dtype=torch.double))
    mean, sd = float(posterior.mean), float(posterior.variance.sqrt())
    assert mean - 2 * sd > float(PEAK_Y.max()) + 0.1  # well above every result
    torch.manual_seed(0)
    alone = far_from_the_peak(model, None).posterior_max_values
    torch.manual_seed(0)
    pending = torch.tensor([[0.9, 1.0], [0.5, 0.4]], dtype=torch.double)
    drawn = far_from_the_peak(model, pending).posterior_max_values
    assert float(alone.max()) < mean - 2 * sd  # the candidates' and results' best
    assert mean - sd < float(drawn.median()) < mean + 2 * sd


def test_every_pending_point_is_a_candidate_for_the_best_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The best value is drawn over the candidates, the training points and the pending
    points (all of them, past the limit of those conditioned on), each at the target."""
    drawn_over: list[torch.Tensor] = []
    sample = max_value_entropy_search._sample_max_value_Gumbel

    def recording(**kwargs: Any) -> torch.Tensor:
        drawn_over.append(kwargs["candidate_set"])
        return sample(**kwargs)

    monkeypatch.setattr(max_value_entropy_search, "_sample_max_value_Gumbel", recording)
    given = arguments(model_of(standardized()))
    pending = at_tasks(gibbon.MAX_PENDING + 6, seed=4)
    PendingGIBBON(**given, X_pending=pending)  # type: ignore[arg-type]
    candidates = given["candidate_set"]
    assert isinstance(candidates, torch.Tensor)
    last = drawn_over[-1]
    assert last.shape == (len(candidates) + len(DESIGN) + len(pending), D + 1)
    assert torch.equal(last[: len(candidates)], candidates)
    assert torch.equal(last[-len(pending) :, :D], pending[:, :D])
    assert bool((last[:, D] == 1.0).all())
