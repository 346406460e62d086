"""An idle optimizer loop is nearly free: it reads its whole queue (``optimizer_work``)
once, then only the queue's version, yet every change gets its fit on the next step, as
when it read the whole queue each step. Real storage, real BoTorch."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.service.app import Services
from honed.service.optimizer import OptimizerLoop
from honed.storage.optimizer import LEASE_OWNER_SILENT_SECONDS
from tests.test_optimizer import STEPPED
from tests.test_optimizer import BrokenEngine
from tests.test_optimizer import observe
from tests.test_optimizer import space
from tests.test_optimizer import unit

#: No periodic full read within a test: a fit on the next step comes from the change.
WATCHED = replace(STEPPED, full_read_seconds=3600.0)
IDLE_STEPS = 10


def linear(assignments: object) -> dict[str, float]:
    return {"f": float(assignments["x0"])}  # type: ignore[index]


def designed(services: Services, token: Token) -> int:
    """An experiment whose initial design is observed: the model proposes from here."""
    spec = ExperimentSpec("idle", space(unit("x0"), unit("x1")), (Metric("f"),))
    experiment = services.experiments.create(token, spec)
    for _ in range(6):
        observe(services, token, services.suggestions.create(token, experiment.id), linear)
    return experiment.id


def idle(loop: OptimizerLoop, reads: list[float]) -> int:
    """Steps of a loop with nothing to fit; how many read the whole queue."""
    before = len(reads)
    for _ in range(IDLE_STEPS):
        assert loop.step() is None
    return len(reads) - before


def at(monkeypatch: pytest.MonkeyPatch, moment: float) -> None:
    monkeypatch.setattr(time, "time", lambda: moment)


def test_an_idle_loop_reads_its_queue_once_and_fits_each_change_on_the_next_step(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    full_reads: list[float],
) -> None:
    eid = designed(services, token)
    loop = OptimizerLoop(services.storage, engine_factory, settings=WATCHED)
    assert loop.step() == eid
    assert idle(loop, full_reads) == 1
    assert idle(loop, full_reads) == 0
    # A new result: fitted on the next step.
    observe(services, token, services.suggestions.create(token, eid), linear)
    assert loop.step() == eid
    assert idle(loop, full_reads) == 1
    # A request that found no candidate it could take: fitted on the next step.
    services.storage.request_candidates(eid)
    assert loop.step() == eid
    assert idle(loop, full_reads) == 1


def test_a_result_is_fitted_on_the_first_step_after_it_settles(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    full_reads: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eid = designed(services, token)
    loop = OptimizerLoop(
        services.storage, engine_factory, settings=replace(WATCHED, settle_seconds=5)
    )
    now = time.time() + 10  # the design's last result has settled
    at(monkeypatch, now)
    assert loop.step() == eid
    observe(services, token, services.suggestions.create(token, eid), linear)
    # Its worker may ask again at once: the fit waits the settle delay for that request.
    assert idle(loop, full_reads) == 1
    at(monkeypatch, now + 4.9)
    assert idle(loop, full_reads) == 0
    at(monkeypatch, now + 5.001)
    assert loop.step() == eid


def test_a_lapsed_lease_is_taken_over_on_the_next_step(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    full_reads: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lease of a process killed mid-fit: its heartbeats stop, and once it has been
    silent for LEASE_OWNER_SILENT_SECONDS another loop fits the experiment at once."""
    eid = designed(services, token)
    storage = services.storage
    other = OptimizerLoop(storage, engine_factory, name="other", settings=WATCHED)
    storage.heartbeat("dead")
    seen = time.time()
    assert storage.claim_experiment(eid, "dead", 600)
    at(monkeypatch, seen + 1)
    assert idle(other, full_reads) == 1
    at(monkeypatch, seen + LEASE_OWNER_SILENT_SECONDS - 1)
    assert idle(other, full_reads) == 0
    at(monkeypatch, seen + LEASE_OWNER_SILENT_SECONDS + 0.01)
    assert other.step() == eid


def test_a_failed_fit_is_retried_on_the_first_step_after_its_back_off(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    full_reads: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eid = designed(services, token)
    engines: list[Callable[[], Engine]] = [engine_factory, BrokenEngine]
    loop = OptimizerLoop(services.storage, lambda: engines.pop()(), settings=WATCHED)
    assert loop.step() == eid
    error_at = services.storage.optimizer_status(eid).error_at
    assert error_at is not None
    backoff = WATCHED.error_backoff_seconds
    at(monkeypatch, error_at + backoff - 1)
    assert idle(loop, full_reads) == 1
    at(monkeypatch, error_at + backoff + 0.01)
    assert loop.step() == eid
    assert services.storage.optimizer_status(eid).error is None


def test_a_loop_reads_its_whole_queue_at_least_every_full_read_seconds(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    full_reads: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write the version cannot see (stamped long before it committed) still gets its
    fit within ``full_read_seconds``."""
    designed(services, token)
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    loop.step()
    now = time.time()
    at(monkeypatch, now)
    assert idle(loop, full_reads) == 1
    at(monkeypatch, now + STEPPED.full_read_seconds - 1)
    assert idle(loop, full_reads) == 0
    at(monkeypatch, now + STEPPED.full_read_seconds)
    assert idle(loop, full_reads) == 1
