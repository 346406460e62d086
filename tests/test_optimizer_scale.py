"""Large experiments stay bounded: 5,000 observations or 50 parameters still get model
candidates from one optimizer fit in bounded memory, on a bounded training set, and a
suggestion request never reads all observations while candidates are ready.

The fit runs as `honed optimizer` runs it (OptimizerLoop + BoTorchEngine, one torch
thread) in a process of its own, so its peak RSS is its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.records import ObservationInput
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.engine.botorch.data import MAX_TRAINING_POINTS
from honed.engine.botorch.data import Outcome
from honed.engine.botorch.encoding import DTYPE
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.model import FIT_POINTS
from honed.engine.botorch.model import WarmStart
from honed.engine.botorch.model import fit_outcome
from honed.engine.botorch.model import representative_rows
from honed.service.app import Services
from honed.service.observations import MAX_BATCH
from honed.storage.sql import hot

ROOT = Path(__file__).resolve().parent.parent
# Torch and BoTorch alone take ~0.5 GB; Ax ran out of 16 GB near 3,000 trials.
PEAK_RSS_LIMIT_MB = 2048


def experiment_with(services: Services, token: Token, dimensions: int, observations: int) -> int:
    """An experiment minimizing a smooth function, its observations stored in batches."""
    parameters = tuple(
        Parameter(f"x{i}", ParameterType.DOUBLE, (0.0, 1.0)) for i in range(dimensions)
    )
    spec = ExperimentSpec(
        f"d{dimensions}-n{observations}",
        SearchSpace(parameters=parameters),
        (Metric("f", Objective.MINIMIZE),),
    )
    experiment = services.experiments.create(token, spec)
    rng = np.random.default_rng(dimensions)
    points = rng.random((observations, dimensions))
    values = ((points - 0.3) ** 2).sum(axis=1) + 0.1 * np.sin(8 * points[:, 0])
    given = [
        ObservationInput(
            assignments={f"x{i}": float(v) for i, v in enumerate(point)},
            values=(MetricValue("f", float(value)),),
        )
        for point, value in zip(points, values, strict=True)
    ]
    for start in range(0, observations, MAX_BATCH):
        services.observations.create_batch(token, experiment.id, given[start : start + MAX_BATCH])
    return experiment.id


def fit_in_own_process(sqlite_url: str, experiment_id: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.optimizer_fit", sqlite_url, str(experiment_id)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    print(result)  # the figures, for `pytest -s`
    return result


def check_fit(
    services: Services, experiment_id: int, result: dict[str, Any], observations: int
) -> None:
    assert result["experiment"] == experiment_id
    assert result["error"] is None
    assert 0 < result["training_points"] <= MAX_TRAINING_POINTS
    assert result["rss_peak_mb"] < PEAK_RSS_LIMIT_MB
    status = services.storage.optimizer_status(experiment_id)
    assert status.fitted_count == observations
    assert status.ready_candidates >= 1


def test_five_thousand_observations(
    services: Services,
    token: Token,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    experiment_id = experiment_with(services, token, dimensions=6, observations=5000)
    result = fit_in_own_process(sqlite_url, experiment_id)
    check_fit(services, experiment_id, result, 5000)
    assert result["training_points"] < 5000

    # A request with candidates ready reads them, not the experiment's observations.
    loads: list[int] = []
    real: Callable[..., list[Observation]] = hot.all_observations

    def counted(*args: Any) -> list[Observation]:
        loads.append(1)
        return real(*args)

    monkeypatch.setattr(hot, "all_observations", counted)
    services.storage.heartbeat("scale-test-optimizer")  # an optimizer process is alive
    suggestion = services.suggestions.create(token, experiment_id)
    assert suggestion.source is SuggestionSource.OPTIMIZER
    assert loads == []
    # The spy does count: the optimizer's own read goes through it.
    services.storage.all_observations(experiment_id)
    assert loads == [1]


def test_fifty_parameters(services: Services, token: Token, sqlite_url: str) -> None:
    experiment_id = experiment_with(services, token, dimensions=50, observations=300)
    result = fit_in_own_process(sqlite_url, experiment_id)
    check_fit(services, experiment_id, result, 300)


def test_refits_follow_the_observations_not_the_capped_training_set() -> None:
    """Past the subset cap the model's rows stop growing; the hyperparameters must still be
    refitted as observations accumulate (every REFIT_GROWTH share)."""
    space = SearchSpace(parameters=(Parameter("x", ParameterType.DOUBLE, (0.0, 1.0)),))
    X = torch.linspace(0, 1, 40, dtype=DTYPE).reshape(-1, 1)
    Y = torch.sin(6 * X)

    def outcome(observed: int) -> Outcome:
        return Outcome("f", X, Y, None, observed=observed)

    warm: WarmStart = {}
    encoding = Encoding.of(space)
    fit_outcome(encoding, outcome(1000), warm)
    first = warm["f"]
    assert first.observations == 1000
    fit_outcome(encoding, outcome(1050), warm)
    assert warm["f"] is first  # conditioned only
    fit_outcome(encoding, outcome(1200), warm)
    assert warm["f"] is not first
    assert warm["f"].observations == 1200


def test_few_observations_refit_on_each_new_one() -> None:
    """Up to REFIT_EVERY_UP_TO observations every new one refits the hyperparameters (a
    skipped refit cost the model much of its likelihood); the same data does not."""
    space = SearchSpace(parameters=(Parameter("x", ParameterType.DOUBLE, (0.0, 1.0)),))
    X = torch.linspace(0, 1, 12, dtype=DTYPE).reshape(-1, 1)
    warm: WarmStart = {}
    encoding = Encoding.of(space)
    fit_outcome(encoding, Outcome("f", X[:11], torch.sin(6 * X[:11]), None, observed=11), warm)
    first = warm["f"]
    fit_outcome(encoding, Outcome("f", X[:11], torch.sin(6 * X[:11]), None, observed=11), warm)
    assert warm["f"] is first  # nothing new: conditioned only
    fit_outcome(encoding, Outcome("f", X, torch.sin(6 * X), None, observed=12), warm)
    assert warm["f"] is not first
    assert warm["f"].observations == 12


def test_representative_rows_keep_the_best_and_a_spread() -> None:
    Y = torch.arange(1000, dtype=DTYPE).reshape(-1, 1).flip(0)  # row 0 is the best
    rows = representative_rows(Y, FIT_POINTS)
    assert len(rows) == FIT_POINTS == len(set(rows.tolist()))
    assert rows.tolist() == sorted(rows.tolist())
    assert set(range(FIT_POINTS // 4)) <= set(rows.tolist())
    assert rows[-1] == 999  # the spread reaches the end
