"""The candidate pool: when requests outpace fits, they still get model-based points.

Real BoTorch, real SQLite, requests from real threads; small budgets.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Assignments
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.records import ObservationInput
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.engine.base import ProposalRequest
from honed.engine.botorch.data import training_data
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.model import fit_models
from honed.engine.botorch.pool import thompson_pool
from honed.engine.sobol import SobolEngine
from honed.errors import ServiceUnavailableError
from honed.service.app import Services
from honed.service.optimizer import LoopSettings
from honed.service.optimizer import OptimizerLoop
from tests.test_optimizer import unit

POOL = LoopSettings(pool_per_worker=4, settle_seconds=0.0)


def bowl(assignments: Assignments) -> float:
    return sum((float(assignments[k]) - 0.3) ** 2 for k in ("x0", "x1", "x2"))


def observe(services: Services, token: Token, experiment_id: int, suggestion_id: int) -> None:
    _experiment, suggestion = services.suggestions.get(token, experiment_id, suggestion_id)
    value = MetricValue("f", bowl(suggestion.assignments))
    given = ObservationInput(suggestion_id=suggestion_id, values=(value,))
    services.observations.create(token, experiment_id, given)


def started_experiment(services: Services, token: Token, loop: OptimizerLoop) -> int:
    """An experiment past its initial design, its optimizer alive."""
    spec = ExperimentSpec(
        "pool",
        SearchSpace((unit("x0"), unit("x1"), unit("x2"))),
        (Metric("f", Objective.MINIMIZE),),
        parallel_bandwidth=2,
    )
    experiment = services.experiments.create(token, spec)
    services.storage.heartbeat(loop.name)
    for _ in range(6):
        suggestion = services.suggestions.create(token, experiment.id)
        observe(services, token, experiment.id, suggestion.id)
    return experiment.id


def test_concurrent_requests_after_one_fit_get_distinct_model_points(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    loop = OptimizerLoop(services.storage, engine_factory, settings=POOL)
    eid = started_experiment(services, token, loop)
    assert loop.step() == eid
    services.storage.heartbeat(loop.name)  # still alive after a fit on a busy machine
    ready = services.storage.optimizer_status(eid).ready_candidates
    batch = 2 + LoopSettings().spare_candidates  # parallel_bandwidth 2, plus spares
    assert ready == batch + 2 * POOL.pool_per_worker

    # Far more workers than the experiment planned for ask at once, before any refit.
    with ThreadPoolExecutor(max_workers=8) as workers:
        served = list(workers.map(lambda _: services.suggestions.create(token, eid), range(ready)))
    assert {s.source for s in served} == {SuggestionSource.OPTIMIZER}
    hashes = {point_hash(s.assignments) for s in served}
    assert len(hashes) == len(served)
    observed = {point_hash(o.assignments) for o in services.storage.all_observations(eid)}
    assert not hashes & observed
    # The pool is informed by the model: its points gather nearer the optimum than the
    # initial design did.
    design = sorted(bowl(o.assignments) for o in services.storage.all_observations(eid))
    pool = sorted(bowl(s.assignments) for s in served[batch:])
    assert pool[len(pool) // 2] < design[len(design) // 2]

    # Once the pool is used up, requests fall back to Sobol as before.
    extra = services.suggestions.create(token, eid)
    assert extra.source is SuggestionSource.FALLBACK


def test_the_pool_follows_the_request_rate(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    loop = OptimizerLoop(services.storage, engine_factory, settings=POOL)
    eid = started_experiment(services, token, loop)
    loop.step()
    # Ten workers report and ask again while the next fit is due.
    assert_next_fit_is_paced(services, token, loop, eid, arrivals=10)


def assert_next_fit_is_paced(
    services: Services, token: Token, loop: OptimizerLoop, eid: int, arrivals: int
) -> None:
    """``arrivals`` workers report and ask again, then the loop fits: requests outpaced
    fits, so one optimised candidate keeps the cycle short and the pool holds twice the
    requests of the last cycle."""
    for _ in range(arrivals):
        suggestion = services.suggestions.create(token, eid)
        observe(services, token, eid, suggestion.id)
    assert loop.step() == eid
    status = services.storage.optimizer_status(eid)
    assert status.ready_candidates == 1 + math.ceil(arrivals * POOL.pool_margin)


def test_a_fit_lost_to_the_database_still_paces_the_next(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first fit of a loop cannot store its candidates (the database restarts); the
    workers go on meanwhile. The next fit knows the request rate from the lost one: one
    optimised candidate and a pool for that rate, not a whole batch at leisure."""
    loop = OptimizerLoop(services.storage, engine_factory, settings=POOL)
    eid = started_experiment(services, token, loop)

    def down(*args: object, **kwargs: object) -> None:
        raise ServiceUnavailableError("The database is unavailable, try again shortly")

    with monkeypatch.context() as patched:
        patched.setattr(services.storage, "store_candidates", down)
        patched.setattr(services.storage, "record_optimizer_error", down)
        with pytest.raises(ServiceUnavailableError):
            loop.step()
    assert_next_fit_is_paced(services, token, loop, eid, arrivals=10)


def test_pool_points_are_valid_in_mixed_constrained_spaces() -> None:
    space = SearchSpace(
        (
            unit("x0"),
            unit("x1"),
            Parameter("k", ParameterType.INT, (0, 4)),
            Parameter("c", ParameterType.CATEGORICAL, categorical_values=("a", "b", "c")),
        ),
        linear_constraints=(LinearConstraint("less_than", (("x0", 1.0), ("x1", 1.0)), 1.0),),
    )
    spec = ExperimentSpec("mixed", space, (Metric("f", Objective.MINIMIZE),))
    experiment = Experiment(1, 1, spec, ExperimentState.ACTIVE, 0, 0)
    points = SobolEngine().propose(ProposalRequest(experiment, 0, count=12)).points

    def value(point: Assignments) -> MetricValue:
        shift = {"a": 0.0, "b": 0.5, "c": 1.0}[str(point["c"])]
        return MetricValue("f", float(point["x0"]) + 0.1 * int(point["k"]) + shift)

    observations = [
        Observation(i + 1, experiment.id, None, p, (value(p),), False, None, 0)
        for i, p in enumerate(points)
    ]
    encoding = Encoding.of(space)
    data = training_data(spec, encoding, observations)
    model = fit_models(encoding, list(data.objectives), None)
    taken = {point_hash(p) for p in points}
    pool = thompson_pool(
        model, data, encoding, encoding.encode([]), 40, taken, torch.Generator().manual_seed(0)
    )
    assert len(pool) == 40
    assert len({point_hash(p) for p in pool}) == 40
    assert not {point_hash(p) for p in pool} & {point_hash(p) for p in points}
    for point in pool:
        space.check_assignments(point)  # types, bounds, categories and the constraint
    assert {p["c"] for p in pool} <= {"a", "b", "c"}


def test_a_few_very_bad_values_do_not_set_the_models_scale() -> None:
    spec = ExperimentSpec("tail", SearchSpace((unit("x0"),)), (Metric("f", Objective.MINIMIZE),))
    values = [1.0, 1.2, 0.9, 1.1, 1.3, 0.8, 1.0, 500.0]  # one diverged evaluation
    observations = [
        Observation(i + 1, 1, None, {"x0": i / 10}, (MetricValue("f", v),), False, None, 0)
        for i, v in enumerate(values)
    ]
    outcome = training_data(spec, Encoding.of(spec.space), observations).objectives[0]
    signed = outcome.Y.reshape(-1).tolist()
    # Minimized: signed -f, the good values unchanged, the outlier clipped at Tukey's fence
    # (Q1 - 1.5 IQR of the signed values), still the worst.
    assert signed[:7] == [-v for v in values[:7]]
    assert -1.8 < signed[7] < -1.3
