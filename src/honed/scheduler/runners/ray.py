"""RayRunner: each trial a named, detached Ray actor (extra ``honed[ray]``)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import ray
from ray.exceptions import RayError

from honed.scheduler.progress import Value
from honed.scheduler.progress import reporting
from honed.scheduler.runner import Runner
from honed.scheduler.runners.results import error_reason
from honed.scheduler.runners.results import tail
from honed.scheduler.runners.results import to_values
from honed.scheduler.runners.trial_function import TrialFunction
from honed.scheduler.trial import Poll
from honed.scheduler.trial import PollStatus
from honed.scheduler.trial import TrialSpec

NAMESPACE = "honed"
# How long a poll waits for the actors' answers (an actor still being placed does not
# answer; its trial is reported RUNNING meanwhile).
ANSWER_SECONDS = 2.0
NAME_RELEASE_SECONDS = 10.0

Outcome = tuple[str, Any] | None


class TrialActor:
    """Runs one trial in a thread and keeps its outcome: ``("values", v)``, ``("error",
    reason)``, or None while it runs, and the values it reported, by step. The call starts
    in the constructor, which the cluster (not the driver) owns for a detached actor, so it
    goes on without the driver."""

    def __init__(self, fn: TrialFunction, assignments: dict[str, Any], task: str | None):
        self._hostname = socket.gethostname()  # the node the cluster placed the trial on
        self._outcome: Outcome = None
        self._progress: dict[float, Value] = {}
        self._done = threading.Event()
        threading.Thread(target=self._call, args=(fn, assignments, task), daemon=True).start()

    def _call(self, fn: TrialFunction, assignments: dict[str, Any], task: str | None) -> None:
        try:
            with reporting(self._report):
                self._outcome = ("values", to_values(fn(assignments, task)))
        except BaseException as error:
            self._outcome = ("error", error_reason(error))
        self._done.set()

    def _report(self, step: float, value: Value) -> None:
        self._progress[step] = value

    def state(self) -> tuple[Outcome, dict[float, Value], str]:
        return self._outcome, dict(self._progress), self._hostname

    def result(self) -> Outcome:
        self._done.wait()
        return self._outcome


class RayRunner(Runner):
    """Runs ``fn(assignments)`` per trial in a Ray actor named after the trial's key
    (``honed-trial-<key>`` in namespace ``honed``), detached from the driver;
    ``fn(assignments, task=...)`` if ``fn`` declares a parameter ``task`` (the trial's task
    in a multitask experiment, else None; see ``honed.scheduler.runners.trial_function``).
    ``fn`` may call ``honed.scheduler.report(step, value)``; the actor keeps the curve and
    hands it to any driver that polls it.

    Connects with ``ray.init(address=address, **init_kwargs)`` unless Ray is initialised
    already (``address=None`` starts a local Ray; ``"auto"``, ``"host:6379"`` or
    ``"ray://host:10001"`` joins a cluster). ``num_cpus``/``num_gpus``/``resources`` are each
    trial's request, held until its result is fetched. ``max_concurrent`` bounds the trials
    in flight (default: the cluster's CPUs divided by ``num_cpus``).

    On a cluster that outlives the scheduler, trials survive it: a runner in a new driver
    finds each trial's actor by name, polls and fetches it, and ``run`` adopts an actor
    that exists instead of starting the trial twice. An actor is killed once its trial has
    failed or been fetched, on the runner's next call (by then the scheduler has stored the
    outcome), or by ``stop``. A local Ray started by the scheduler's own process ends with
    that process, and its trials with it: a resumed scheduler finds no actor, the poll says
    LOST, and the trial is deployed again.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        resources: Mapping[str, float] | None = None,
        max_concurrent: int | None = None,
        **init_kwargs: Any,
    ) -> None:
        if not ray.is_initialized():
            ray.init(address=address, **init_kwargs)
        self.fn = fn
        self._call = TrialFunction.of(fn)
        self._options: dict[str, Any] = {
            "namespace": NAMESPACE,
            "lifetime": "detached",
            "get_if_exists": True,
            "num_cpus": num_cpus,
            "num_gpus": num_gpus,
            # state() and result() answer while the trial's thread runs.
            "max_concurrency": 4,
            "max_restarts": 0,
        }
        if resources:
            self._options["resources"] = dict(resources)
        self._actor_class = ray.remote(TrialActor)
        cpus = ray.cluster_resources().get("CPU", 1)
        self.max_concurrent = max_concurrent or max(int(cpus // max(num_cpus, 1e-9)), 1)
        self._actors: dict[str, Any] = {}  # trial key -> handle, trials not yet reported
        self._asked: dict[str, Any] = {}  # trial key -> a state() answer not yet arrived
        self._finished: dict[str, Any] = {}  # trial key -> its result() answer
        self._values: dict[str, Any] = {}
        self._release: list[Any] = []  # actors whose outcome the scheduler has now

    def run(self, trial: TrialSpec) -> Mapping[str, Any]:
        self._kill_released()
        name = actor_name(trial.key)
        # get_if_exists: an actor launched for this trial before a crash is adopted.
        actor = self._actor_class.options(name=name, **self._options).remote(
            self._call, dict(trial.assignments), trial.task
        )
        self._track(trial.key, actor)
        return {"actor": name, "namespace": NAMESPACE}

    def poll(self, trials: Sequence[TrialSpec]) -> Mapping[str, Poll]:
        self._kill_released()
        polls: dict[str, Poll] = {}
        asking: dict[str, TrialSpec] = {}
        new: dict[str, Any] = {}
        for trial in trials:
            actor = self._actor(trial)
            if actor is None:
                polls[trial.id] = Poll(PollStatus.LOST)
                continue
            if trial.key not in self._asked:
                self._asked[trial.key] = new[trial.key] = actor.state.remote()
            asking[trial.key] = trial
        # A live actor answers within milliseconds; one still waiting for resources does
        # not, and is not waited for again on later polls.
        answered = set()
        if new:
            refs = list(new.values())
            answered |= set(ray.wait(refs, num_returns=len(refs), timeout=ANSWER_SECONDS)[0])
        old = [self._asked[key] for key in asking if key not in new]
        if old:
            answered |= set(ray.wait(old, num_returns=len(old), timeout=0)[0])
        for key, trial in asking.items():
            ref = self._asked[key]
            if ref not in answered:
                polls[trial.id] = Poll(PollStatus.RUNNING)  # the actor is still starting
                continue
            del self._asked[key]
            polls[trial.id] = self._judge(trial, ref)
        return polls

    def _judge(self, trial: TrialSpec, ref: Any) -> Poll:
        try:
            outcome, progress, hostname = ray.get(ref)
        except RayError as error:
            self._forget(trial.key)
            return Poll(PollStatus.FAILED, f"the trial's Ray actor died: {tail(str(error))}")
        if outcome is None:
            return Poll(PollStatus.RUNNING, progress=progress or None, hostname=hostname)
        kind, detail = outcome
        actor = self._forget(trial.key)
        if kind == "values":
            self._values[trial.key] = detail
            self._actors[trial.key] = actor  # released once fetched
            return Poll(PollStatus.COMPLETED, progress=progress or None, hostname=hostname)
        self._release.append(actor)
        return Poll(PollStatus.FAILED, str(detail), progress or None, hostname)

    def fetch(self, trial: TrialSpec) -> Mapping[str, float] | float:
        if trial.key not in self._values:
            raise KeyError(f"trial {trial.id} has not been polled COMPLETED by this runner")
        values: Mapping[str, float] | float = self._values.pop(trial.key)
        actor = self._actors.pop(trial.key, None)
        if actor is not None:
            self._release.append(actor)
        return values

    def stop(self, trial: TrialSpec, reason: str) -> None:
        actor = self._forget(trial.key) or _lookup(trial.key)
        self._values.pop(trial.key, None)
        if actor is None:
            return
        _kill(actor)
        # The name is freed shortly after; a trial deployed again (after Ctrl-C) must get
        # a new actor, not the dying one.
        deadline = time.monotonic() + NAME_RELEASE_SECONDS
        while _lookup(trial.key) is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    def available_capacity(self) -> int | None:
        return max(self.max_concurrent - len(self._actors), 0)

    def wait(self, timeout: float) -> bool:
        refs = list(self._finished.values())
        if not refs:
            return False
        ray.wait(refs, num_returns=1, timeout=timeout)
        return True

    def close(self) -> None:
        """Kill the actors whose outcome the scheduler has; running trials go on."""
        self._kill_released()

    # --- bookkeeping ----------------------------------------------------------------------
    def _actor(self, trial: TrialSpec) -> Any:
        """The trial's actor: known here, or found by name (started by another driver)."""
        actor = self._actors.get(trial.key)
        if actor is None and trial.metadata.get("actor"):
            actor = _lookup(trial.key)
            if actor is not None:
                self._track(trial.key, actor)
        return actor

    def _track(self, key: str, actor: Any) -> None:
        self._actors[key] = actor
        self._finished[key] = actor.result.remote()

    def _forget(self, key: str) -> Any:
        self._asked.pop(key, None)
        self._finished.pop(key, None)
        return self._actors.pop(key, None)

    def _kill_released(self) -> None:
        released, self._release = self._release, []
        for actor in released:
            _kill(actor)


def actor_name(key: str) -> str:
    return f"honed-trial-{key}"


def _lookup(key: str) -> Any:
    try:
        return ray.get_actor(actor_name(key), namespace=NAMESPACE)
    except ValueError:
        return None


def _kill(actor: Any) -> None:
    with contextlib.suppress(RayError, ValueError):  # it may have ended already
        ray.kill(actor, no_restart=True)
