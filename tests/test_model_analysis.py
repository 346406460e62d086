"""The model analysis (parameter importance, slices with a band) as the optimizer loop stores
it: real fits, real SQLite storage, computed after the candidates of a fit are stored."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy
import pytest
import scipy.stats
from fastapi.testclient import TestClient

from honed.domain.analysis import MetricAnalysis
from honed.domain.analysis import ModelAnalysis
from honed.domain.analysis import Slice
from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Assignments
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.records import ObservationInput
from honed.domain.records import Suggestion
from honed.domain.tenancy import Token
from honed.engine.base import Engine
from honed.engine.base import ProposalRequest
from honed.engine.botorch.engine import BoTorchEngine
from honed.server.app import create_app
from honed.service.app import Services
from honed.service.optimizer import OptimizerLoop
from tests.conftest import TEST_TOKEN
from tests.test_optimizer import STEPPED
from tests.test_optimizer import observe
from tests.test_optimizer import optimize
from tests.test_optimizer import space
from tests.test_optimizer import unit


def wave(assignments: Assignments) -> dict[str, float]:
    """Depends on x only, with no noise."""
    x = float(assignments["x"])
    return {"f": math.sin(6 * x) + x}


def analysis_of(services: Services, handed_out: list[Suggestion]) -> MetricAnalysis:
    stored = services.storage.model_analysis(handed_out[0].experiment_id)
    assert stored is not None
    assert len(stored.metrics) == 1
    return stored.metrics[0]


def settle(loop: OptimizerLoop) -> None:
    """Fit on the last observation, then idle: an analysis put off because the previous
    one was recent (LoopSettings.analysis_interval_seconds) runs at the idle step."""
    while loop.step() is not None:
        pass


def slice_of(metric: MetricAnalysis, parameter: str) -> Slice:
    return next(s for s in metric.slices if s.parameter == parameter)


def test_the_parameter_that_matters_dominates_and_a_category_counts_once(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    spec = ExperimentSpec(
        "one matters",
        space(
            unit("x"),
            Parameter("lr", ParameterType.DOUBLE, (1e-4, 1.0), transformation="log"),
            Parameter("kind", ParameterType.CATEGORICAL, categorical_values=("a", "b", "c")),
        ),
        (Metric("f", Objective.MAXIMIZE),),
    )
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    handed_out = optimize(services, token, spec, wave, 16, loop)
    settle(loop)
    stored = services.storage.model_analysis(handed_out[0].experiment_id)
    assert stored is not None
    assert stored.observation_count == 16
    metric = analysis_of(services, handed_out)
    shares = {i.parameter: i.share for i in metric.importance}
    assert list(shares) == ["x", "lr", "kind"]  # one entry for the categorical parameter
    assert shares["x"] > 0.8, shares
    assert math.isclose(sum(shares.values()), 1.0)
    # The log parameter's slice spans its bounds evenly in log space.
    lr = slice_of(metric, "lr").values
    assert math.isclose(float(lr[0]), 1e-4)
    assert math.isclose(float(lr[-1]), 1.0)
    assert math.isclose(float(lr[1]) / float(lr[0]), float(lr[-1]) / float(lr[-2]))
    assert slice_of(metric, "kind").values == ("a", "b", "c")


def test_the_slice_of_a_noise_free_function_passes_through_its_observations(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    spec = ExperimentSpec("1-d", space(unit("x")), (Metric("f", Objective.MINIMIZE),))
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    handed_out = optimize(services, token, spec, wave, 12, loop)
    settle(loop)
    band = slice_of(analysis_of(services, handed_out), "x")
    values = numpy.asarray(band.values, dtype=float)
    mean, lower, upper = (numpy.asarray(v) for v in (band.mean, band.lower, band.upper))
    assert numpy.all(lower <= mean)
    assert numpy.all(mean <= upper)
    observed = [float(s.assignments["x"]) for s in handed_out]
    truth = numpy.asarray([wave(s.assignments)["f"] for s in handed_out])
    predicted = numpy.interp(observed, values, mean)
    spread = truth.max() - truth.min()
    assert numpy.abs(predicted - truth).max() < 0.05 * spread, (predicted, truth)
    # Near the observations the band is narrow: the model is sure of what it saw.
    at_observed = numpy.interp(observed, values, upper - lower)
    assert numpy.median(at_observed) < 0.1 * spread


def test_sobol_indices_of_a_known_function() -> None:
    """f = x0 + 2 x1 (+ nothing from x2) on uniform inputs: variances 1/12 and 4/12, so
    first- and total-order indices 0.2, 0.8 and 0."""
    import torch

    from honed.engine.botorch.analysis import sobol_indices

    points = torch.as_tensor(scipy.stats.qmc.Sobol(6, seed=0).random(4096), dtype=torch.float64)
    first, total = sobol_indices(lambda X: X[:, 0] + 2 * X[:, 1], points[:, :3], points[:, 3:])
    assert numpy.allclose(first.numpy(), [0.2, 0.8, 0.0], atol=0.02)
    assert numpy.allclose(total.numpy(), [0.2, 0.8, 0.0], atol=0.02)


def test_the_dashboard_serves_the_stored_analysis_or_says_why_there_is_none(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    spec = ExperimentSpec(
        "served", space(unit("x"), unit("y")), (Metric("f", Objective.MAXIMIZE),)
    )
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    with TestClient(create_app(services=services)) as client:
        client.auth = (TEST_TOKEN, "")
        fresh = services.experiments.create(token, spec)
        waiting = client.get(f"/dashboard/api/experiments/{fresh.id}/model").json()
        assert waiting["status"] == "model_not_ready"
        assert waiting["analysis"] is None
        assert "Model not ready" in waiting["message"]

        handed_out = optimize(services, token, spec, wave, 8, loop)
        path = f"/dashboard/api/experiments/{handed_out[0].experiment_id}/model"
        before = client.get(path).json()
        settle(loop)
        stored = services.storage.model_analysis(handed_out[0].experiment_id)
        assert stored is not None
        response = client.get(path)
        served = response.json()
        assert served["status"] == "ready"
        assert served["version"] != before["version"]
        assert served["analysis"]["observation_count"] == 8
        (metric,) = served["analysis"]["metrics"]
        assert metric["metric"] == "f"
        assert [i["share"] for i in metric["importance"]] == [
            i.share for i in stored.metrics[0].importance
        ]
        unchanged = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert unchanged.status_code == 304


@pytest.mark.parametrize("interval", [0.0, 3600.0])
def test_a_busy_loop_puts_analyses_off_to_its_idle_step(
    services: Services,
    token: Token,
    engine_factory: Callable[[], Engine],
    monkeypatch: pytest.MonkeyPatch,
    interval: float,
) -> None:
    """After the first analysis, a fit within the interval stores none; the loop's next
    idle step stores the one of the newest fit. With no interval each fit stores its own."""
    spec = ExperimentSpec("busy", space(unit("x")), (Metric("f", Objective.MINIMIZE),))
    settings = replace(STEPPED, analysis_interval_seconds=interval)
    loop = OptimizerLoop(services.storage, engine_factory, settings=settings)
    handed_out = optimize(services, token, spec, wave, 8, loop)
    settle(loop)
    stored: list[int] = []
    store = services.storage.store_model_analysis

    def counting(experiment_id: int, analysis: ModelAnalysis) -> None:
        stored.append(analysis.observation_count)
        store(experiment_id, analysis)

    monkeypatch.setattr(services.storage, "store_model_analysis", counting)
    suggestion = services.suggestions.create(token, handed_out[0].experiment_id)
    observe(services, token, suggestion, wave)
    assert loop.step() == suggestion.experiment_id  # the fit on 9 observations
    assert stored == ([9] if interval == 0.0 else [])
    assert loop.step() is None  # idle
    assert stored == [9]


# Multitask: the cheap task sees the full task's wave lower by 1 (so its observations look
# better to a minimizer) and a little flattened.
TASKS = (Task("full", 1.0), Task("cheap", 0.25))


def wave_at(assignments: Assignments, task: str | None) -> dict[str, float]:
    value = wave(assignments)["f"]
    return {"f": value if task == "full" else 0.9 * value - 1.0}


def multitask_spec(name: str) -> ExperimentSpec:
    return ExperimentSpec(
        name,
        space(unit("x"), unit("y")),
        (Metric("f", Objective.MINIMIZE),),
        observation_budget=40,
        tasks=TASKS,
    )


def check_target_task_analysis(
    metric: MetricAnalysis, full: list[tuple[Assignments, float]]
) -> None:
    """x matters and y does not; the slices are based at the best full-task observation and
    pass through the full task's values (in the metric's units), not the cheap task's."""
    shares = {i.parameter: i.share for i in metric.importance}
    assert list(shares) == ["x", "y"]
    assert shares["x"] > 0.8, shares
    best, best_value = min(full, key=lambda p: p[1])
    assert metric.anchor.keys() == best.keys()
    assert all(math.isclose(float(metric.anchor[k]), float(v)) for k, v in best.items())
    band = slice_of(metric, "x")
    values = numpy.asarray(band.values, dtype=float)
    at_best = float(numpy.interp(float(best["x"]), values, numpy.asarray(band.mean)))
    # The cheap task's value there is about 1 lower.
    assert abs(at_best - best_value) < 0.2, (at_best, best_value)


def test_a_multitask_model_is_analysed_at_the_target_task() -> None:
    spec = multitask_spec("multitask analysis")
    design = scipy.stats.qmc.Sobol(2, seed=0).random(16)
    points: list[tuple[Assignments, str]] = [
        ({"x": float(x), "y": float(y)}, ("cheap", "full")[i % 2])
        for i, (x, y) in enumerate(design)
    ]
    observations = [
        Observation(
            i + 1, 3, None, p, (MetricValue("f", wave_at(p, t)["f"]),), False, None, 0, task=t
        )
        for i, (p, t) in enumerate(points)
    ]
    engine = BoTorchEngine(num_restarts=8, raw_samples=256)
    experiment = Experiment(3, 1, spec, ExperimentState.ACTIVE, 0, 0)
    proposal = engine.propose(ProposalRequest(experiment, 16, [], observations, count=1))
    assert proposal.tasks is not None  # the multitask model chose it
    analysis = engine.analyze()
    assert analysis is not None
    assert analysis.observation_count == 16
    (metric,) = analysis.metrics
    full = [(p, wave_at(p, t)["f"]) for p, t in points if t == "full"]
    check_target_task_analysis(metric, full)


def test_the_dashboard_serves_a_multitask_experiments_analysis(
    services: Services, token: Token, engine_factory: Callable[[], Engine]
) -> None:
    """Through the optimizer loop as it runs in ``honed serve``, and the dashboard's API."""
    spec = multitask_spec("served multitask")
    loop = OptimizerLoop(services.storage, engine_factory, settings=STEPPED)
    experiment = services.experiments.create(token, spec)
    full: list[tuple[Assignments, float]] = []
    tasks = []
    for _ in range(12):
        loop.step()
        services.storage.heartbeat(loop.name)
        suggestion = services.suggestions.create(token, experiment.id)
        tasks.append(suggestion.task)
        values = wave_at(suggestion.assignments, suggestion.task)
        if suggestion.task == "full":
            full.append((suggestion.assignments, values["f"]))
        given = ObservationInput(
            suggestion_id=suggestion.id, values=(MetricValue("f", values["f"]),)
        )
        services.observations.create(token, experiment.id, given)
    settle(loop)
    assert set(tasks) == {"full", "cheap"}
    with TestClient(create_app(services=services)) as client:
        client.auth = (TEST_TOKEN, "")
        served = client.get(f"/dashboard/api/experiments/{experiment.id}/model").json()
    assert served["status"] == "ready", served
    assert served["analysis"]["observation_count"] == 12
    stored = services.storage.model_analysis(experiment.id)
    assert stored is not None
    (metric,) = stored.metrics
    check_target_task_analysis(metric, full)


@pytest.mark.parametrize("objective", [Objective.MAXIMIZE, Objective.MINIMIZE])
def test_the_analysis_says_where_the_warped_models_band_is_cut(objective: Objective) -> None:
    """Values that grow exponentially along x, observed on its lower half only: the model
    sees them through a Yeo-Johnson warp whose inverse is clipped to the observed range
    widened by its own width either side. Past the observations the band runs into that
    limit (the better end: the top when maximizing, the bottom when minimizing) and is
    flat there; the analysis gives the limits in the metric's units and the one reached."""
    sign = 1.0 if objective is Objective.MAXIMIZE else -1.0
    spec = ExperimentSpec("skewed", space(unit("x")), (Metric("f", objective),))
    xs = [0.46 * i / 11 for i in range(12)]
    values = [sign * math.exp(12 * x) for x in xs]
    observations = [
        Observation(i + 1, 3, None, {"x": x}, (MetricValue("f", v),), False, None, 0)
        for i, (x, v) in enumerate(zip(xs, values, strict=True))
    ]
    engine = BoTorchEngine(num_restarts=4, raw_samples=128)
    experiment = Experiment(3, 1, spec, ExperimentState.ACTIVE, 0, 0)
    engine.propose(ProposalRequest(experiment, len(observations), [], observations, count=1))
    analysis = engine.analyze()
    assert analysis is not None
    (metric,) = analysis.metrics
    assert metric.clipped == 0  # no bad tail: the fitted range is the observed one
    width = max(values) - min(values)
    assert metric.band_limits == pytest.approx((min(values) - width, max(values) + width))
    assert metric.band_limits is not None
    low, high = metric.band_limits
    band = slice_of(metric, "x")
    if objective is Objective.MAXIMIZE:
        assert metric.band_cut_at == (high,)
        assert max(band.upper) == high
        assert min(band.lower) > low
    else:
        assert metric.band_cut_at == (low,)
        assert min(band.lower) == low
        assert max(band.upper) < high
