"""One optimizer, two experiments, one of them slow (multitask: its points are chosen one
after the other, seconds each): the other experiment's requests still get fresh model
points. Real engines, a real multitask experiment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.service import optimizer
from honed.service.app import Services
from honed.service.optimizer import LoopSettings
from honed.service.optimizer import OptimizerLoop
from honed.service.suggestions import FIT_WAIT_FACTOR
from honed.service.suggestions import FIT_WAIT_SLACK_SECONDS
from honed.service.suggestions import TURN_GRACE_SECONDS
from honed.service.suggestions import ServingPolicy
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
    first, and since the other's requests wait behind it, a point for each of its waiting
    requests rather than its batch (a multitask batch takes a point's time per point).
    Alone, it gets its batch."""
    slow = with_design(services, token, slow_spec(workers=3), TASK_DESIGN)
    fast = with_design(services, token, bowl_spec("fast"), DESIGN)
    storage.request_candidates(slow, count=2)  # two of its workers wait, one evaluates
    storage.request_candidates(fast)
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    assert loop.step() == slow
    assert storage.ready_candidates(slow) == 2
    assert loop.step() == fast
    storage.request_candidates(slow)  # its other worker: nobody else waits now
    assert loop.step() == slow
    # One per expected worker and two spares (OptimizerLoop.batch_size).
    assert storage.ready_candidates(slow) == 3 + 2


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


def test_a_batch_reads_the_whole_queue_once_while_nothing_changes(
    services: Services,
    token: Token,
    storage: SqlStorage,
    engine_factory: Callable[[], Engine],
    full_reads: list[float],
) -> None:
    """After each point of a batch the loop asks whether other experiments' requests have
    come to wait: with no write since, its queue's version answers, not the whole queue."""
    slow = with_design(services, token, slow_spec(workers=3), TASK_DESIGN)
    with_design(services, token, bowl_spec("fast"), DESIGN)  # due, but nobody waits
    storage.request_candidates(slow)
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    storage.heartbeat(loop.name)
    assert loop.step() == slow
    assert storage.ready_candidates(slow) == 3 + 2  # the whole batch
    # The step's read, and the batch's first question; the other three read the version.
    assert len(full_reads) == 2


def test_a_batch_ends_when_a_waiting_request_comes_due_with_time_alone(
    services: Services,
    token: Token,
    storage: SqlStorage,
    engine_factory: Callable[[], Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other experiment's request waits from the start, but its fit failed just now:
    due only once the back-off ends. It ends during the batch, with no write that moves
    the queue's version: the batch ends after the point at hand all the same."""
    slow = with_design(services, token, slow_spec(workers=3), TASK_DESIGN)
    fast = with_design(services, token, bowl_spec("fast"), DESIGN)
    storage.request_candidates(slow)
    storage.request_candidates(fast)
    storage.record_optimizer_error(fast, "failed just now")
    # No periodic full read within the test: the batch ends for the back-off's end alone.
    watched = replace(STEPPED, full_read_seconds=3600.0)
    loop = OptimizerLoop(storage, engine_factory, settings=watched)
    storage.heartbeat(loop.name)
    real_time, ahead = time.time, [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + ahead[0])
    enough = optimizer._Turn.enough
    asked: list[int] = []

    def back_off_ends_after_the_first_point(turn: optimizer._Turn, chosen: int) -> bool:
        asked.append(chosen)
        if len(asked) == 2:
            ahead[0] = STEPPED.error_backoff_seconds + 1.0
        return enough(turn, chosen)

    monkeypatch.setattr(optimizer._Turn, "enough", back_off_ends_after_the_first_point)
    assert loop.step() == slow
    assert asked == [1, 2]
    assert storage.ready_candidates(slow) == 2
    assert loop.step() == fast


def test_a_waiting_request_outwaits_its_bound_while_the_optimizer_fits_another_experiment(
    services: Services, token: Token, storage: SqlStorage, engine_factory: Callable[[], Engine]
) -> None:
    """The bound made from its own experiment's fits does not count another experiment's
    fit ahead of it: while the only live optimizer holds that one's lease, the request
    waits past its bound, and gets the fresh point of its own fit when its turn comes."""
    slow = with_design(services, token, slow_spec(workers=2), TASK_DESIGN)
    fast = with_design(services, token, bowl_spec("fast"), DESIGN)
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    storage.request_candidates(fast)
    assert loop.step() == fast
    observe(services, token, services.suggestions.create(token, fast), bowl)  # now stale
    storage.heartbeat(loop.name)
    assert storage.claim_experiment(slow, loop.name, 600)  # its fit of the slow one runs
    fit_seconds = storage.optimizer_status(fast).fit_seconds
    assert fit_seconds is not None
    bound = FIT_WAIT_FACTOR * fit_seconds + FIT_WAIT_SLACK_SECONDS
    patient = Services(storage, ServingPolicy(max_wait_seconds=300.0))
    served: list[Suggestion] = []
    request = threading.Thread(
        target=lambda: served.append(patient.suggestions.create(token, fast))
    )
    request.start()
    waited = time.monotonic() + bound + TURN_GRACE_SECONDS + 1.0
    while time.monotonic() < waited:  # heartbeats go on, as from the loop's thread
        storage.heartbeat(loop.name)
        time.sleep(0.5)
    assert not served  # past its bound, it still waits
    assert loop.step() == fast  # its turn
    request.join()
    assert served[0].source is SuggestionSource.OPTIMIZER
    assert served[0].model is not None
    assert (served[0].model.fresh, served[0].model.observations) == (True, DESIGN + 1)


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


def test_a_request_queued_behind_another_experiments_long_fit_waits_for_its_turn(
    services: Services, token: Token, storage: SqlStorage, engine_factory: Callable[[], Engine]
) -> None:
    """The only optimizer is computing a slow experiment's batch when a request of another
    experiment arrives, whose ready point missed its worker's last result. That request's
    own bound (a few of its fits) runs out long before the batch is done; it waits on, since
    the optimizer is busy toward it, and gets the fresh point of its experiment's next fit
    rather than the stale one."""
    slow = with_design(services, token, slow_spec(workers=4), TASK_DESIGN)
    fast = with_design(services, token, bowl_spec("fast"), DESIGN)
    for _ in range(4):  # the slow experiment's four workers evaluate
        services.suggestions.create(token, slow)
    loop = OptimizerLoop(storage, engine_factory, settings=LoopSettings(idle_seconds=0.02))
    storage.heartbeat(loop.name)
    assert storage.claim_experiment(fast, loop.name, 600)
    loop.fit(next(w for w in storage.optimizer_work() if w.experiment.id == fast))
    # Its worker reports: the ready points missed that result.
    observe(services, token, services.suggestions.create(token, fast), bowl)
    stop = threading.Event()
    running = threading.Thread(target=loop.run, args=(stop,))
    running.start()
    try:
        # The slow experiment has no model and four workers pending: it goes first.
        while not storage.optimizer_status(slow).fitting:
            time.sleep(0.01)
        # A service started now sees the optimizer alive at once.
        patient = Services(storage, ServingPolicy(max_wait_seconds=300.0))
        served: Suggestion = patient.suggestions.create(token, fast)
    finally:
        stop.set()
        running.join()
    assert served.source is SuggestionSource.OPTIMIZER
    assert served.model is not None
    assert (served.model.fresh, served.model.unaccounted) == (True, 0)
    assert served.model.observations == DESIGN + 1
