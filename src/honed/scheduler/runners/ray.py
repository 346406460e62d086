"""RayRunner: each trial a Ray task (extra ``honed[ray]``)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import ray

from honed.scheduler.runners.futures import HandleRunner
from honed.scheduler.runners.results import error_reason
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import TrialSpec


class RayRunner(HandleRunner["ray.ObjectRef[Any]"]):
    """Runs ``fn(assignments)`` as a Ray task per trial.

    Connects with ``ray.init(address=address, **init_kwargs)`` unless Ray is initialised
    already (``address=None`` starts a local Ray; ``"auto"`` or ``"ray://host:10001"`` joins a
    cluster). ``num_cpus``/``num_gpus``/``resources`` are each task's request.
    ``max_concurrent`` bounds the trials in flight (default: the cluster's CPUs divided by
    ``num_cpus``). Tasks end with the driver, so a resumed scheduler deploys the trials of a
    dead one again (their poll is LOST).
    """

    def __init__(
        self,
        fn: Callable[[dict[str, Any]], Any],
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        resources: Mapping[str, float] | None = None,
        max_concurrent: int | None = None,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        if not ray.is_initialized():
            ray.init(address=address, **init_kwargs)
        options: dict[str, Any] = {"num_cpus": num_cpus, "num_gpus": num_gpus}
        if resources:
            options["resources"] = dict(resources)
        self._task = ray.remote(fn).options(**options)
        cpus = ray.cluster_resources().get("CPU", 1)
        self.max_concurrent = max_concurrent or max(int(cpus // max(num_cpus, 1e-9)), 1)

    def _start(self, trial: TrialSpec) -> tuple[Any, Mapping[str, Any]]:
        ref = self._task.remote(dict(trial.assignments))
        return ref, {"object_ref": ref.hex()}

    def _state(self, ref: Any) -> tuple[PollStatus, Any]:
        ready, _ = ray.wait([ref], timeout=0)
        if not ready:
            return PollStatus.RUNNING, None
        try:
            return PollStatus.COMPLETED, ray.get(ref)
        except Exception as error:
            return PollStatus.FAILED, error_reason(error)

    def _cancel(self, ref: Any) -> None:
        ray.cancel(ref, force=True)

    def available_capacity(self) -> int | None:
        return max(self.max_concurrent - len(self._unreported()), 0)

    def wait(self, timeout: float) -> bool:
        refs = self._unreported()
        if not refs:
            return False
        ray.wait(refs, num_returns=1, timeout=timeout)
        return True
