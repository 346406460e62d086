"""Suggestion use cases. Creation is serialized per experiment by the store; which point
a suggestion gets is decided under that lock by honed.service.choice. The creates of one
experiment in a process go through its hand-out queue (honed.service.handout): one
transaction serves the requests that arrived while the one before it ran.

Past the initial design a request is served a fresh model point (``choice``): when none is
ready it waits for the fit that is running or due, for ``ServingPolicy.wait_bound``, and on
while the optimizer is busy toward it (its fit runs, or every optimizer fits another
experiment), never past ``max_wait_seconds``; then it takes the newest fit's point even if
stale, and only when the optimizer has none at all (or no optimizer runs) the sequence
engine's (Sobol) point; each with a warning, at most once a minute per experiment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Protocol

from honed.domain.experiment import Experiment
from honed.domain.experiment import Metadata
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.errors import HonedError
from honed.errors import InvalidRequestError
from honed.service import choice
from honed.service.access import check_classic
from honed.service.access import check_live_experiment
from honed.service.access import experiment_for
from honed.service.access import live_experiment_for
from honed.service.handout import HandOutQueue
from honed.service.handout import Queued
from honed.service.notices import Throttle
from honed.service.refreshed import Refreshed
from honed.storage.experiments import ExperimentStore
from honed.storage.optimizer import CandidateBasis
from honed.storage.optimizer import FitMarker
from honed.storage.optimizer import FitTurn
from honed.storage.optimizer import OptimizerSignals
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision
from honed.storage.suggestions import SuggestionStore

logger = logging.getLogger(__name__)

# An optimizer process that sent a heartbeat this recently is alive.
OPTIMIZER_ALIVE_SECONDS = 10.0
OPTIMIZER_CHECK_SECONDS = 2.0
# A waiting request looks for a new fit this often; the requests of one experiment in a
# process share each look (one read per interval, however many wait).
POLL_SECONDS = 0.05
DEFAULT_MAX_WAIT_SECONDS = 60.0
# A request waits up to this many times the experiment's last fit, plus the slack: the fit
# running when it arrives may have read its data before the request's own observation,
# so the fresh point can be the next fit's.
FIT_WAIT_FACTOR = 3.0
FIT_WAIT_SLACK_SECONDS = 2.0
# A request whose bound ran out while no optimizer worked toward it looks once more after
# this long: an optimizer between two fits holds no lease while it reads the queue.
TURN_GRACE_SECONDS = 1.0
# A stale or Sobol point served after the wait is logged at most this often per experiment.
NOTICE_SECONDS = 60.0
STALE_POINT = "the newest model point, which misses some observations"
SOBOL_POINT = "a Sobol point"


class Preference(StrEnum):
    """``quality``: past the design, wait (bounded) for a fresh model point. ``latency``:
    take any ready model point at once, waiting only while the optimizer has none."""

    QUALITY = "quality"
    LATENCY = "latency"


@dataclass(frozen=True)
class ServingPolicy:
    """How suggestion requests trade waiting for the optimizer against latency."""

    #: The longest a request waits for the optimizer (0: never wait).
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    prefer: Preference = Preference.QUALITY
    #: Optimizer processes were started with this service (``honed serve``, an embedded
    #: client): requests wait for them while they start instead of serving Sobol.
    optimizers_expected: bool = False
    #: How long after the service's start an expected optimizer counts as starting; later,
    #: only heartbeats say that one runs (one that died costs no request a wait).
    startup_seconds: float = 120.0

    def wait_bound(self, fit_seconds: float | None) -> float:
        """Seconds a request may wait, from the experiment's last fit duration (None: no fit
        yet, perhaps no optimizer started yet either: the maximum)."""
        if fit_seconds is None:
            return self.max_wait_seconds
        return min(self.max_wait_seconds, FIT_WAIT_FACTOR * fit_seconds + FIT_WAIT_SLACK_SECONDS)


class HandOutObserver(Protocol):
    """Told of every suggestion handed out (operators' metrics), in the request's thread
    or on the server's event loop: it must be cheap and must not touch the database."""

    def handed_out(self, suggestion: Suggestion, waited_seconds: float | None) -> None:
        """``waited_seconds``: how long the request waited for the optimizer; None when it
        did not wait."""


class SuggestionRoles(ExperimentStore, SuggestionStore, OptimizerSignals, Protocol):
    """What suggestion use cases touch: suggestions and the queue, experiments to
    check access, and the optimizer's signals a request waits on."""


#: What a suggestion create's transaction answers a request.
Outcome = Suggestion | choice.CandidatesNeeded


@dataclass(frozen=True)
class FitWait:
    """A step's instruction: wait until the experiment's newest fit is another than
    ``marker``, for at most ``seconds``, then step again. A server watches each
    experiment's marker once for all its waiting requests (``poll``: the cached read,
    which also writes the demand counted meanwhile), so that a request waiting for a fit
    costs nothing until one lands."""

    experiment_id: int
    marker: FitMarker
    seconds: float
    poll: Callable[[int], FitMarker]

    def wait_here(self) -> None:
        """Wait in this thread, polling."""
        deadline = time.monotonic() + self.seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(POLL_SECONDS, left))
            if self.poll(self.experiment_id) != self.marker:
                return


@dataclass(frozen=True)
class Attempt:
    """One request's decision, taken in its hand-out queue's transaction."""

    caller: Token
    metadata: Metadata | None
    assignments: object | None
    #: None for a new request: what the service serves one when the batch is decided
    #: (``SuggestionService.serving``, which may read the database: the transaction's
    #: thread reads it, not the step that queued the request).
    serving: choice.Serving | None
    #: The suggestion of a new training run of an AI experiment.
    for_run: bool
    task: str | None
    #: Told of the experiment as the decision saw it (it renders the suggestion) and of
    #: what the decision served.
    seen: Callable[[Experiment, choice.Serving], None]

    def decide(
        self,
        context: SuggestionContext,
        declined: dict[choice.Serving, choice.CandidatesNeeded],
        serving_new: choice.Serving,
    ) -> SuggestionDecision | choice.CandidatesNeeded:
        """The checks run on the experiment as locked for the decision. ``declined``: what
        the batch's earlier requests found nothing for (``choice.found_nothing``);
        ``serving_new``: what a new request is served."""
        what = "training runs" if self.for_run else "suggestions"
        serving = self.serving if self.serving is not None else serving_new
        experiment = check_live_experiment(self.caller, context.experiment, what)
        self.seen(experiment, serving)
        if not self.for_run:
            check_classic(experiment)
        if self.assignments is not None:
            manual = experiment.spec.space.check_assignments(self.assignments)
            checked = experiment.spec.check_task(self.task)
            return SuggestionDecision(
                NewSuggestion(manual, SuggestionSource.MANUAL, self.metadata, task=checked),
                context.cursor,
            )
        if self.task is not None:
            experiment.spec.check_task(self.task)  # a plain experiment's 400 first
            raise InvalidRequestError(
                "Invalid task: a task goes with the assignments of a manual suggestion; "
                "honed chooses the task of the points it suggests"
            )
        nothing = declined.get(serving)
        if nothing is not None:
            return nothing
        outcome = choice.decide(context, self.metadata, serving)
        if isinstance(outcome, choice.CandidatesNeeded):
            choice.found_nothing(declined, serving, outcome)
        return outcome


class SuggestionRequest:
    """One suggestion create. ``step`` never sleeps: it returns the suggestion, the
    seconds to wait before the next step, or its place in the hand-out queue (step again
    once ``Queued.answer`` is in).

    Past the design it asks for a fresh model point (``Preference.QUALITY``) or any ready
    one (``LATENCY``). While none may be served it tells the optimizer, polls for a newer
    fit (cheap reads), and decides again under the lock only when one was stored. A fit
    that began after the request arrived is as fresh as waiting makes it: its point is
    served even if other workers' results arrived meanwhile. When the wait bound passes,
    or a fit fails meanwhile, it relaxes: the newest fit's point, then the sequence
    engine's.
    """

    def __init__(
        self,
        service: SuggestionService,
        caller: Token,
        experiment_id: int,
        metadata: Metadata | None,
        assignments: object | None,
        for_run: bool,
        max_wait: float | None = None,
        task: str | None = None,
    ) -> None:
        self._service = service
        self._caller = caller
        self._experiment_id = experiment_id
        self._metadata = metadata
        self._assignments = assignments
        self._task = task
        self._for_run = for_run
        self._max_wait = max_wait
        #: The experiment as the last decision saw it (set by ``step``): what renders the
        #: suggestion's task.
        self.experiment: Experiment | None = None
        #: Set by the first decision (``Attempt.serving``), then relaxed by waiting.
        self._serving: choice.Serving | None = None
        self._started = time.monotonic()
        #: Wall-clock arrival, to compare with when a stored fit began (``_began_after``).
        self._arrived = time.time()
        self._deadline: float | None = None
        #: The wait bound from the experiment's last fit, and the most the request waits
        #: in all (``_wait``: the deadline moves while the optimizer works toward it).
        self._bound = 0.0
        self._cap = 0.0
        self._graced = False
        #: The fit marker when this request last found nothing it may take.
        self._marker: FitMarker | None = None
        self._first_error: float | None = None
        #: Counted among the optimizer's waiting requests (``request_candidates``).
        self._counted = False
        #: In the experiment's hand-out queue, waiting for its answer.
        self._queued: Queued[Outcome] | None = None
        #: Why the wait ran out, once it did (``_relax``).
        self._relaxed: str | None = None

    def step(self) -> Suggestion | float | Queued[Outcome] | FitWait:
        service = self._service
        if self._queued is not None:
            queued = self._queued
            if not queued.answer.done():
                return queued
            self._queued = None
            return self._answered(queued.answer.result())
        if self._marker is not None and self._deadline is not None:
            left = self._deadline - time.monotonic()
            if service.poll_fit(self._experiment_id) == self._marker and left > 0:
                return FitWait(self._experiment_id, self._marker, left, service.poll_fit)
        attempt = Attempt(
            self._caller,
            self._metadata,
            self._assignments,
            self._serving,
            self._for_run,
            self._task,
            self._saw,
        )
        self._queued = service.handout.submit(self._experiment_id, attempt, self._arrived)
        return self._queued

    def step_here(self) -> Suggestion | float:
        """``step``, waiting in the hand-out queue or for a fit in this thread (and
        running the queue's transactions here when they fall to this request)."""
        while isinstance(step := self.step(), Queued | FitWait):
            step.wait_here()
        return step

    def _saw(self, experiment: Experiment, serving: choice.Serving) -> None:
        self.experiment = experiment
        self._serving = serving

    def _answered(self, outcome: Outcome) -> Suggestion | float | FitWait:
        service = self._service
        if isinstance(outcome, choice.CandidatesNeeded):
            return self._wait(outcome.basis)
        if service.observer is not None:
            waited = time.monotonic() - self._started if self._deadline is not None else None
            service.observer.handed_out(outcome, waited)
        if self._relaxed is not None:
            self._warn_served(outcome, self._relaxed)
        return outcome

    def _warn_served(self, suggestion: Suggestion, why: str) -> None:
        """The wait ran out (``why``): warn when what it ended in is worse than a fresh
        model point."""
        if suggestion.source is SuggestionSource.FALLBACK:
            self._service.warn(self._experiment_id, why, SOBOL_POINT)
        elif suggestion.model is not None and not suggestion.model.fresh:
            self._service.warn(self._experiment_id, why, STALE_POINT)

    def _wait(self, basis: CandidateBasis) -> float | FitWait:
        marker = basis.marker
        now = time.monotonic()
        if self._deadline is None:
            alive = self._service.optimizer_alive()
            bound = self._service.policy.wait_bound(basis.fit_seconds if alive else None)
            if self._max_wait is not None:
                bound = min(bound, self._max_wait)
            self._deadline = now + bound
            self._bound = bound
            most = self._service.policy.max_wait_seconds
            if self._max_wait is not None:
                most = min(most, self._max_wait)
            self._cap = self._started + most
            self._first_error = marker[1]
            self._service.signal_demand(self._experiment_id)
            self._counted = True
        elif self._marker is not None and marker[0] != self._marker[0]:
            if self._serving is choice.Serving.FRESH and _began_after(basis, self._arrived):
                # This fit read the store after the request arrived: it saw everything the
                # worker reported. The results it missed are other workers', which arrive
                # during every fit: with many workers, waiting for a fit that misses none
                # is a wait of every request until its bound (docs/decisions.md: A waiting
                # request takes the first fit that began after it arrived).
                self._settle_for_model()
                return 0.0
            # A newer fit, and still nothing this request may take: ask for the next one.
            self._service.signal_demand(self._experiment_id)
        failed = marker[1] is not None and marker[1] != self._first_error
        if now >= self._deadline and not failed and now < self._cap:
            self._deadline = min(self._cap, now + self._more_time())
        if now >= self._deadline or failed:
            self._relax(now, failed)
            return 0.0
        self._marker = marker
        return FitWait(self._experiment_id, marker, self._deadline - now, self._service.poll_fit)

    def _more_time(self) -> float:
        """Once the bound from the experiment's own fits ran out: that bound again while
        the optimizer works toward it (its fit runs, or every live optimizer fits another
        experiment ahead of it), since the bound does not count the others' fits in the
        queue (docs/decisions.md: A slow experiment's fit is a short turn while others
        wait). Else TURN_GRACE_SECONDS once: between two fits an optimizer holds no lease
        for a moment, and the next one may be this experiment's."""
        if self._service.fit_turn(self._experiment_id).coming:
            self._graced = False
            return self._bound
        if self._graced:
            return 0.0
        self._graced = True
        return TURN_GRACE_SECONDS

    def _settle_for_model(self) -> None:
        """Serve the newest fit's point from now on (``Serving.MODEL``), having waited
        for one that began after this request arrived. (Storing that fit ended this
        request's count among the waiting.)"""
        self._counted = False
        self._serving = choice.Serving.MODEL
        self._marker = None

    def _relax(self, now: float, failed: bool) -> None:
        waited = now - self._started
        why = "a fit failed" if failed else f"no fresh model point after {waited:.1f}s"
        if self._counted:
            # It stops waiting for a fit: the optimizer should not plan for it any more.
            self._service.signal_demand(self._experiment_id, withdraw=True)
            self._counted = False
        if self._serving is choice.Serving.FRESH:
            self._serving = choice.Serving.MODEL
        else:
            if not self._service.optimizer_alive():
                why = f"no optimizer process alive after {waited:.1f}s"
            self._serving = choice.Serving.ANY
        self._relaxed = why
        # One more decision at once; the bound stays spent, so that finding nothing again
        # relaxes further instead of waiting anew.
        self._marker = None


def _began_after(basis: CandidateBasis, moment: float) -> bool:
    """Whether the newest fit read its data after ``moment`` (wall clock): it was stored
    ``fit_seconds`` after it began."""
    stored = basis.marker[0]
    if stored is None or basis.fit_seconds is None:
        return False
    return stored - basis.fit_seconds >= moment


class SuggestionService:
    def __init__(
        self,
        storage: SuggestionRoles,
        policy: ServingPolicy | None = None,
        observer: HandOutObserver | None = None,
    ) -> None:
        self._storage = storage
        self.policy = policy or ServingPolicy()
        self.observer = observer
        self._started = time.monotonic()
        self._alive: Refreshed[None, bool] = Refreshed(
            lambda _: self._storage.live_optimizers(OPTIMIZER_ALIVE_SECONDS) > 0,
            lambda: OPTIMIZER_CHECK_SECONDS,
        )
        self._markers: Refreshed[int, FitMarker] = Refreshed(
            lambda experiment_id: self._storage.fit_marker(experiment_id), lambda: POLL_SECONDS
        )
        self._turns: Refreshed[int, FitTurn] = Refreshed(
            lambda experiment_id: self._storage.fit_turn(experiment_id, OPTIMIZER_ALIVE_SECONDS),
            lambda: POLL_SECONDS,
        )
        # A suggestion ends the request: the step that reads it needs no database.
        self.handout: HandOutQueue[Attempt, Outcome] = HandOutQueue(
            self._create_batch, settles=lambda outcome: isinstance(outcome, Suggestion)
        )
        #: Experiment id -> waiting requests counted and not yet written (signal_demand).
        self._demand: dict[int, int] = {}
        self._demand_written: dict[int, float] = {}
        self._demand_writing: set[int] = set()
        self._demand_lock = threading.Lock()
        self._notices = Throttle(NOTICE_SECONDS)

    def create(
        self,
        caller: Token,
        experiment_id: int,
        metadata: Metadata | None = None,
        assignments: object | None = None,
        for_run: bool = False,
        max_wait: float | None = None,
        task: str | None = None,
    ) -> Suggestion:
        """Blocks while the request waits for the optimizer (see ``SuggestionRequest``).

        ``for_run``: the suggestion of a new training run of an AI experiment (honed's run
        service); other callers may not create suggestions of AI experiments. ``task``:
        multitask, the task of a manual suggestion (with ``assignments``).
        """
        request = self.request(
            caller, experiment_id, metadata, assignments, for_run, max_wait, task
        )
        while not isinstance(step := request.step_here(), Suggestion):
            time.sleep(step)
        return step

    @property
    def storage(self) -> SuggestionRoles:
        return self._storage

    def request(
        self,
        caller: Token,
        experiment_id: int,
        metadata: Metadata | None = None,
        assignments: object | None = None,
        for_run: bool = False,
        max_wait: float | None = None,
        task: str | None = None,
    ) -> SuggestionRequest:
        """A suggestion create to be stepped by the caller, who sleeps (or awaits) between
        steps: a server's waiting request holds no thread and no database connection.
        ``max_wait``: the caller's own cap on the wait for a fresh model point."""
        return SuggestionRequest(
            self, caller, experiment_id, metadata, assignments, for_run, max_wait, task
        )

    def _create_batch(
        self, experiment_id: int, attempts: list[Attempt]
    ) -> list[Outcome | HonedError]:
        """One transaction for a batch of the hand-out queue, earliest arrival first."""
        declined: dict[choice.Serving, choice.CandidatesNeeded] = {}
        serving_new = self.serving()
        return self._storage.create_suggestions(
            experiment_id,
            [
                partial(attempt.decide, declined=declined, serving_new=serving_new)
                for attempt in attempts
            ],
        )

    def signal_demand(self, experiment_id: int, withdraw: bool = False) -> None:
        """Count a request among the optimizer's waiting ones, or (``withdraw``) no longer.
        Counts are written at most once per POLL_SECONDS per experiment by this process,
        for every request that counted meanwhile (the next waiting request's poll writes
        them): a fit that lands wakes hundreds of waiters, and a write each queued them
        all on the database's lock. A withdrawal cancels a count not yet written, else it
        is written at once (it is rare: a wait bound passed, a fit failed)."""
        with self._demand_lock:
            pending = self._demand.get(experiment_id, 0)
            if not withdraw:
                self._demand[experiment_id] = pending + 1
            elif pending > 0:
                self._demand[experiment_id] = pending - 1
                return
        if withdraw:
            self._storage.request_candidates(experiment_id, withdraw=True)
        else:
            self.flush_demand(experiment_id)

    def flush_demand(self, experiment_id: int) -> None:
        """Write the counts taken since the last write, unless that was within
        POLL_SECONDS or is under way."""
        now = time.monotonic()
        with self._demand_lock:
            count = self._demand.get(experiment_id, 0)
            last = self._demand_written.get(experiment_id, -float("inf"))
            if count <= 0 or experiment_id in self._demand_writing or now - last < POLL_SECONDS:
                return
            del self._demand[experiment_id]
            self._demand_writing.add(experiment_id)
        try:
            self._storage.request_candidates(experiment_id, count=count)
        finally:
            with self._demand_lock:
                self._demand_writing.discard(experiment_id)
                self._demand_written[experiment_id] = time.monotonic()

    def serving(self) -> choice.Serving:
        """What a new request asks for first: by the policy's preference while an
        optimizer runs (``optimizer_running``), else the sequence engine's point."""
        if not self.optimizer_running():
            return choice.Serving.SEQUENCE
        if self.policy.prefer is Preference.LATENCY:
            return choice.Serving.MODEL
        return choice.Serving.FRESH

    def optimizer_running(self) -> bool:
        """An optimizer process sent a heartbeat lately (read at most once per
        OPTIMIZER_CHECK_SECONDS per process), or one was started with this service and may
        still be starting."""
        if self.optimizer_alive():
            return True
        starting = time.monotonic() - self._started < self.policy.startup_seconds
        return self.policy.optimizers_expected and starting

    def optimizer_alive(self) -> bool:
        return self._alive.get(None)

    def warn(self, experiment_id: int, why: str, served: str) -> None:
        """Warn that a request is ``served`` a worse point than a fresh model point
        (``STALE_POINT``: the optimizer does not keep up; ``SOBOL_POINT``: it has none). At
        most once a minute per experiment and kind: with many workers, every request would."""
        held_back = self._notices.due((experiment_id, served))
        if held_back is None:
            return
        also = f" ({held_back} more such requests since the last notice)" if held_back else ""
        logger.warning("experiment %s: %s; serving %s%s", experiment_id, why, served, also)

    def fit_turn(self, experiment_id: int) -> FitTurn:
        """The experiment's place among the live optimizers' fits, read at most once per
        POLL_SECONDS in this process (the requests whose wait runs out together share it)."""
        return self._turns.get(experiment_id)

    def poll_fit(self, experiment_id: int) -> FitMarker:
        """A waiting request's look for a new fit (``fit_marker``), which also writes the
        demand counted since the last write (``flush_demand``)."""
        self.flush_demand(experiment_id)
        return self.fit_marker(experiment_id)

    def fit_marker(self, experiment_id: int) -> FitMarker:
        """The experiment's newest fit marker, read at most once per POLL_SECONDS in this
        process."""
        return self._markers.get(experiment_id)

    def get(
        self, caller: Token, experiment_id: int, suggestion_id: int
    ) -> tuple[Experiment, Suggestion]:
        """The suggestion and its experiment (whose tasks render the suggestion's)."""
        experiment = experiment_for(self._storage, caller, experiment_id)
        self._expire(experiment)
        return experiment, self._storage.get_suggestion(experiment_id, suggestion_id)

    def _expire(self, experiment: Experiment) -> None:
        """With a TTL, reads show expiry at once (suggestion creation also expires)."""
        if experiment.spec.suggestion_ttl_seconds is not None:
            self._storage.expire_suggestions(experiment.id, time.time())

    def list(
        self,
        caller: Token,
        experiment_id: int,
        page: PageRequest,
        open_only: bool = False,
        deleted: bool = False,
        ids: Sequence[int] | None = None,
    ) -> tuple[Experiment, Page[Suggestion]]:
        experiment = experiment_for(self._storage, caller, experiment_id)
        self._expire(experiment)
        return experiment, self._storage.list_suggestions(
            experiment_id, page, open_only, deleted, ids
        )

    def update(
        self,
        caller: Token,
        experiment_id: int,
        suggestion_id: int,
        metadata: Metadata | None = None,
        set_metadata: bool = False,
    ) -> tuple[Experiment, Suggestion]:
        """Any update is also the worker's sign of life: with a suggestion TTL it moves the
        lease of an open suggestion to now + TTL (an expired one stays expired). Returns
        the experiment too (its tasks render the suggestion's)."""
        experiment = experiment_for(self._storage, caller, experiment_id, write=True)
        ttl = experiment.spec.suggestion_ttl_seconds
        if ttl is not None:
            self._expire(experiment)
            return experiment, self._storage.extend_suggestion_lease(
                experiment_id, suggestion_id, time.time() + ttl, metadata, set_metadata
            )
        if not set_metadata:
            return experiment, self._storage.get_suggestion(experiment_id, suggestion_id)
        return experiment, self._storage.update_suggestion_metadata(
            experiment_id, suggestion_id, metadata
        )

    def delete(
        self,
        caller: Token,
        experiment_id: int,
        suggestion_id: int | None = None,
        open_only: bool = False,
    ) -> int:
        experiment_for(self._storage, caller, experiment_id, write=True)
        return self._storage.delete_suggestions(experiment_id, suggestion_id, open_only)

    # --- queued suggestions ---------------------------------------------------------------
    def enqueue(
        self, caller: Token, experiment_id: int, assignments: object, task: str | None = None
    ) -> tuple[Experiment, QueuedSuggestion]:
        """Queue a point; a multitask experiment's needs its ``task``."""
        experiment = live_experiment_for(
            self._storage, caller, experiment_id, "queued suggestions"
        )
        checked = experiment.spec.space.check_assignments(assignments)
        task = experiment.spec.check_task(task)
        return experiment, self._storage.create_queued_suggestion(experiment_id, checked, task)

    def get_queued(
        self, caller: Token, experiment_id: int, queued_id: int
    ) -> tuple[Experiment, QueuedSuggestion]:
        experiment = experiment_for(self._storage, caller, experiment_id)
        return experiment, self._storage.get_queued_suggestion(experiment_id, queued_id)

    def list_queued(
        self, caller: Token, experiment_id: int, page: PageRequest
    ) -> tuple[Experiment, Page[QueuedSuggestion]]:
        experiment = experiment_for(self._storage, caller, experiment_id)
        return experiment, self._storage.list_queued_suggestions(experiment_id, page)

    def delete_queued(self, caller: Token, experiment_id: int, queued_id: int) -> None:
        experiment_for(self._storage, caller, experiment_id, write=True)
        self._storage.delete_queued_suggestion(experiment_id, queued_id)
