"""Which engine serves an experiment."""

from __future__ import annotations

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentType
from honed.engine.base import Engine
from honed.engine.grid import GridEngine
from honed.engine.random import RandomEngine
from honed.engine.sobol import SobolEngine


def engine_for(experiment: Experiment) -> Engine:
    """Development experiments and ``type: random`` get random points, as in SigOpt."""
    if experiment.spec.type is ExperimentType.GRID:
        return GridEngine()
    if experiment.spec.type is ExperimentType.RANDOM or experiment.spec.development:
        return RandomEngine()
    return SobolEngine()
