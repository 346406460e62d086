"""Suggestion use cases. Creation is serialized per experiment by the store; which point
a suggestion gets is decided under that lock by honed.service.choice."""

from __future__ import annotations

import time
from collections.abc import Sequence

from honed.domain.experiment import Experiment
from honed.domain.experiment import Metadata
from honed.domain.records import QueuedSuggestion
from honed.domain.records import Suggestion
from honed.domain.records import SuggestionSource
from honed.domain.tenancy import Token
from honed.service import choice
from honed.service.access import check_classic
from honed.service.access import check_live_experiment
from honed.service.access import experiment_for
from honed.service.access import live_experiment_for
from honed.storage.base import NewSuggestion
from honed.storage.base import Page
from honed.storage.base import PageRequest
from honed.storage.base import Storage
from honed.storage.base import SuggestionContext
from honed.storage.base import SuggestionDecision

# An optimizer process that sent a heartbeat this recently is worth waiting for.
OPTIMIZER_ALIVE_SECONDS = 10.0
OPTIMIZER_CHECK_SECONDS = 2.0
CANDIDATE_POLL_SECONDS = 0.05


class SuggestionService:
    """``candidate_wait_seconds``: how long a request may wait for the optimizer when it has
    no candidate ready, before a Sobol point serves instead."""

    def __init__(self, storage: Storage, candidate_wait_seconds: float = 1.0) -> None:
        self._storage = storage
        self._candidate_wait = candidate_wait_seconds
        self._alive = False
        self._alive_checked_at = -float("inf")

    def create(
        self,
        caller: Token,
        experiment_id: int,
        metadata: Metadata | None = None,
        assignments: object | None = None,
        for_run: bool = False,
    ) -> Suggestion:
        """May wait a bounded time for the optimizer (see ``candidate_wait_seconds``).

        ``for_run``: the suggestion of a new training run of an AI experiment (honed's run
        service); other callers may not create suggestions of AI experiments.
        """
        optimizer_running = self._optimizer_alive()
        allow_fallback = not optimizer_running
        deadline: float | None = None
        while True:
            try:
                return self._attempt(
                    caller,
                    experiment_id,
                    metadata,
                    assignments,
                    allow_fallback=allow_fallback,
                    optimizer_running=optimizer_running,
                    for_run=for_run,
                )
            except choice.CandidatesNeeded:
                # Outside the lock: ask the optimizer, wait a bounded time, then retry. With
                # no optimizer alive, or once the time is up, the sequence engine serves.
                now = time.monotonic()
                if deadline is None and self._worth_waiting(experiment_id):
                    self._storage.request_candidates(experiment_id)
                    deadline = now + self._candidate_wait
                if deadline is None or now >= deadline:
                    allow_fallback = True
                    continue
                self._wait_for_candidates(experiment_id, deadline)

    def create_without_waiting(
        self,
        caller: Token,
        experiment_id: int,
        metadata: Metadata | None = None,
        assignments: object | None = None,
    ) -> Suggestion | None:
        """``create`` when it needs no wait, else None (then call ``create``): a caller on
        an event loop must not sleep."""
        optimizer_running = self._optimizer_alive()
        try:
            return self._attempt(
                caller,
                experiment_id,
                metadata,
                assignments,
                not optimizer_running,
                optimizer_running,
            )
        except choice.CandidatesNeeded:
            return None

    def _attempt(
        self,
        caller: Token,
        experiment_id: int,
        metadata: Metadata | None,
        assignments: object | None,
        allow_fallback: bool,
        optimizer_running: bool,
        for_run: bool = False,
    ) -> Suggestion:
        """One transaction: the checks run on the experiment as locked for the decision."""

        def decide(context: SuggestionContext) -> SuggestionDecision:
            what = "training runs" if for_run else "suggestions"
            experiment = check_live_experiment(caller, context.experiment, what)
            if not for_run:
                check_classic(experiment)
            if assignments is not None:
                manual = experiment.spec.space.check_assignments(assignments)
                return SuggestionDecision(
                    NewSuggestion(manual, SuggestionSource.MANUAL, metadata), context.cursor
                )
            return choice.decide(context, metadata, allow_fallback, optimizer_running)

        return self._storage.create_suggestion(experiment_id, decide)

    def _worth_waiting(self, experiment_id: int) -> bool:
        """Wait only if the optimizer's last fit of this experiment took less than the wait
        (or there was none yet): otherwise the request would time out and serve Sobol late."""
        if self._candidate_wait <= 0:
            return False
        last = self._storage.optimizer_status(experiment_id).fit_seconds
        return last is None or last < self._candidate_wait

    def _optimizer_alive(self) -> bool:
        """Heartbeats, read at most once per OPTIMIZER_CHECK_SECONDS per process."""
        now = time.monotonic()
        if now - self._alive_checked_at > OPTIMIZER_CHECK_SECONDS:
            self._alive = self._storage.live_optimizers(OPTIMIZER_ALIVE_SECONDS) > 0
            self._alive_checked_at = now
        return self._alive

    def _wait_for_candidates(self, experiment_id: int, deadline: float) -> None:
        while time.monotonic() < deadline:
            time.sleep(CANDIDATE_POLL_SECONDS)
            if self._storage.ready_candidates(experiment_id) > 0:
                return

    def get(self, caller: Token, experiment_id: int, suggestion_id: int) -> Suggestion:
        self._expire(experiment_for(self._storage, caller, experiment_id))
        return self._storage.get_suggestion(experiment_id, suggestion_id)

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
    ) -> Page[Suggestion]:
        self._expire(experiment_for(self._storage, caller, experiment_id))
        return self._storage.list_suggestions(experiment_id, page, open_only, deleted, ids)

    def update(
        self,
        caller: Token,
        experiment_id: int,
        suggestion_id: int,
        metadata: Metadata | None = None,
        set_metadata: bool = False,
    ) -> Suggestion:
        """Any update is also the worker's sign of life: with a suggestion TTL it moves the
        lease of an open suggestion to now + TTL (an expired one stays expired)."""
        experiment = experiment_for(self._storage, caller, experiment_id, write=True)
        ttl = experiment.spec.suggestion_ttl_seconds
        if ttl is not None:
            self._expire(experiment)
            return self._storage.extend_suggestion_lease(
                experiment_id, suggestion_id, time.time() + ttl, metadata, set_metadata
            )
        if not set_metadata:
            return self._storage.get_suggestion(experiment_id, suggestion_id)
        return self._storage.update_suggestion_metadata(experiment_id, suggestion_id, metadata)

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
    def enqueue(self, caller: Token, experiment_id: int, assignments: object) -> QueuedSuggestion:
        experiment = live_experiment_for(
            self._storage, caller, experiment_id, "queued suggestions"
        )
        checked = experiment.spec.space.check_assignments(assignments)
        return self._storage.create_queued_suggestion(experiment_id, checked)

    def get_queued(self, caller: Token, experiment_id: int, queued_id: int) -> QueuedSuggestion:
        experiment_for(self._storage, caller, experiment_id)
        return self._storage.get_queued_suggestion(experiment_id, queued_id)

    def list_queued(
        self, caller: Token, experiment_id: int, page: PageRequest
    ) -> Page[QueuedSuggestion]:
        experiment_for(self._storage, caller, experiment_id)
        return self._storage.list_queued_suggestions(experiment_id, page)

    def delete_queued(self, caller: Token, experiment_id: int, queued_id: int) -> None:
        experiment_for(self._storage, caller, experiment_id, write=True)
        self._storage.delete_queued_suggestion(experiment_id, queued_id)
