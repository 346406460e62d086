"""The optimizer loop: fit models off the request path and keep candidates ready.

Run by ``honed optimizer`` processes (``honed serve`` starts them), never in an API
process: the engine comes from a factory (``honed.engine.botorch.factory``) whose first
call imports torch, made once the loop already sends heartbeats. Any number of loops may
share a database; a lease per experiment keeps two from fitting the same one at once.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from typing import Protocol

from honed.engine.base import Engine
from honed.engine.base import ProposalRequest
from honed.engine.design import model_ready
from honed.engine.tasks import proposal_tasks
from honed.service.choice import uses_optimizer
from honed.service.queue_watch import QueueWatch
from honed.service.suggestions import OPTIMIZER_ALIVE_SECONDS
from honed.storage.analyses import ModelAnalyses
from honed.storage.optimizer import LEASE_OWNER_SILENT_SECONDS
from honed.storage.optimizer import CandidateSet
from honed.storage.optimizer import FitInputs
from honed.storage.optimizer import OptimizerQueue
from honed.storage.optimizer import OptimizerSignals
from honed.storage.optimizer import OptimizerWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoopSettings:
    lease_seconds: float = 600.0
    error_backoff_seconds: float = 30.0
    #: Most candidates computed in one fit (jointly, with open suggestions pending).
    max_batch: int = 8
    #: Candidates beyond the expected workers, so that a request arriving while the next
    #: fit runs still gets a model-chosen point (computed with the others as pending).
    spare_candidates: int = 2
    #: Thompson-sampled candidates after the batch, for requests that arrive faster than
    #: fits: ``pool_margin`` times the observations that arrived during the last fit cycle,
    #: at least ``pool_per_worker`` per expected worker (before any rate is known, each
    #: worker may come back many times during one fit; a pool point is served only when
    #: nothing fresher is ready, and its cost is nearly flat in its size), at most
    #: ``max_pool``.
    pool_per_worker: int = 32
    max_pool: int = 512
    pool_margin: float = 2.0
    idle_seconds: float = 0.1
    #: How long after a result a fit waits for its worker's next request (see needs_fit).
    #: docs/decisions.md: The loop computes the next point while a worker evaluates
    #: (settle after a result).
    settle_seconds: float = 0.25
    heartbeat_seconds: float = 2.0
    #: A model analysis (the dashboard's importance and slices) runs right after a fit at
    #: most this often per experiment; otherwise it waits for the loop's next idle step, so
    #: a busy loop spends little of its time on it and a fit never waits behind it twice in
    #: a row (docs/decisions.md: Parameter importance from Sobol indices of the model's
    #: mean, computed in the optimizer).
    analysis_interval_seconds: float = 30.0
    #: An idle loop reads its whole queue only when the queue's version moved or a fit may
    #: have come due with time, and at least this often (see QueueWatch) ...
    full_read_seconds: float = 30.0
    #: ... and a write stamped this long before it committed still moves the version.
    late_write_seconds: float = 10.0


def fit_due(work: OptimizerWork, now: float, settings: LoopSettings, name: str = "") -> bool:
    """Whether the optimizer loop called ``name`` would fit the experiment now. With no
    name, whether it waits for a fit that no live process has begun: queued, as operators
    see it."""
    spec = work.experiment.spec
    if not uses_optimizer(work.experiment):
        return False
    if not model_ready(spec, work.success_count, work.open_count):
        return False
    # Another live process is fitting it. A lease of this loop's own is stale: a fit
    # that failed while the database was down could not release it.
    if work.leased_by_other(name, now):
        return False
    if work.error_at is not None and now - work.error_at < settings.error_backoff_seconds:
        return False
    changed = (
        work.latest_modified != work.fitted_modified or work.observation_count != work.fitted_count
    )
    # A suggestion handed out after the last fit read its data: compute the next
    # candidates now, while its worker evaluates, with it as a pending point, so that
    # they are fresh when its result arrives.
    uncovered = work.latest_open_id is not None and work.latest_open_id > (
        work.fitted_suggestion_id or 0
    )
    if uncovered or work.waiting > 0:
        return True
    # A result just came in and nobody waits: its worker usually asks again within
    # milliseconds, takes a candidate fitted with its point pending, and the next fit
    # should have the new point pending too. One fit then serves the worker's next
    # report, where fitting at once would need a second fit before it.
    just_now = 0.0 <= now - (work.latest_modified or 0.0) < settings.settle_seconds
    return changed and not just_now


def due_later(work: OptimizerWork, now: float, settings: LoopSettings) -> float | None:
    """The earliest time from ``now`` at which ``fit_due`` may turn true with time alone,
    no write needed: another process's lease ends (its term, or its owner falls silent),
    the error back-off ends, the settle after a result ends. None: only a write can."""
    times = [
        work.lease_until,
        _after(work.lease_owner_seen_at, LEASE_OWNER_SILENT_SECONDS),
        _after(work.error_at, settings.error_backoff_seconds),
        _after(work.latest_modified, settings.settle_seconds),
    ]
    return min((t for t in times if t is not None and t >= now), default=None)


def _after(moment: float | None, seconds: float) -> float | None:
    return None if moment is None else moment + seconds


def owed(work: OptimizerWork) -> int:
    """The points a short turn still proposes: one per request waiting when it began."""
    return max(work.waiting, 1)


class _Turn:
    """One fit's turn of the loop: whether it was cut short for other experiments."""

    def __init__(self, loop: OptimizerLoop, work: OptimizerWork, short: bool) -> None:
        self._loop, self._work, self.short = loop, work, short
        #: The turn's own watch of the queue, and the other experiments its last full read
        #: found due.
        self._watch = loop.queue_watch()
        self._due: list[OptimizerWork] = []

    def enough(self, chosen: int) -> bool:
        """Asked by the engine after each point of a batch chosen point after point: the
        batch ends once it holds a point for each request that waited when it began and
        other experiments' requests wait."""
        if chosen < owed(self._work):
            return False
        try:
            wanted = self._loop.others_wait(self._work, self._others_due())
        except Exception:  # the database is restarting: the batch goes on
            logger.warning("optimizer queue unreadable during a fit", exc_info=True)
            return False
        self.short = self.short or wanted
        return wanted

    def _others_due(self) -> list[OptimizerWork]:
        """The other experiments due for a fit now. The whole queue is read again only when
        its version moved since the last read, or one of them may have come due with time
        (as an idle loop reads it): after each point of a batch, the version is read."""
        now = time.time()
        if not self._watch.unchanged(now):
            others = [
                w for w in self._watch.read(now) if w.experiment.id != self._work.experiment.id
            ]
            self._due = [w for w in others if self._loop.needs_fit(w, now)]
            self._watch.keep(now, self._loop.due_times(others, now))
        return self._due


class OptimizerLoopRoles(OptimizerQueue, OptimizerSignals, ModelAnalyses, Protocol):
    """What the loop touches: the optimizer's queue and signals, and the analyses it
    stores."""


class OptimizerLoop:
    def __init__(
        self,
        storage: OptimizerLoopRoles,
        engine_factory: Callable[[], Engine],
        name: str | None = None,
        settings: LoopSettings | None = None,
        on_fit: Callable[[float, bool], None] | None = None,
    ) -> None:
        """``on_fit(seconds, failed)``: told of every fit this loop ends (operators'
        metrics)."""
        self._storage = storage
        self._on_fit = on_fit
        self._engine_factory = engine_factory
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._settings = settings or LoopSettings()
        #: Experiment id -> observation count when its last fit began: the request rate.
        self._last_fit: dict[int, int] = {}
        #: Experiment id -> ``FitInputs.basis_modified`` of the data behind the last model
        #: analysis this loop stored (or found stored).
        self._analysed: dict[int, float | None] = {}
        #: Experiment id -> when this loop last stored its analysis (monotonic clock).
        self._analysed_at: dict[int, float] = {}
        #: Experiment id -> the newest fit's engine and inputs whose analysis was put off.
        self._deferred: dict[int, tuple[Engine, FitInputs]] = {}
        self._watch = self.queue_watch()

    def queue_watch(self) -> QueueWatch:
        return QueueWatch(
            self._storage, self._settings.late_write_seconds, self._settings.full_read_seconds
        )

    def needs_fit(self, work: OptimizerWork, now: float) -> bool:
        return fit_due(work, now, self._settings, self.name)

    def batch_size(self, work: OptimizerWork) -> int:
        """Candidates per fit: one per expected worker and, with several, a few spares for
        a request that arrives while the next fit runs. One worker gets one: it asks again
        only with a new result, which every spare missed."""
        expected = self.expected_workers(work)
        spares = self._settings.spare_candidates if expected > 1 else 0
        return min(expected + spares, self._settings.max_batch)

    def expected_workers(self, work: OptimizerWork) -> int:
        """``parallel_bandwidth``, or more when more ask: the workers of the open
        suggestions (each asks again when it reports) and the requests waiting now."""
        asking = work.open_count + work.waiting
        return max(work.experiment.spec.parallel_bandwidth or 1, asking, 1)

    def arrivals(self, work: OptimizerWork) -> int:
        """Observations that arrived during the last cycle of this experiment's fits: as
        many requests follow, since workers ask again when they report."""
        last = self._last_fit.get(work.experiment.id)
        return max(work.observation_count - last, 0) if last is not None else 0

    def pool_size(self, work: OptimizerWork) -> int:
        """Pool points for the requests expected until the next fit is stored, with a
        margin for a slower next cycle."""
        wanted = math.ceil(self.arrivals(work) * self._settings.pool_margin)
        floor = self._settings.pool_per_worker * self.expected_workers(work)
        return min(max(wanted, floor), self._settings.max_pool)

    def step(self) -> int | None:
        """Fit the experiment that needs it most; return its id, or None when idle."""
        now = time.time()
        queue = self._watch.work(now)
        if queue is None:  # nothing written since a read that found nothing to fit
            self._analyse_deferred()
            return None
        due = [w for w in queue if self.needs_fit(w, now)]
        if not due:
            self._watch.keep(now, self.due_times(queue, now))
        # Waiting requests first, then the experiment whose candidates are oldest.
        due.sort(
            key=lambda w: (
                w.waiting == 0,
                w.fitted_at or 0.0,
            )
        )
        for work in due:
            if self._storage.claim_experiment(
                work.experiment.id, self.name, self._settings.lease_seconds
            ):
                self.fit(work, short=self.others_wait(work, due))
                return work.experiment.id
        self._analyse_deferred()
        return None

    def due_times(self, queue: list[OptimizerWork], now: float) -> list[float]:
        """When, after ``now``, some of ``queue`` may come due for a fit with time alone."""
        later = (due_later(w, now, self._settings) for w in queue)
        return [t for t in later if t is not None]

    def others_wait(self, work: OptimizerWork, due: list[OptimizerWork]) -> bool:
        """Whether requests of other experiments due for a fit (none that another live
        process fits) wait behind this one: more of them wait than other live processes
        are free (fitting nothing) to take them."""
        waiting = sum(other.waiting > 0 for other in due if other is not work)
        if waiting == 0:
            return False
        # Read once this loop holds its lease: a live loop counts itself among the busy.
        turn = self._storage.fit_turn(work.experiment.id, OPTIMIZER_ALIVE_SECONDS)
        return waiting > turn.live - turn.busy

    def fit(self, work: OptimizerWork, short: bool = False) -> None:
        """Fit the experiment and store its candidates. ``short``: other experiments'
        requests wait behind this fit, so it proposes a point for each of its own waiting
        requests only, not its whole batch; a batch chosen point after point ends there
        when they come to wait during it (a multitask batch can take half a minute:
        docs/decisions.md, A slow experiment's fit is a short turn while others wait)."""
        experiment_id = work.experiment.id
        started = time.perf_counter()
        try:
            engine = self._engine_factory()
            started = time.perf_counter()
            inputs = self._storage.fit_inputs(experiment_id)
            pending = [s.assignments for s in inputs.pending]
            current = replace(work, open_count=len(pending))
            count = self.batch_size(current)
            consumed = work.stored_candidates - work.ready_candidates
            if max(self.arrivals(work), consumed) >= count:
                # Requests outpace fits and the pool serves most of them: one optimised
                # candidate keeps the cycle short, so the pool is drawn from fresh data.
                count = 1
            elif short:
                # Other experiments' requests wait too: a point for each of this one's
                # waiting requests, none for workers still evaluating, so that requests
                # are served about in the order they came, whichever experiment is slow.
                count = min(count, owed(work))
            pool = self.pool_size(current)
            # Set when the fit begins, not when it succeeds: after a fit lost to a database
            # restart the next one still knows the rate, instead of computing a whole batch
            # as if requests were few.
            self._last_fit[experiment_id] = work.observation_count
            turn = _Turn(self, work, short)
            proposal = engine.propose(
                ProposalRequest(
                    work.experiment,
                    0,
                    pending,
                    inputs.observations,
                    count=count,
                    pool=pool,
                    pending_tasks=[s.task for s in inputs.pending],
                    enough=None if count == 1 else turn.enough,
                )
            )
            # Multitask: the engine's task of each point, else the target task.
            tasks = proposal_tasks(work.experiment.spec, proposal)
            seconds = time.perf_counter() - started
            self._storage.store_candidates(
                experiment_id,
                CandidateSet(
                    proposal.points, min(count, len(proposal.points)), inputs, seconds, tasks
                ),
            )
            logger.info(
                "experiment %s: %d candidates from %d observations, %d pending, in %.2fs%s",
                experiment_id,
                len(proposal.points),
                len(inputs.observations),
                len(pending),
                seconds,
                " (a short turn: other experiments wait)" if turn.short else "",
            )
        except Exception as error:  # recorded and shown; Sobol keeps serving meanwhile
            logger.exception("optimizer failed for experiment %s", experiment_id)
            self._fitted(time.perf_counter() - started, failed=True)
            self._storage.record_optimizer_error(experiment_id, f"{type(error).__name__}: {error}")
            return
        self._fitted(seconds, failed=False)
        self._analyse_or_defer(engine, experiment_id, inputs)

    def _fitted(self, seconds: float, failed: bool) -> None:
        if self._on_fit is not None:
            self._on_fit(seconds, failed)

    def _analyse_or_defer(self, engine: Engine, experiment_id: int, inputs: FitInputs) -> None:
        last = self._analysed_at.get(experiment_id)
        if last is None or time.monotonic() - last >= self._settings.analysis_interval_seconds:
            self._deferred.pop(experiment_id, None)
            self._store_analysis(engine, experiment_id, inputs)
        else:
            self._deferred[experiment_id] = (engine, inputs)

    def _analyse_deferred(self) -> None:
        while self._deferred:
            experiment_id, (engine, inputs) = self._deferred.popitem()
            self._store_analysis(engine, experiment_id, inputs)

    def _store_analysis(self, engine: Engine, experiment_id: int, inputs: FitInputs) -> None:
        """The analysis of the model just fitted (importance, slices), when the observations
        changed since the last one stored. It runs after the candidates are stored, so no
        hand-out waits for it, and a failure only costs the dashboard a newer analysis."""
        try:
            if not self._analysis_due(experiment_id, inputs):
                return
            analysis = engine.analyze()
            if analysis is None:  # the proposal came from the initial design
                return
            self._storage.store_model_analysis(experiment_id, analysis)
        except Exception:
            logger.warning("model analysis failed for experiment %s", experiment_id, exc_info=True)
            return
        self._analysed[experiment_id] = inputs.basis_modified
        self._analysed_at[experiment_id] = time.monotonic()
        logger.info(
            "experiment %s: model analysis on %d observations in %.3fs",
            experiment_id,
            analysis.observation_count,
            analysis.seconds,
        )

    def _analysis_due(self, experiment_id: int, inputs: FitInputs) -> bool:
        if experiment_id in self._analysed:
            return self._analysed[experiment_id] != inputs.basis_modified
        # This process's first fit of the experiment: another process (or this one before
        # a restart) may have stored an analysis of these observations already.
        stored = self._storage.model_analysis(experiment_id)
        count = sum(not o.deleted for o in inputs.observations)
        if stored is not None and stored.observation_count == count:
            self._analysed[experiment_id] = inputs.basis_modified
            return False
        return True

    def run(self, stop: threading.Event) -> None:
        """Fit until ``stop`` is set; heartbeats go on from a thread while a fit runs."""
        heartbeat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        heartbeat.start()
        try:
            self._engine_factory()  # loads the engine's libraries (torch) while alive
            while not stop.is_set():
                try:
                    worked = self.step()
                except Exception:  # e.g. the database is restarting: keep the loop alive
                    logger.exception("optimizer loop error")
                    worked = None
                if worked is None:
                    stop.wait(self._settings.idle_seconds)
        finally:  # also when a signal ends a fit midway (SystemExit)
            stop.set()
            heartbeat.join()
            self._sign_off()

    def _sign_off(self) -> None:
        """Release this loop's leases at once, so another process fits them now."""
        try:
            self._storage.sign_off(self.name)
        except Exception:  # the database is down: the leases lapse when we fall silent
            logger.warning("optimizer sign-off failed", exc_info=True)

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._storage.heartbeat(self.name)
            except Exception:
                logger.warning("optimizer heartbeat failed", exc_info=True)
            stop.wait(self._settings.heartbeat_seconds)
