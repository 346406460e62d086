"""The whole storage contract: every role over one database and the connection to it (see
honed.storage for the roles and the conventions they share). The types the roles use live
in the roles' modules.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Protocol

from honed.storage.analyses import ModelAnalyses
from honed.storage.experiments import ExperimentStore
from honed.storage.files import RunFileStore
from honed.storage.observations import ObservationStore
from honed.storage.optimizer import OptimizerQueue
from honed.storage.optimizer import OptimizerSignals
from honed.storage.projects import ProjectStore
from honed.storage.runs import TrainingRunStore
from honed.storage.suggestions import SuggestionStore
from honed.storage.tags import TagStore
from honed.storage.tenants import TenantStore


class Connection(Protocol):
    """The store's link to its database: whether calls are local, whether it answers, how
    much of its connection pool is in use, and its end. Part of every ``Storage``; the
    health check and the server's pool metrics take it as a role."""

    #: True when a call needs no network round trip and returns in about a millisecond
    #: unless another writer holds the lock (an embedded database such as SQLite). The
    #: server then runs the worker loop's writes on its event loop instead of a thread.
    local: bool

    @abstractmethod
    def ping(self) -> None:
        """Raise ServiceUnavailableError when the database cannot be reached."""

    @abstractmethod
    def pool_use(self) -> tuple[int, int]:
        """Connections this process has checked out of the store's pools now, and the
        connections the pools keep (0, 0 for a store that keeps no pool).

        Locks: none; it asks the pools, not the database.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections and locks; the store is not used afterwards."""


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
    Connection,
):
    """Every role over one database, and its connection. Implementations subclass this;
    services take only the roles they use."""

    #: A network database unless an implementation says otherwise.
    local: bool = False
