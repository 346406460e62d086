"""A base for runners whose trials are in-memory handles (processes, Ray refs, Dask
futures): those die with the scheduler, so a trial they do not know is LOST and gets
deployed again by a resumed scheduler, which is the right thing since it is not running."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Generic
from typing import TypeVar

from honed.scheduler.runner import Runner
from honed.scheduler.runners.results import to_values
from honed.scheduler.trial import Poll
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import TrialSpec

H = TypeVar("H")


class HandleRunner(Runner, Generic[H]):
    """Subclasses start a handle, say whether it is done, and read its result."""

    def __init__(self) -> None:
        self._handles: dict[str, H] = {}
        self._reported: set[str] = set()
        self._results: dict[str, Any] = {}

    @abstractmethod
    def _start(self, trial: TrialSpec) -> tuple[H, Mapping[str, Any]]: ...

    @abstractmethod
    def _state(self, handle: H) -> tuple[PollStatus, Any]:
        """RUNNING with None, COMPLETED with the result, or FAILED with a reason."""

    @abstractmethod
    def _cancel(self, handle: H) -> None: ...

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        handle, metadata = self._start(trial)
        self._handles[trial.id] = handle
        self._reported.discard(trial.id)
        return metadata

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        polls = {}
        for trial in trials:
            handle = self._handles.get(trial.id)
            if handle is None:
                polls[trial.id] = Poll(PollStatus.LOST)
                continue
            status, detail = self._state(handle)
            if status is PollStatus.COMPLETED:
                self._results[trial.id] = detail
            if status is not PollStatus.RUNNING:
                self._reported.add(trial.id)
            if status is PollStatus.FAILED:
                self._handles.pop(trial.id, None)
            reason = detail if status is PollStatus.FAILED else None
            polls[trial.id] = Poll(status, reason)
        return polls

    def fetch(self, trial: TrialSpec) -> Mapping[str, float] | float:
        if trial.id not in self._results:
            raise KeyError(f"no result for trial {trial.id} in this process")
        result = self._results.pop(trial.id)
        self._handles.pop(trial.id, None)
        return to_values(result)

    def stop(self, trial: TrialSpec, reason: str) -> None:
        handle = self._handles.pop(trial.id, None)
        self._reported.add(trial.id)
        if handle is not None:
            self._cancel(handle)

    def _unreported(self) -> list[H]:
        return [h for tid, h in self._handles.items() if tid not in self._reported]
