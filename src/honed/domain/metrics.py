"""Metrics an experiment records, and how they rank observations."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Objective(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class Strategy(StrEnum):
    OPTIMIZE = "optimize"
    CONSTRAINT = "constraint"
    STORE = "store"


@dataclass(frozen=True)
class Metric:
    """A named outcome. ``name`` is None only for the single unnamed metric of an experiment."""

    name: str | None
    objective: Objective = Objective.MAXIMIZE
    strategy: Strategy = Strategy.OPTIMIZE
    threshold: float | None = None

    def sign(self) -> float:
        """+1 when larger is better, -1 when smaller is better."""
        return 1.0 if self.objective is Objective.MAXIMIZE else -1.0

    def satisfies_threshold(self, value: float) -> bool:
        if self.threshold is None:
            return True
        if self.objective is Objective.MAXIMIZE:
            return value >= self.threshold
        return value <= self.threshold
