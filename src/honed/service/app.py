"""The service facade the transports use."""

from __future__ import annotations

from honed.service.aiexperiments import AiExperimentService
from honed.service.analysis import AnalysisService
from honed.service.experiments import ExperimentService
from honed.service.files import FileLimits
from honed.service.files import RunFileService
from honed.service.observations import ObservationService
from honed.service.operations import OperationsService
from honed.service.projects import ProjectService
from honed.service.runs import TrainingRunService
from honed.service.suggestions import HandOutObserver
from honed.service.suggestions import ServingPolicy
from honed.service.suggestions import SuggestionService
from honed.service.summaries import SummaryService
from honed.service.tags import TagService
from honed.service.tokens import TokenService
from honed.storage.base import Storage
from honed.storage.contents import FileContents


class Services:
    """Every use case of honed over one store. Without ``contents`` (a file store) run files
    answer that this server stores none."""

    def __init__(
        self,
        storage: Storage,
        serving: ServingPolicy | None = None,
        observer: HandOutObserver | None = None,
        contents: FileContents | None = None,
        file_limits: FileLimits | None = None,
    ) -> None:
        self.storage = storage
        self.tokens = TokenService(storage)
        self.experiments = ExperimentService(storage)
        self.suggestions = SuggestionService(storage, serving, observer)
        self.observations = ObservationService(storage)
        self.summaries = SummaryService(storage)
        self.analysis = AnalysisService(storage)
        self.projects = ProjectService(storage)
        self.aiexperiments = AiExperimentService(storage, self.experiments)
        self.runs = TrainingRunService(storage, self.suggestions)
        self.operations = OperationsService(storage)
        self.files = RunFileService(storage, self.runs, contents, file_limits)
        self.tags = TagService(storage, self.runs)

    @property
    def local(self) -> bool:
        """``Connection.local``: the store answers in about a millisecond, so a transport may
        call it on its event loop instead of a thread."""
        return self.storage.local
