"""BoTorchEngine: GP models and qLogNEI / qLogNEHVI, after an initial Sobol design."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from collections.abc import MutableMapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.optim.optimize import optimize_acqf
from botorch.optim.optimize_mixed import MAX_DISCRETE_VALUES
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.sampling.normal import SobolQMCNormalSampler

from honed.domain.analysis import ModelAnalysis
from honed.domain.experiment import ExperimentSpec
from honed.domain.parameters import Assignments
from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import point_hash
from honed.engine.base import Engine
from honed.engine.base import Proposal
from honed.engine.base import ProposalRequest
from honed.engine.botorch import analysis
from honed.engine.botorch import budget
from honed.engine.botorch import multitask
from honed.engine.botorch import task_search
from honed.engine.botorch.acquisition import direct_log_nei
from honed.engine.botorch.conditional import effort_per_combination
from honed.engine.botorch.conditional import searched_combinations
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.data import TrainingData
from honed.engine.botorch.data import training_data
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.encoding import LinearConstraints
from honed.engine.botorch.feasible import FeasibleSampler
from honed.engine.botorch.model import WarmStart
from honed.engine.botorch.model import fit_models
from honed.engine.botorch.multisolution import Focus
from honed.engine.botorch.multisolution import focus
from honed.engine.botorch.pool import thompson_pool
from honed.engine.design import model_ready
from honed.engine.sobol import SobolEngine
from honed.engine.space import exhausted
from honed.engine.space import satisfies_constraints

logger = logging.getLogger(__name__)

# An outcome constraint on MC samples: (*sample, *batch, q, m) -> (*sample, *batch, q),
# feasible where <= 0.
Constraint = Callable[[torch.Tensor], torch.Tensor]
# Re-optimizations when candidates land on evaluated or pending points.
DUPLICATE_RETRIES = 1
NEARBY_SAMPLES = 64
# L-BFGS-B iterations per restart for a request's first candidate, BoTorch's default: 100
# cut ascents short in 10 dimensions. The further candidates of a batch take fewer
# (docs/decisions.md: A request's first candidate: 200 L-BFGS-B iterations per restart).
FIRST_MAXITER = 200
REST_MAXITER = 50
# qLogNEI's quasi-MC samples for a lone point (one candidate, nothing pending): half
# BoTorch's 512, which every joint draw of several points keeps: with fewer there, batches
# landed in worse basins (docs/decisions.md: qLogNEI on 256 MC samples for a lone point
# only).
LONE_POINT_MC_SAMPLES = 256
# Open suggestions the acquisition conditions on, at most (see _acquisition_pending;
# docs/decisions.md: Many workers in flight: 64 pending points in the acquisition, whitened
# once).
MAX_ACQUISITION_PENDING = 64
# Raw samples are evaluated in batches of up to this many MC sample values (MC samples x
# points x baseline points, 32 MiB of doubles): a pass costs mostly Python at few
# observations, and memory grows with the batch (docs/decisions.md: The GP fit on a
# written-out marginal likelihood; raw samples scored in large batches).
RAW_BATCH_VALUES = 2**22
# Linear constraints on doubles are tightened by this share of their scale: SLSQP met
# x + y <= 1 only to its tolerance (a candidate with x + y = 1 + 7e-9).
CONSTRAINT_MARGIN = 1e-6
# The mixed optimizer scores points in passes of up to this many kernel inputs (points
# scored with the baseline and training points they meet, times the one-hot width; 64 MiB
# of doubles, a few copies of which a pass holds), at most MAX_MIXED_BATCH points, its
# default: 2,048 points per pass took 5 GB at 4,000 categorical values (docs/decisions.md:
# At most 1,000 values per categorical parameter; the mixed optimizer's passes bounded).
MIXED_BATCH_VALUES = 2**23
MAX_MIXED_BATCH = 2048


@dataclass(frozen=True)
class _Fit:
    """The model behind the last proposal, kept for ``BoTorchEngine.analyze`` (see
    ``analysis.analyze`` for the objectives and the fixed inputs)."""

    spec: ExperimentSpec
    encoding: Encoding
    objectives: Sequence[Outcome]
    model: ModelListGP
    observation_count: int
    fixed: tuple[float, ...] = ()


class BoTorchEngine(Engine):
    """Bayesian optimization; Sobol serves the initial design and constraint-only searches.

    ``warm_starts`` (experiment id -> fitted hyperparameters by outcome) lets a long-lived
    optimizer process start each fit where the previous one ended. A proposal that takes
    longer than ``fit_budget_seconds`` raises ``budget.FitBudgetExceeded``.
    """

    needs_observations = True
    needs_pending = True

    def __init__(
        self,
        warm_starts: MutableMapping[int, WarmStart] | None = None,
        num_restarts: int = 20,
        raw_samples: int = 1024,
        fit_budget_seconds: float = budget.DEFAULT_FIT_BUDGET_SECONDS,
    ) -> None:
        self._warm_starts = warm_starts
        self._fit_budget = fit_budget_seconds
        self._num_restarts = num_restarts
        self._raw_samples = raw_samples
        self._last_fit: _Fit | None = None

    def analyze(self) -> ModelAnalysis | None:
        if self._last_fit is None:
            return None
        fit = self._last_fit
        return analysis.analyze(
            fit.spec, fit.encoding, fit.objectives, fit.model, fit.observation_count, fit.fixed
        )

    def propose(self, request: ProposalRequest) -> Proposal:
        with warnings.catch_warnings():
            # Numerical notes from GPyTorch/BoTorch (added jitter, optimizer restarts) are
            # routine here; real failures raise and are recorded by the optimizer loop.
            warnings.simplefilter("ignore")
            with budget.running(budget.Deadline(self._fit_budget)) as deadline:
                return self._propose(request, deadline)

    def _propose(self, request: ProposalRequest, deadline: budget.Deadline) -> Proposal:
        spec = request.experiment.spec
        successes = [o for o in request.observations if not o.failed and not o.deleted]
        if not spec.optimized_metrics or not model_ready(
            spec, len(successes), len(request.pending)
        ):
            return SobolEngine().propose(request)
        if _nothing_left(request):
            # No acquisition can find a new point; searching took minutes to find none.
            return Proposal([], request.cursor)
        encoding = Encoding.of(spec.space)
        if spec.tasks:
            return self._propose_tasks(request, encoding, deadline)
        data = training_data(spec, encoding, [o for o in request.observations if not o.deleted])
        warm = None
        if self._warm_starts is not None:
            warm = self._warm_starts.setdefault(request.experiment.id, {})
        outcomes = [*data.objectives, *(c for c, _ in data.constraints)]
        if data.failure is not None:
            outcomes.append(data.failure)
        started = time.perf_counter()
        model = fit_models(encoding, outcomes, warm)
        fitted = time.perf_counter()
        observed = sum(not o.deleted for o in request.observations)
        self._last_fit = _Fit(spec, encoding, data.objectives, model, observed)
        pending = list(request.pending)
        conditioned = _acquisition_pending(
            model, len(data.objectives), encoding.encode(pending) if pending else None
        )
        acquisition = _acquisition(model, data, conditioned, max(request.count, 1))
        budget.guard(acquisition, deadline)
        taken = _taken(request)
        points: list[dict[str, AssignmentValue]] = []
        repeats: list[dict[str, AssignmentValue]] = []
        turn = focus(spec, encoding, request.observations, len(request.pending))
        for _ in range(DUPLICATE_RETRIES + 1):
            wanted = max(request.count, 1) - len(points)
            for x in self._optimize(acquisition, encoding, wanted, turn):
                point = encoding.decode(x)
                if point_hash(point) not in taken:
                    points.append(point)
                # A point already evaluated or pending (often a bound, once rounded) becomes
                # pending itself, which makes the acquisition look elsewhere next time.
                repeats.append(point)
                taken.add(point_hash(point))
            if len(points) >= request.count:
                break
            new = encoding.encode(repeats)
            acquisition.set_X_pending(
                new if conditioned is None else torch.cat([conditioned, new])
            )
        pending.extend(repeats)
        if len(points) < request.count:
            # The acquisition keeps its maximum on evaluated points (typically an optimum at
            # a bound): refine around them instead of leaving the request to Sobol.
            points.extend(
                _best_nearby(acquisition, encoding, pending, taken, request.count - len(points))
            )
        optimized = time.perf_counter()
        if request.pool > 0:
            deadline.check()
            generator = torch.Generator().manual_seed(len(request.observations))
            centers = encoding.encode(points[: request.count])
            points.extend(
                thompson_pool(model, data, encoding, centers, request.pool, taken, generator)
            )
        points = _meeting_constraints(request, points)
        training_points = max(o.X.shape[0] for o in outcomes)
        fit_seconds, candidate_seconds = fitted - started, optimized - fitted
        pool_seconds = time.perf_counter() - optimized
        logger.info(
            "experiment %s: model on %d of %d observations, d=%d; fit %.2fs, "
            "%d candidates %.2fs, pool of %d %.2fs",
            request.experiment.id,
            training_points,
            len(request.observations),
            encoding.dim,
            fit_seconds,
            request.count,
            candidate_seconds,
            len(points) - min(request.count, len(points)),
            pool_seconds,
            # For operators' log processors and the scale test.
            extra={
                "training_points": training_points,
                "fit_seconds": fit_seconds,
                "candidate_seconds": candidate_seconds,
                "pool_seconds": pool_seconds,
            },
        )
        return Proposal(points, request.cursor)

    def _propose_tasks(
        self, request: ProposalRequest, encoding: Encoding, deadline: budget.Deadline
    ) -> Proposal:
        """A multitask experiment's points and tasks (see ``multitask``); no pool: its
        evaluations are the expensive kind, and each point is chosen per unit cost."""
        spec = request.experiment.spec
        usable = multitask.task_observations(spec, request.observations)
        if len(usable) < 2:  # nothing to fit yet (every design result failed)
            return SobolEngine().propose(request)
        self._last_fit = None
        started = time.perf_counter()
        model = multitask.fit_task_model(spec, encoding, usable)
        fitted = time.perf_counter()
        # The dashboard's analyses are of the target task: the model with its cost column at
        # the target's cost, the slices based at the target's best result (none until the
        # target task has a result).
        target = multitask.target_outcome(spec, encoding, usable)
        if target is not None:
            observed = sum(not o.deleted for o in request.observations)
            fixed = (multitask.TARGET_COST,)
            self._last_fit = _Fit(spec, encoding, [target], ModelListGP(model), observed, fixed)
        tasks = list(request.pending_tasks) or [None] * len(request.pending)
        # In a continuous space (L-BFGS-B alone, no linear constraint) the tasks' restarts
        # ascend together.
        together = not encoding.inequality_constraints() and not _mixed(encoding, None, {})
        guarded: list[AcquisitionFunction] = []  # one hook per acquisition, for the batch

        def optimize(
            acquisition: AcquisitionFunction, costs: Sequence[float]
        ) -> tuple[torch.Tensor, torch.Tensor]:
            """``(k, d + 1)`` points at the tasks' ``costs`` in model space and their values
            ``(k,)``, found with the multitask effort."""
            if not any(acquisition is g for g in guarded):
                budget.guard(acquisition, deadline)
                guarded.append(acquisition)
            if together:
                return task_search.optimize_together(acquisition, encoding, costs)
            return task_search.optimize_apart(acquisition, encoding, costs, self._optimize_batch)

        taken = _taken(request)
        points: list[dict[str, AssignmentValue]] = []
        chosen_tasks: list[str | None] = []
        choices = multitask.choose(
            spec,
            encoding,
            model,
            list(zip(request.pending, tasks, strict=True)),
            max(request.count, 1),
            optimize,
            seed=len(request.observations),
            taken=lambda x, task: point_hash(encoding.decode(x), task) in taken,
            enough=request.enough,
        )
        candidate_seconds = time.perf_counter() - fitted
        logger.info(
            "experiment %s: multitask model on %d observations, d=%d; fit %.2fs, "
            "%d candidates %.2fs",
            request.experiment.id,
            len(usable),
            encoding.dim,
            fitted - started,
            len(choices),
            candidate_seconds,
            extra={
                "training_points": len(usable),
                "fit_seconds": fitted - started,
                "candidate_seconds": candidate_seconds,
            },
        )
        for choice in choices:
            point = encoding.decode(choice.x)
            # Observed or pending at another task, the point is still new at this one.
            key = point_hash(point, choice.task)
            if key not in taken:
                taken.add(key)
                points.append(point)
                chosen_tasks.append(choice.task)
        return Proposal(points, request.cursor, chosen_tasks)

    def _optimize(
        self,
        acquisition: AcquisitionFunction,
        encoding: Encoding,
        q: int,
        turn: Focus | None = None,
    ) -> torch.Tensor:
        """``(q, d)``: the best candidate with full effort (where a multisolution ``turn``
        looks), then the rest of a batch one after the other with the earlier ones pending
        and lighter settings: a joint optimization of q points had a heavy tail of slow
        candidates."""
        if turn is None:
            first = self._optimize_first(acquisition, encoding)
        else:
            first = self._optimize_focused(acquisition, encoding, turn)
        if q == 1:
            return first
        pending = acquisition.X_pending
        acquisition.set_X_pending(first if pending is None else torch.cat([pending, first]))
        rest = self._optimize_batch(
            acquisition, encoding, q - 1, max(2, self._num_restarts // 2), REST_MAXITER
        )
        acquisition.set_X_pending(pending)
        return torch.cat([first, rest])

    def _optimize_focused(
        self, acquisition: AcquisitionFunction, encoding: Encoding, turn: Focus
    ) -> torch.Tensor:
        """``(1, d)``: the first candidate with ``turn.avoid`` pending as well, within its
        box when it has one (see ``multisolution``)."""
        pending = acquisition.X_pending
        avoid = turn.avoid
        acquisition.set_X_pending(avoid if pending is None else torch.cat([pending, avoid]))
        try:
            if turn.box is None:
                return self._optimize_first(acquisition, encoding)
            return self._optimize_batch(
                acquisition,
                encoding,
                1,
                self._num_restarts,
                FIRST_MAXITER,
                turn.fixed,
                bounds=turn.box,
            )
        finally:
            acquisition.set_X_pending(pending)

    def _optimize_first(
        self, acquisition: AcquisitionFunction, encoding: Encoding
    ) -> torch.Tensor:
        """``(1, d)``: a request's best candidate. In a conditional space with few
        combinations of the conditionals' values, the best of one candidate per
        combination, each searched over the parameters it leaves active."""
        combinations = searched_combinations(encoding)
        if combinations is None:
            return self._optimize_batch(
                acquisition, encoding, 1, self._num_restarts, FIRST_MAXITER
            )
        restarts, raw_samples = effort_per_combination(
            self._num_restarts, self._raw_samples, len(combinations)
        )
        candidates = torch.cat(
            [
                self._optimize_batch(
                    acquisition, encoding, 1, restarts, FIRST_MAXITER, fixed, raw_samples
                )
                for fixed in combinations
            ]
        )  # (c, d)
        with torch.no_grad():
            values = acquisition(candidates.unsqueeze(1))  # (c,)
        return candidates[int(torch.argmax(values))].unsqueeze(0)

    def _optimize_batch(
        self,
        acquisition: AcquisitionFunction,
        encoding: Encoding,
        q: int,
        restarts: int,
        maxiter: int,
        fixed: dict[int, float] | None = None,
        raw_samples: int | None = None,
        bounds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(q, d)``: q candidates in model space (sequentially, each with the earlier ones
        pending, when q > 1), ``fixed`` dimensions at their values, within ``bounds``
        (default: the whole space)."""
        if bounds is None:
            bounds = encoding.bounds()
        constraints = encoding.inequality_constraints(CONSTRAINT_MARGIN) or None
        fixed = fixed or {}
        raw_samples = raw_samples or self._raw_samples
        if len(fixed) == encoding.dim:  # nothing left to search: the point itself
            point = torch.zeros(q, encoding.dim, dtype=bounds.dtype)
            for dim, value in fixed.items():
                point[:, dim] = value
            return point
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if _mixed(encoding, constraints, fixed):
                candidates, _ = optimize_acqf_mixed_alternating(
                    acquisition,
                    bounds=bounds,
                    discrete_dims={
                        d: [x for x in v if bounds[0, d] <= x <= bounds[1, d]]
                        for d, v in encoding.discrete_dims.items()
                    },
                    cat_dims={d: list(v) for d, v in encoding.cat_dims.items()},
                    q=q,
                    num_restarts=restarts,
                    raw_samples=raw_samples,
                    fixed_features=fixed or None,
                    inequality_constraints=constraints,
                    options=_mixed_options(maxiter, constraints, acquisition, encoding),
                )
            else:
                candidates, _ = optimize_acqf(
                    acquisition,
                    bounds=bounds,
                    q=q,
                    num_restarts=restarts,
                    raw_samples=raw_samples,
                    fixed_features=fixed or None,
                    inequality_constraints=constraints,
                    sequential=q > 1,
                    # Passed on to gen_batch_initial_conditions.
                    generator=FeasibleSampler(bounds, constraints) if constraints else None,
                    options={
                        "maxiter": maxiter,
                        # All restarts in one batch (BoTorch runs them as independent
                        # L-BFGS-B problems, evaluated together): far less Python per step
                        # than batches of 8 (20 restarts cost what 8 did), as Ax does.
                        "batch_limit": restarts,
                        # The raw samples in larger batches than batch_limit: the same
                        # values in far fewer passes.
                        "init_batch_limit": _raw_batch(acquisition, restarts),
                        # Not BoTorch's sample_around_best (restarts also from perturbations
                        # of the best points): with this model it made Ackley10 worse and
                        # found Styblinski-Tang4's other basins less often
                        # (docs/decisions.md: No sample_around_best in the acquisition
                        # optimization).
                        "sample_around_best": False,
                    },
                )
        return candidates.detach().reshape(q, encoding.dim)


def _mixed(
    encoding: Encoding, constraints: LinearConstraints | None, fixed: dict[int, float]
) -> bool:
    """Whether ``_optimize_batch`` needs the mixed optimizer: a categorical or searched
    discrete dimension that ``fixed`` leaves free (else L-BFGS-B alone)."""
    free = set(_searched_discrete_dims(encoding, constraints)) | set(encoding.cat_dims)
    return bool(free - set(fixed))


def _raw_batch(acquisition: AcquisitionFunction, restarts: int) -> int:
    """Raw samples per pass, ``b``: each raw sample ``(1, d)`` is evaluated jointly with
    ``X_baseline: (n, d)`` under ``sample_shape`` MC samples, so a pass ``(b, 1, d)`` holds
    about ``b * samples * (n + 1)`` values, at most RAW_BATCH_VALUES (``b`` at least
    ``restarts``)."""
    samples = getattr(acquisition, "sample_shape", torch.Size([512])).numel()
    baseline = getattr(acquisition, "X_baseline", None)
    points = 1 + (baseline.shape[-2] if isinstance(baseline, torch.Tensor) else 0)
    return max(restarts, RAW_BATCH_VALUES // (samples * points))


def _mixed_batch(acquisition: AcquisitionFunction, encoding: Encoding) -> int:
    """Points per pass of the mixed optimizer, ``b``: a pass ``(b, 1, d)`` is scored
    jointly with ``X_baseline: (n, d)`` against the ``t`` training points, all of which the
    kernel sees one-hot, about ``b * (1 + n + t) * w`` values for its width ``w``: at most
    MIXED_BATCH_VALUES."""
    baseline = getattr(acquisition, "X_baseline", None)
    points = 1 + (baseline.shape[-2] if isinstance(baseline, torch.Tensor) else 0)
    model = getattr(acquisition, "model", None)
    for each in getattr(model, "models", [model]):
        inputs = getattr(each, "train_inputs", None)
        points += max((x.shape[-2] for x in inputs or ()), default=0)
    return max(1, min(MAX_MIXED_BATCH, MIXED_BATCH_VALUES // (points * encoding.kernel_width)))


def _mixed_options(
    maxiter: int,
    constraints: LinearConstraints | None,
    acquisition: AcquisitionFunction,
    encoding: Encoding,
) -> dict[str, Any]:
    batch = _mixed_batch(acquisition, encoding)
    options: dict[str, Any] = {
        "maxiter_continuous": maxiter,
        "batch_limit": batch,
        "init_batch_limit": batch,
    }
    if constraints:
        # Starting points from the box's points that meet the constraints, not from an
        # optimization of the continuous relaxation: its raw samples come from BoTorch's
        # hit-and-run sampler, slow in Python, which this optimizer gives no way to replace
        # (docs/decisions.md: Starting points under linear constraints: Sobol points that
        # meet them).
        options["initialization_strategy"] = "random"
    return options


def _nothing_left(request: ProposalRequest) -> bool:
    """Every point of a finite search space is observed (failed ones too) or pending, at
    every task of a multitask experiment."""
    spec = request.experiment.spec
    taken = _taken(request)
    tasks: list[str | None] = [task.name for task in spec.tasks] or [None]
    return all(exhausted(spec.space, taken, task) for task in tasks)


def _taken(request: ProposalRequest) -> set[str]:
    """The hashes of the points pending or observed (failed ones too), each at its task."""
    tasks = request.pending_tasks or [None] * len(request.pending)
    return {point_hash(p, t) for p, t in zip(request.pending, tasks, strict=True)} | {
        point_hash(o.assignments, o.task) for o in request.observations if not o.deleted
    }


def _searched_discrete_dims(
    encoding: Encoding, constraints: LinearConstraints | None
) -> list[int]:
    """The integer and grid dimensions that the mixed optimizer searches value by value.
    BoTorch relaxes the others (more than MAX_DISCRETE_VALUES values, in no constraint) to
    continuous ones and rounds; when that leaves nothing discrete it runs the continuous
    optimizer, but without our settings (maxiter 200, restarts in batches), several times
    slower, so such spaces take the continuous path here, and decoding rounds
    (docs/decisions.md: Large integer ranges take the continuous optimizer, rounded)."""
    constrained = {int(i) for indices, _, _ in constraints or [] for i in indices}
    return [
        dim
        for dim, values in encoding.discrete_dims.items()
        if len(values) <= MAX_DISCRETE_VALUES or dim in constrained
    ]


def _best_nearby(
    acquisition: AcquisitionFunction,
    encoding: Encoding,
    around: list[Assignments],
    taken: set[str],
    wanted: int,
) -> list[dict[str, AssignmentValue]]:
    """The best of many small perturbations of ``around`` (its last 8 points, ``(k, d)``
    encoded, ``NEARBY_SAMPLES`` perturbations each) that are new points and meet the linear
    constraints, scored as ``N`` batches of one point, ``(N, 1, d)``."""
    generator = torch.Generator().manual_seed(len(taken))
    centers = encoding.encode(around[-8:])
    bounds = encoding.bounds()
    scale = 0.02 * (bounds[1] - bounds[0])
    noise = torch.randn(NEARBY_SAMPLES, *centers.shape, generator=generator, dtype=centers.dtype)
    samples = (centers + noise * scale).reshape(-1, encoding.dim)
    samples = torch.maximum(torch.minimum(samples, bounds[1]), bounds[0])
    decoded = [encoding.decode(x) for x in samples]
    fresh = [
        p
        for p in decoded
        if point_hash(p) not in taken and satisfies_constraints(encoding.space, p)
    ]
    if not fresh:
        return []
    with torch.no_grad():
        values = acquisition(encoding.encode(fresh).unsqueeze(1))
    chosen: list[dict[str, AssignmentValue]] = []
    for index in torch.argsort(values, descending=True).tolist():
        point = fresh[index]
        if point_hash(point) not in taken:
            chosen.append(point)
            taken.add(point_hash(point))
            if len(chosen) == wanted:
                break
    return chosen


def _meeting_constraints(
    request: ProposalRequest, points: list[dict[str, AssignmentValue]]
) -> list[dict[str, AssignmentValue]]:
    """The points that meet the linear constraints as users check them: the last guard,
    each source of points keeps to them in model space already."""
    space = request.experiment.spec.space
    kept = [p for p in points if satisfies_constraints(space, p)]
    if len(kept) < len(points):
        logger.warning(
            "experiment %s: %d candidates broke a linear constraint and were dropped",
            request.experiment.id,
            len(points) - len(kept),
        )
    return kept


def _acquisition_pending(
    model: ModelListGP, objectives: int, pending: torch.Tensor | None
) -> torch.Tensor | None:
    """``(p', d)``: the open points the acquisition treats as pending, from ``pending:
    (p, d)`` (the model's first ``objectives`` outputs are the objectives). Each is a
    column of every joint posterior the acquisition draws, so past MAX_ACQUISITION_PENDING
    (a thousand workers in flight made one candidate take a minute) only those the model
    rates best per objective, in turn: a new point must beat them, while pending points in
    poor regions change its improvement little."""
    if pending is None or pending.shape[0] <= MAX_ACQUISITION_PENDING:
        return pending
    with torch.no_grad():
        mean = model.posterior(pending).mean  # (p, outcomes), signed: larger is better
    orders = [torch.argsort(mean[:, i], descending=True).tolist() for i in range(objectives)]
    chosen: dict[int, None] = {}
    for ranked in zip(*orders, strict=True):
        for index in ranked:
            chosen.setdefault(index, None)
        if len(chosen) >= MAX_ACQUISITION_PENDING:
            break
    # The first MAX_ACQUISITION_PENDING in rank order (a round over several objectives
    # may pass it), in their original order.
    return pending[sorted(list(chosen)[:MAX_ACQUISITION_PENDING])]


def _acquisition(
    model: ModelListGP, data: TrainingData, pending: torch.Tensor | None, points: int
) -> AcquisitionFunction:
    """qLogNEI (one objective) or qLogNEHVI over ``model``'s outputs in
    ``training_data``'s order, with ``pending: (p, d)`` as pending points, for a request of
    ``points`` candidates. It maps ``X: (*batch, q, d)`` to ``(*batch,)``."""
    n_objectives = len(data.objectives)
    constraints: list[Constraint] = [
        # Feasible when the signed value reaches the signed threshold (constraint <= 0).
        _at_least(n_objectives + offset, threshold)
        for offset, (_, threshold) in enumerate(data.constraints)
    ]
    if data.failure is not None:
        # The failure model predicts 1 where evaluations failed: keep away from > 0.5.
        constraints.append(_at_most(n_objectives + len(data.constraints), 0.5))
    if n_objectives == 1:
        lone = points == 1 and pending is None
        return direct_log_nei(
            model,
            sampler=(
                SobolQMCNormalSampler(sample_shape=torch.Size([LONE_POINT_MC_SAMPLES]))
                if lone
                else None
            ),
            X_baseline=data.X_baseline,
            objective=GenericMCObjective(_first_outcome),
            constraints=constraints or None,
            X_pending=pending,
            prune_baseline=True,
        )
    return qLogNoisyExpectedHypervolumeImprovement(
        model,
        ref_point=_reference_point(data),
        X_baseline=data.X_baseline,
        objective=IdentityMCMultiOutputObjective(outcomes=list(range(n_objectives))),
        constraints=constraints or None,
        X_pending=pending,
        prune_baseline=True,
    )


def _first_outcome(samples: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
    """``(*sample, *batch, q, m)`` -> ``(*sample, *batch, q)``: the objective's samples."""
    return samples[..., 0]


def _at_least(index: int, threshold: float) -> Constraint:
    def constraint(samples: torch.Tensor) -> torch.Tensor:
        return threshold - samples[..., index]

    return constraint


def _at_most(index: int, threshold: float) -> Constraint:
    def constraint(samples: torch.Tensor) -> torch.Tensor:
        return samples[..., index] - threshold

    return constraint


def _reference_point(data: TrainingData) -> list[float]:
    """Per objective its threshold when the user gave one, else a little worse than the
    worst value seen (all values are signed so that larger is better)."""
    point = []
    for outcome, threshold in zip(data.objectives, data.objective_thresholds, strict=True):
        if threshold is not None:
            point.append(threshold)
            continue
        low, high = float(outcome.Y.min()), float(outcome.Y.max())
        point.append(low - 0.1 * max(high - low, 1e-6))
    return point
