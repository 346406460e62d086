"""The ModelAnalyses role of the storage contract (honed.storage.analyses), test by test; a
part of StorageConformance."""

from __future__ import annotations

import pytest

from honed.domain.analysis import Importance
from honed.domain.analysis import MetricAnalysis
from honed.domain.analysis import ModelAnalysis
from honed.domain.analysis import Slice
from honed.domain.experiment import ExperimentSpec
from honed.domain.metrics import Metric
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.errors import NotFoundError
from honed.storage.base import Storage


def analysis(observations: int) -> ModelAnalysis:
    metric = MetricAnalysis(
        metric="f",
        importance=(Importance("x", 0.9, 0.95, 0.9), Importance("kind", 0.1, 0.12, 0.1)),
        explained=1.0,
        anchor={"x": 0.25, "kind": "b"},
        slices=(
            Slice("x", (0.0, 0.5, 1.0), (1.0, 2.0, 1.5), (0.5, 1.5, 1.0), (1.5, 2.5, 2.0)),
            Slice("kind", ("a", "b"), (1.0, 2.0), (0.0, 1.0), (2.0, 3.0)),
        ),
        clipped_at=0.25,
        clipped=2,
        band_limits=(-1.5, 3.0),
        band_cut_at=(3.0,),
    )
    return ModelAnalysis(observations, 1_700_000_000.5, 0.02, 512, (metric,))


class ModelAnalysesConformance:
    def test_model_analyses_are_stored_replaced_and_read_back(self, storage: Storage) -> None:
        client = storage.create_client("analyses")
        space = SearchSpace(
            (
                Parameter("x", ParameterType.DOUBLE, (0.0, 1.0)),
                Parameter("kind", ParameterType.CATEGORICAL, categorical_values=("a", "b")),
            )
        )
        experiment = storage.create_experiment(
            client.id, ExperimentSpec("a", space, (Metric("f"),))
        )
        assert storage.model_analysis(experiment.id) is None
        storage.store_model_analysis(experiment.id, analysis(7))
        assert storage.model_analysis(experiment.id) == analysis(7)
        storage.store_model_analysis(experiment.id, analysis(9))
        assert storage.model_analysis(experiment.id) == analysis(9)
        with pytest.raises(NotFoundError):
            storage.model_analysis(experiment.id + 1000)
        with pytest.raises(NotFoundError):
            storage.store_model_analysis(experiment.id + 1000, analysis(1))
