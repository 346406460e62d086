"""The Bayesian optimizer through the service, as users get it: candidates computed by the
optimizer loop, handed out by suggestion requests. Small budgets, real BoTorch."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.metrics import Strategy
from honed.domain.parameters import Assignments
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import ObservationInput
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.errors import ServiceUnavailableError
from honed.server.app import create_app
from honed.service.app import Services
from honed.service.optimizer import LoopSettings
from honed.service.optimizer import OptimizerLoop
from honed.service.suggestions import ServingPolicy
from honed.storage.optimizer import LEASE_OWNER_SILENT_SECONDS
from honed.storage.sql.storage import SqlStorage
from tests.conftest import TEST_TOKEN

Objective_ = Callable[[Assignments], dict[str, float] | None]  # None: the evaluation failed

DOUBLE = ParameterType.DOUBLE
# Loops driven step by step: each step fits what is due at once, without waiting for the
# worker's next request after a result (the test is the clock).
STEPPED = LoopSettings(settle_seconds=0.0)


def space(*parameters: Parameter) -> SearchSpace:
    return SearchSpace(parameters=parameters)


def unit(name: str) -> Parameter:
    return Parameter(name, DOUBLE, (0.0, 1.0))


def observe(
    services: Services, token: Token, suggestion: Suggestion, objective: Objective_
) -> None:
    values = objective(suggestion.assignments)
    given = ObservationInput(
        suggestion_id=suggestion.id,
        values=tuple(MetricValue(k, v) for k, v in values.items()) if values else None,
        failed=values is None,
    )
    services.observations.create(token, suggestion.experiment_id, given)


def optimize(
    services: Services,
    token: Token,
    spec: ExperimentSpec,
    objective: Objective_,
    budget: int,
    loop: OptimizerLoop | None,
) -> list[Suggestion]:
    """The worker loop, with the optimizer loop brought up to date before each request."""
    experiment = services.experiments.create(token, spec)
    handed_out = []
    for _ in range(budget):
        if loop is not None:
            loop.step()
            # As OptimizerLoop.run does from a thread, also while a slow fit runs.
            services.storage.heartbeat(loop.name)
        suggestion = services.suggestions.create(token, experiment.id)
        handed_out.append(suggestion)
        observe(services, token, suggestion, objective)
    return handed_out


def sphere(assignments: Assignments) -> dict[str, float]:
    center = {"x0": 0.3, "x1": 0.7, "x2": 0.55}
    return {"f": sum((float(assignments[k]) - c) ** 2 for k, c in center.items())}


def best_value(services: Services, token: Token, experiment_id: int) -> float:
    best = services.experiments.best_assignments(token, experiment_id)
    value = best[0].value_of("f")
    assert value is not None
    return value


def test_optimizer_beats_sobol_on_a_smooth_function(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    spec = ExperimentSpec(
        "sphere", space(unit("x0"), unit("x1"), unit("x2")), (Metric("f", Objective.MINIMIZE),)
    )
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    bo = optimize(services, token, spec, sphere, 18, loop)
    sobol = optimize(services, token, spec, sphere, 18, None)
    sources = [s.source for s in bo]
    assert sources[:5] == [SuggestionSource.ENGINE] * 5  # initial design: at least 5
    assert set(sources[5:]) == {SuggestionSource.OPTIMIZER}
    bo_best = best_value(services, token, bo[0].experiment_id)
    sobol_best = best_value(services, token, sobol[0].experiment_id)
    assert bo_best < sobol_best / 5, (bo_best, sobol_best)


def test_parallel_workers_get_model_points_once_the_design_is_handed_out(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    """Four workers: once the five design points are handed out and two are observed, the
    next worker gets a model point. Waiting for five observations gave each worker beyond
    the design one more quasi-random point."""
    spec = ExperimentSpec(
        "parallel design",
        space(unit("x0"), unit("x1"), unit("x2")),
        (Metric("f", Objective.MINIMIZE),),
        parallel_bandwidth=4,
    )
    experiment = services.experiments.create(token, spec)
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    services.storage.heartbeat(loop.name)

    def next_suggestion() -> Suggestion:
        loop.step()
        services.storage.heartbeat(loop.name)  # still alive after a fit on a busy machine
        return services.suggestions.create(token, experiment.id)

    running = [next_suggestion() for _ in range(4)]
    observe(services, token, running.pop(0), sphere)
    running.append(next_suggestion())  # the fifth design point: one observed
    assert [s.source for s in running] == [SuggestionSource.ENGINE] * 4
    observe(services, token, running.pop(0), sphere)
    assert next_suggestion().source == SuggestionSource.OPTIMIZER  # two observed, three open


def test_candidates_for_parallel_workers_differ_and_avoid_open_points(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    spec = ExperimentSpec(
        "parallel",
        space(unit("x0"), unit("x1"), unit("x2")),
        (Metric("f", Objective.MINIMIZE),),
        parallel_bandwidth=4,
    )
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    services.storage.heartbeat(loop.name)  # alive before the service first asks
    first = optimize(services, token, spec, sphere, 6, None)
    eid = first[0].experiment_id
    held = [services.suggestions.create(token, eid) for _ in range(3)]  # 3 busy workers
    assert loop.step() == eid
    services.storage.heartbeat(loop.name)  # still alive after a fit on a busy machine
    status = services.storage.optimizer_status(eid)
    settings = LoopSettings()
    # Bandwidth 4 plus spares, then the pool for requests that outpace fits.
    pool = 4 * settings.pool_per_worker
    assert status.ready_candidates == 4 + settings.spare_candidates + pool
    assert status.error is None
    more = [services.suggestions.create(token, eid) for _ in range(4)]
    assert {s.source for s in more} == {SuggestionSource.OPTIMIZER}
    points = [point_hash(s.assignments) for s in [*held, *more]]
    assert len(set(points)) == len(points)
    # Joint candidates spread out instead of piling onto the incumbent.
    coordinates = [[float(s.assignments[k]) for k in ("x0", "x1", "x2")] for s in more]
    gaps = [math.dist(a, b) for i, a in enumerate(coordinates) for b in coordinates[i + 1 :]]
    assert min(gaps) > 1e-3


def test_failed_region_is_avoided_and_failed_points_are_not_repeated(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    def fails_left(assignments: Assignments) -> dict[str, float] | None:
        if float(assignments["x0"]) < 0.5:
            return None
        return {"f": float(assignments["x0"]) + float(assignments["x1"])}

    spec = ExperimentSpec("fails", space(unit("x0"), unit("x1")), (Metric("f"),))
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    handed_out = optimize(services, token, spec, fails_left, 20, loop)
    optimizer_points = [s for s in handed_out if s.source is SuggestionSource.OPTIMIZER]
    assert len(optimizer_points) >= 10
    in_failing_region = [s for s in optimizer_points if float(s.assignments["x0"]) < 0.5]
    assert len(in_failing_region) <= len(optimizer_points) // 4
    hashes = [point_hash(s.assignments) for s in handed_out]
    assert len(set(hashes)) == len(hashes)
    assert best_value(services, token, handed_out[0].experiment_id) > 1.7


def test_constraint_metric_finds_the_best_feasible_point(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    def disc(assignments: Assignments) -> dict[str, float]:
        x, y = float(assignments["x0"]), float(assignments["x1"])
        # Maximize x + y inside a disc of radius 0.35 around (0.7, 0.3): optimum 1.495.
        return {"f": x + y, "c": 0.35 - math.hypot(x - 0.7, y - 0.3)}

    spec = ExperimentSpec(
        "constrained",
        space(unit("x0"), unit("x1")),
        (Metric("f"), Metric("c", strategy=Strategy.CONSTRAINT, threshold=0.0)),
        observation_budget=16,
    )
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    bo = optimize(services, token, spec, disc, 16, loop)
    sobol = optimize(services, token, spec, disc, 16, None)
    bo_best = services.experiments.best_assignments(token, bo[0].experiment_id)[0]
    sobol_best = services.experiments.best_assignments(token, sobol[0].experiment_id)[0]
    assert (bo_best.value_of("c") or -1) >= 0
    assert (bo_best.value_of("f") or 0) > max(1.4, sobol_best.value_of("f") or 0)
    # The constraint model keeps the optimizer near the feasible disc.
    late = [round(disc(s.assignments)["c"], 2) for s in bo[6:]]
    assert sum(c > -0.1 for c in late) >= len(late) * 2 // 3, late


@pytest.mark.parametrize("kind", [DOUBLE, ParameterType.INT])
def test_linear_constraints_hold_and_the_optimum_on_their_boundary_is_found(
    services: Services, token: Token, engine_factory: Callable[[], Engine], kind: ParameterType
) -> None:
    """Closest to (0.9, 0.7) with x + y <= 1: (0.6, 0.4) on the boundary, off the centre.
    Integers in 0..10 stand for tenths there: the mixed optimizer searches them value by
    value."""
    scale = 1.0 if kind is DOUBLE else 0.1
    bounds = (0.0, 1.0) if kind is DOUBLE else (0, 10)
    parameters = tuple(Parameter(name, kind, bounds) for name in ("x", "y"))

    def closest(assignments: Assignments) -> dict[str, float]:
        x, y = (scale * float(assignments[name]) for name in ("x", "y"))
        return {"f": -((x - 0.9) ** 2) - (y - 0.7) ** 2}

    limit = LinearConstraint("less_than", (("x", scale), ("y", scale)), 1.0)
    space = SearchSpace(parameters, linear_constraints=(limit,))
    spec = ExperimentSpec("linear", space, (Metric("f"),))
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    bo = optimize(services, token, spec, closest, 14, loop)
    assert services.storage.optimizer_status(bo[0].experiment_id).error is None
    assert {s.source for s in bo[6:]} == {SuggestionSource.OPTIMIZER}
    broken = [dict(s.assignments) for s in bo if not limit.is_satisfied(s.assignments)]
    assert not broken
    sobol = optimize(services, token, spec, closest, 14, None)
    bo_best = best_value(services, token, bo[0].experiment_id)
    sobol_best = best_value(services, token, sobol[0].experiment_id)
    assert bo_best > -0.185, (bo_best, sobol_best)  # the optimum: -0.18
    assert sobol_best < -0.185  # a test the design alone would not pass


def test_int_log_and_categorical_parameters(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    def mixed(assignments: Assignments) -> dict[str, float]:
        x, n, c = assignments["lr"], assignments["layers"], assignments["kind"]
        assert isinstance(n, int)
        assert isinstance(c, str)
        assert 1e-4 <= float(x) <= 1.0
        penalty = 0.0 if c == "b" else 2.0
        return {"f": -((math.log10(float(x)) + 2.0) ** 2) - 0.3 * (n - 7) ** 2 - penalty}

    spec = ExperimentSpec(
        "mixed",
        space(
            Parameter("lr", DOUBLE, (1e-4, 1.0), transformation="log"),
            Parameter("layers", ParameterType.INT, (1, 12)),
            Parameter("kind", ParameterType.CATEGORICAL, categorical_values=("a", "b", "c")),
        ),
        (Metric("f"),),
    )
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    handed_out = optimize(services, token, spec, mixed, 18, loop)
    assert services.storage.optimizer_status(handed_out[0].experiment_id).error is None
    assert {s.source for s in handed_out[6:]} == {SuggestionSource.OPTIMIZER}
    for suggestion in handed_out:  # every point is a valid assignment
        spec.space.check_assignments(dict(suggestion.assignments))
    best = services.experiments.best_assignments(token, handed_out[0].experiment_id)[0]
    assert best.assignments["kind"] == "b"
    assert abs(int(best.assignments["layers"]) - 7) <= 1
    assert (best.value_of("f") or -9) > -0.8


def test_wide_integers_are_searched_as_continuous_and_rounded(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    """An integer with hundreds of values is optimized as a continuous dimension and
    rounded (BoTorch's rule past 20 values), on the continuous optimizer's settings."""
    from honed.engine.botorch.encoding import Encoding
    from honed.engine.botorch.engine import _searched_discrete_dims

    wide = Parameter("units", ParameterType.INT, (1, 1000))
    narrow = Parameter("layers", ParameterType.INT, (1, 12))
    searched = Encoding.of(space(unit("x0"), wide, narrow))
    assert _searched_discrete_dims(searched, None) == [2]

    def peaked(assignments: Assignments) -> dict[str, float]:
        units = assignments["units"]
        assert isinstance(units, int)
        return {"f": -(((units - 700) / 1000) ** 2) - (float(assignments["x0"]) - 0.3) ** 2}

    spec = ExperimentSpec("wide", space(unit("x0"), wide), (Metric("f"),))
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    handed_out = optimize(services, token, spec, peaked, 12, loop)
    assert services.storage.optimizer_status(handed_out[0].experiment_id).error is None
    assert {s.source for s in handed_out[6:]} == {SuggestionSource.OPTIMIZER}
    best = services.experiments.best_assignments(token, handed_out[0].experiment_id)[0]
    assert abs(int(best.assignments["units"]) - 700) <= 100
    assert abs(float(best.assignments["x0"]) - 0.3) <= 0.1


class BrokenEngine(Engine):
    def propose(self, request: object) -> object:  # type: ignore[override]
        raise RuntimeError("model fit diverged")


def test_optimizer_failure_is_recorded_and_sobol_keeps_serving(
    services: Services, token: Token
) -> None:
    spec = ExperimentSpec("broken", space(unit("x0")), (Metric("f"),))
    loop = OptimizerLoop(services.storage, BrokenEngine, settings=STEPPED)
    handed_out = optimize(services, token, spec, lambda a: {"f": float(a["x0"])}, 8, loop)
    eid = handed_out[0].experiment_id
    status = services.storage.optimizer_status(eid)
    assert status.error == "RuntimeError: model fit diverged"
    assert [s.source for s in handed_out[5:]] == [SuggestionSource.FALLBACK] * 3
    # Backed off: the next step does not retry at once.
    assert loop.step() is None
    # Users see it on the experiment (a honed field beside SigOpt's).
    app = create_app(services=services)
    with TestClient(app) as client:
        client.auth = (TEST_TOKEN, "")
        shown = client.get(f"/v1/experiments/{eid}").json()["optimizer"]
    assert shown["error"] == "RuntimeError: model fit diverged"
    assert shown["ready_candidates"] == 0


def test_a_fit_cut_off_by_the_database_is_retried_by_its_own_loop(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fit that can neither store its candidates nor record its error (the database went
    down meanwhile) leaves its lease behind. Its own loop fits again once the database is
    back, instead of waiting out the lease; another loop still keeps off."""
    spec = ExperimentSpec("cut off", space(unit("x0"), unit("x1")), (Metric("f"),))
    handed_out = optimize(services, token, spec, lambda a: {"f": float(a["x0"])}, 6, None)
    eid = handed_out[0].experiment_id
    storage = services.storage
    loop = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    other = OptimizerLoop(storage, engine_factory, settings=STEPPED)
    storage.heartbeat(loop.name)  # alive: its lease keeps `other` off

    def down(*args: object, **kwargs: object) -> None:
        raise ServiceUnavailableError("The database is unavailable, try again shortly")

    with monkeypatch.context() as patched:
        patched.setattr(storage, "store_candidates", down)
        patched.setattr(storage, "record_optimizer_error", down)
        with pytest.raises(ServiceUnavailableError):
            loop.step()
    assert storage.optimizer_status(eid).fitting
    assert other.step() is None
    assert loop.step() == eid
    status = storage.optimizer_status(eid)
    assert status.fitted_at is not None
    assert not status.fitting
    assert status.ready_candidates > 0


def test_the_lease_of_a_silent_or_signed_off_process_is_taken_over(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process killed mid-fit keeps its lease in the database; once its heartbeats stop
    for LEASE_OWNER_SILENT_SECONDS, another process fits the experiment (not only after
    the 10-minute lease). A process that stops cleanly releases its leases at once."""
    spec = ExperimentSpec("taken over", space(unit("x0"), unit("x1")), (Metric("f"),))
    handed_out = optimize(services, token, spec, lambda a: {"f": float(a["x0"])}, 6, None)
    eid = handed_out[0].experiment_id
    storage = services.storage
    dead = OptimizerLoop(storage, engine_factory, name="dead", settings=STEPPED)
    other = OptimizerLoop(storage, engine_factory, name="other", settings=STEPPED)
    storage.heartbeat(dead.name)
    assert storage.claim_experiment(eid, dead.name, 600)
    assert other.step() is None  # a live owner's lease is respected
    assert not storage.claim_experiment(eid, other.name, 600)
    assert storage.optimizer_status(eid).fitting

    later = time.time() + LEASE_OWNER_SILENT_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert not storage.optimizer_status(eid).fitting  # nobody is: its owner is gone
    assert other.step() == eid
    assert storage.optimizer_status(eid).ready_candidates > 0

    storage.heartbeat(other.name)
    assert storage.claim_experiment(eid, other.name, 600)
    assert not storage.claim_experiment(eid, dead.name, 600)
    storage.sign_off(other.name)
    assert not storage.optimizer_status(eid).fitting
    assert storage.live_optimizers(5) == 0
    assert storage.claim_experiment(eid, dead.name, 600)


@pytest.fixture
def running_loop(
    services: Services, engine_factory: Callable[[], Engine]
) -> Iterator[OptimizerLoop]:
    loop = OptimizerLoop(
        services.storage, engine_factory, settings=LoopSettings(idle_seconds=0.02)
    )
    services.storage.heartbeat(loop.name)  # alive before the service first asks
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,))
    thread.start()
    yield loop
    stop.set()
    thread.join()


def test_a_request_waits_for_the_running_optimizer(
    storage: SqlStorage, token: Token, running_loop: OptimizerLoop
) -> None:
    patient = Services(storage, ServingPolicy(max_wait_seconds=60.0))
    spec = ExperimentSpec("waits", space(unit("x0"), unit("x1")), (Metric("f"),))
    experiment = patient.experiments.create(token, spec)
    for _ in range(5):
        suggestion = patient.suggestions.create(token, experiment.id)
        observe(patient, token, suggestion, lambda a: {"f": float(a["x0"])})
    served = patient.suggestions.create(token, experiment.id)
    assert served.source is SuggestionSource.OPTIMIZER


def test_api_process_does_not_import_torch(sqlite_url: str) -> None:
    code = (
        "import sys; from honed.server.app import create_app; "
        "from honed.server.settings import Settings; "
        f"create_app(Settings(database_url={sqlite_url!r})); "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "assert 'botorch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
