"""The whole storage contract: every role over one database (see honed.storage for the
roles and the conventions they share).

The contract's types are re-exported here, so ``from honed.storage.base import X`` keeps
working for every name the roles define.
"""

from __future__ import annotations

from abc import abstractmethod

from honed.storage.analyses import ModelAnalyses
from honed.storage.experiments import ExperimentPatch
from honed.storage.experiments import ExperimentQuery
from honed.storage.experiments import ExperimentStore
from honed.storage.files import NewRunFile
from honed.storage.files import RunFileStore
from honed.storage.observations import IdempotencyKey
from honed.storage.observations import NewObservation
from honed.storage.observations import ObservationOrder
from honed.storage.observations import ObservationPatch
from honed.storage.observations import ObservationStore
from honed.storage.optimizer import LEASE_OWNER_SILENT_SECONDS
from honed.storage.optimizer import LOADED_CANDIDATES
from honed.storage.optimizer import Candidate
from honed.storage.optimizer import CandidateBasis
from honed.storage.optimizer import CandidateSet
from honed.storage.optimizer import FitInputs
from honed.storage.optimizer import FitMarker
from honed.storage.optimizer import OptimizerQueue
from honed.storage.optimizer import OptimizerSignals
from honed.storage.optimizer import OptimizerStatus
from honed.storage.optimizer import OptimizerWork
from honed.storage.optimizer import lease_is_live
from honed.storage.paging import Page
from honed.storage.paging import PageRequest
from honed.storage.paging import SortValue
from honed.storage.projects import ProjectPatch
from honed.storage.projects import ProjectStore
from honed.storage.runs import NewTrainingRun
from honed.storage.runs import RunUpdate
from honed.storage.runs import TrainingRunStore
from honed.storage.suggestions import Declined
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision
from honed.storage.suggestions import SuggestionStore
from honed.storage.tags import TagStore
from honed.storage.tenants import TenantStore

__all__ = [
    "LEASE_OWNER_SILENT_SECONDS",
    "LOADED_CANDIDATES",
    "Candidate",
    "CandidateBasis",
    "CandidateSet",
    "Declined",
    "ExperimentPatch",
    "ExperimentQuery",
    "ExperimentStore",
    "FitInputs",
    "FitMarker",
    "IdempotencyKey",
    "ModelAnalyses",
    "NewObservation",
    "NewRunFile",
    "NewSuggestion",
    "NewTrainingRun",
    "ObservationOrder",
    "ObservationPatch",
    "ObservationStore",
    "OptimizerQueue",
    "OptimizerSignals",
    "OptimizerStatus",
    "OptimizerWork",
    "Page",
    "PageRequest",
    "ProjectPatch",
    "ProjectStore",
    "RunFileStore",
    "RunUpdate",
    "SortValue",
    "Storage",
    "SuggestionContext",
    "SuggestionDecision",
    "SuggestionStore",
    "TagStore",
    "TenantStore",
    "TrainingRunStore",
    "lease_is_live",
]


class Storage(
    TenantStore,
    ExperimentStore,
    SuggestionStore,
    ObservationStore,
    OptimizerQueue,
    OptimizerSignals,
    ProjectStore,
    TrainingRunStore,
    RunFileStore,
    TagStore,
    ModelAnalyses,
):
    """Every role over one database, and its lifecycle. Implementations subclass this;
    services take only the roles they use."""

    #: True when a call needs no network round trip and returns in about a millisecond
    #: unless another writer holds the lock (an embedded database such as SQLite). The
    #: server then runs the worker loop's writes on its event loop instead of a thread.
    local: bool = False

    @abstractmethod
    def ping(self) -> None:
        """Raise ServiceUnavailableError when the database cannot be reached."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and locks; the store is not used afterwards."""
