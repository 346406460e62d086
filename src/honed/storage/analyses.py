"""The store of model analyses: a role of the storage contract of its own, so that the
optimizer writes and the dashboard reads them without touching the rest of it."""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from honed.domain.analysis import ModelAnalysis


class ModelAnalyses(Protocol):
    """Each experiment's newest model analysis (honed.domain.analysis).

    Invariants: an experiment has at most one; storing replaces it whole (a reader sees the
    old one or the new one, never a mix). Missing experiment ids raise NotFoundError.
    """

    @abstractmethod
    def store_model_analysis(self, experiment_id: int, analysis: ModelAnalysis) -> None:
        """Store ``analysis`` as the experiment's, replacing the one stored before.

        Raises: NotFoundError. Locks: write; the experiment's analysis row.
        """

    @abstractmethod
    def model_analysis(self, experiment_id: int) -> ModelAnalysis | None:
        """The stored analysis, or None when none was computed yet.

        Raises: NotFoundError. Locks: read.
        """
