"""One optimizer, two experiments, one of them slow (multitask: its points are chosen one
after the other, seconds each): the other experiment's requests still get fresh model
points. Real engines, a real multitask experiment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.service.app import Services
from honed.service.optimizer import OptimizerLoop
from honed.storage.sql.storage import SqlStorage
from tests.test_optimizer import STEPPED
from tests.test_optimizer import observe
from tests.test_optimizer import space
from tests.test_optimizer import unit
from tests.test_served_quality import DESIGN
from tests.test_served_quality import bowl
from tests.test_served_quality import bowl_spec

#: Two points of each task (honed.engine.design.POINTS_PER_TASK).
TASK_DESIGN = 6


def slow_spec(workers: int) -> ExperimentSpec:
    return ExperimentSpec(
        "multitask",
        space(unit("x0"), unit("x1")),
        (Metric("f", Objective.MINIMIZE),),
        parallel_bandwidth=workers,
        observation_budget=100,
        tasks=(Task("cheap", 0.1), Task("medium", 0.3), Task("full", 1.0)),
    )


def with_design(services: Services, token: Token, spec: ExperimentSpec, points: int) -> int:
    """The experiment, its initial design handed out and observed (no optimizer yet)."""
    experiment = services.experiments.create(token, spec)
    for _ in range(points):
        observe(services, token, services.suggestions.create(token, experiment.id), bowl)
    return experiment.id


def test_a_slow_experiments_fit_proposes_one_point_while_another_experiments_requests_wait(
    services: Services, token: Token, storage: SqlStorage, engine_factory: Callable[[], Engine]
) -> None:
    """Both experiments' requests wait and neither has a model: the loop fits the older one
    first, and since the other's requests wait behind it, one point rather than its batch
    (a multitask batch takes a point's time per point). Alone, it gets its batch."""
    slow = with_design(services, token, slow_spec(workers=2), TASK_DESIGN)
    fast = with_design(services, token, bowl_spec("fast"), DESIGN)
    storage.request_candidates(slow)  # a request of each waits
    storage.request_candidates(fast)
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    assert loop.step() == slow
    assert storage.ready_candidates(slow) == 1
    assert loop.step() == fast
    storage.request_candidates(slow)  # its other worker: nobody else waits now
    assert loop.step() == slow
    # One per expected worker and two spares (OptimizerLoop.batch_size).
    assert storage.ready_candidates(slow) == 2 + 2


def test_a_slow_batch_ends_after_its_point_when_another_experiments_request_comes_to_wait(
    services: Services, token: Token, storage: SqlStorage, engine_factory: Callable[[], Engine]
) -> None:
    """Nobody else waited when the slow experiment's batch began; a request of the other
    experiment that comes to wait during it ends the batch after the point at hand, and
    the other experiment is fitted next."""
    slow = with_design(services, token, slow_spec(workers=2), TASK_DESIGN)
    fast = with_design(services, token, bowl_spec("fast"), DESIGN)
    storage.request_candidates(slow)
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    storage.heartbeat(loop.name)  # alive, as its run() thread keeps it
    fitting = threading.Thread(target=loop.step)
    fitting.start()
    while not storage.optimizer_status(slow).fitting:
        time.sleep(0.01)
    storage.request_candidates(fast)
    fitting.join()
    assert storage.ready_candidates(slow) == 1
    assert loop.step() == fast


def test_while_another_optimizer_is_free_the_slow_experiment_keeps_its_batch(
    services: Services, token: Token, storage: SqlStorage, engine_factory: Callable[[], Engine]
) -> None:
    """A second live optimizer that fits nothing takes the other experiment's waiting
    requests: no need to shorten this fit."""
    slow = with_design(services, token, slow_spec(workers=2), TASK_DESIGN)
    fast = with_design(services, token, bowl_spec("fast"), DESIGN)
    storage.request_candidates(slow)
    storage.request_candidates(fast)
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    idle = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    storage.heartbeat(loop.name)  # both alive, as their run() threads keep them
    storage.heartbeat(idle.name)
    assert loop.step() == slow
    assert storage.ready_candidates(slow) == 2 + 2
    assert idle.step() == fast
