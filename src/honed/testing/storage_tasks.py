"""Multitask across the roles: an experiment's tasks, and the task of every record that
has one (suggestions, queued suggestions, observations, the optimizer's candidates, and
the open suggestions and observations a fit reads), stored and read back.

Part of ``honed.testing.storage.StorageConformance``; subclass ``MultitaskConformance``
alone to run only these tests (see ``RoleSuite`` for the fixture).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from honed.domain.experiment import Task
from honed.domain.paging import PageRequest
from honed.domain.parameters import Assignments
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.records import SuggestionSource
from honed.errors import ConflictError
from honed.storage.base import Storage
from honed.storage.experiments import ExperimentPatch
from honed.storage.observations import NewObservation
from honed.storage.observations import ObservationOrder
from honed.storage.observations import ObservationPatch
from honed.storage.optimizer import CandidateSet
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionContext
from honed.storage.suggestions import SuggestionDecision
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import check_sorted_paging
from honed.testing.storage_support import peek
from honed.testing.storage_support import peek_candidates
from honed.testing.storage_support import point

#: Out of cost order on purpose: the store keeps the order given.
TASKS = (Task("half", 0.5), Task("full", 1.0), Task("tenth", 0.1))


def at_task(
    assignments: Assignments, task: str | None
) -> Callable[[SuggestionContext], SuggestionDecision]:
    """A ``decide`` that proposes ``assignments`` to be evaluated at ``task``."""

    def decide(context: SuggestionContext) -> SuggestionDecision:
        return SuggestionDecision(
            NewSuggestion(assignments, SuggestionSource.ENGINE, None, task=task),
            context.cursor + 1,
        )

    return decide


def observed(
    storage: Storage,
    experiment_id: int,
    suggestion_id: int | None = None,
    assignments: Assignments | None = None,
    task: str | None = None,
    failed: bool = False,
) -> Observation:
    values = () if failed else (MetricValue("f", 1.0, None),)
    new = NewObservation(suggestion_id, assignments, values, failed, None, task=task)
    return storage.create_observations(experiment_id, [new])[0]


class MultitaskConformance(RoleSuite):
    def test_an_experiments_tasks_are_stored(self, storage: Storage) -> None:
        experiment = self.experiment(storage, tasks=TASKS)
        assert experiment.spec.tasks == TASKS
        assert experiment.spec.target_task == Task("full", 1.0)
        assert storage.get_experiment(experiment.id) == experiment
        listed = storage.list_experiments(experiment.client_id, PageRequest()).items
        assert [e.spec.tasks for e in listed] == [TASKS]
        renamed = storage.update_experiment(experiment.id, ExperimentPatch(name="renamed"))
        assert renamed.spec.tasks == TASKS
        replaced = storage.update_experiment(
            experiment.id, ExperimentPatch(spec=self.spec("again", tasks=TASKS))
        )
        assert replaced.spec.tasks == TASKS
        assert self.experiment(storage).spec.tasks == ()

    def test_suggestions_and_queued_suggestions_keep_their_task(self, storage: Storage) -> None:
        eid = self.experiment(storage, tasks=TASKS).id
        made = storage.create_suggestion(eid, at_task(point(0), "tenth"))
        assert made.task == "tenth"
        other = storage.create_suggestion(eid, at_task(point(1), "full"))
        assert storage.get_suggestion(eid, made.id) == made
        listed = storage.list_suggestions(eid, PageRequest()).items
        assert {s.id: s.task for s in listed} == {made.id: "tenth", other.id: "full"}
        assert [s.task for s in storage.open_suggestions(eid)] == ["tenth", "full"]
        inputs = storage.fit_inputs(eid)
        assert [(s.id, s.task) for s in inputs.pending] == [(made.id, "tenth"), (other.id, "full")]

        queued = storage.create_queued_suggestion(eid, point(2), "half")
        assert queued.task == "half"
        assert storage.get_queued_suggestion(eid, queued.id) == queued
        assert storage.list_queued_suggestions(eid, PageRequest()).items == [queued]
        assert peek(storage, eid, lambda c: c.next_queued) == queued
        assert storage.create_queued_suggestion(eid, point(3)).task is None

    def test_the_same_assignments_at_another_task_are_another_point(
        self, storage: Storage
    ) -> None:
        """Open at one task, the assignments are free at another; at the same task they are
        refused as ever. The hashes a decision reads, of open and of observed points, are
        of the assignments at their task."""
        eid = self.experiment(storage, tasks=TASKS).id
        tenth = storage.create_suggestion(eid, at_task(point(0), "tenth"))
        full = storage.create_suggestion(eid, at_task(point(0), "full"))
        with pytest.raises(ConflictError):
            storage.create_suggestion(eid, at_task(point(0), "full"))
        opened = [(s.id, s.task) for s in storage.open_suggestions(eid)]
        assert opened == [(tenth.id, "tenth"), (full.id, "full")]
        at = {name: point_hash(point(0), name) for name in ("tenth", "half", "full")}
        assert peek(storage, eid, lambda c: c.load_open_hashes()) == {at["tenth"], at["full"]}

        observed(storage, eid, tenth.id)
        assert peek(storage, eid, lambda c: c.load_open_hashes()) == {at["full"]}
        # Observed at the tenth, the point is open at the tenth again (a repeat) ...
        storage.create_suggestion(eid, at_task(point(0), "tenth"))
        found = peek(storage, eid, lambda c: c.observed_among(set(at.values())))
        assert found == {at["tenth"]}
        # ... and once more of the same assignments and task is refused.
        with pytest.raises(ConflictError):
            storage.create_suggestion(eid, at_task(point(0), "tenth"))

    def test_an_observations_hash_follows_its_task(self, storage: Storage) -> None:
        eid = self.experiment(storage, tasks=TASKS).id
        stored = observed(storage, eid, assignments=point(0), task="tenth")
        every = {point_hash(point(0), task.name) for task in TASKS}

        def observed_hashes() -> set[str]:
            return peek(storage, eid, lambda c: c.observed_among(every))

        assert observed_hashes() == {point_hash(point(0), "tenth")}
        storage.update_observation(eid, stored.id, ObservationPatch(task="half", set_task=True))
        assert observed_hashes() == {point_hash(point(0), "half")}

    def test_observations_keep_their_task(self, storage: Storage) -> None:
        eid = self.experiment(storage, tasks=TASKS).id
        suggestion = storage.create_suggestion(eid, at_task(point(0), "tenth"))
        # Of a suggestion: the suggestion's task.
        of_suggestion = observed(storage, eid, suggestion.id)
        assert of_suggestion.task == "tenth"
        # Of assignments: the task given with them.
        of_point = observed(storage, eid, assignments=point(1), task="half")
        failed = observed(storage, eid, assignments=point(2), task="full", failed=True)
        assert (of_point.task, failed.task) == ("half", "full")
        # A repeat stands for the stored observation, task and all.
        assert observed(storage, eid, suggestion.id) == of_suggestion
        for stored in (of_suggestion, of_point, failed):
            assert storage.get_observation(eid, stored.id) == stored
        expected = [of_suggestion, of_point, failed]
        assert storage.all_observations(eid) == expected
        assert storage.list_observations(eid, PageRequest()).items == expected[::-1]
        assert storage.fit_inputs(eid).observations == expected

    def test_an_update_changes_the_task(self, storage: Storage) -> None:
        eid = self.experiment(storage, tasks=TASKS).id
        stored = observed(storage, eid, assignments=point(0), task="tenth")
        kept = storage.update_observation(eid, stored.id, ObservationPatch(task="full"))
        assert kept.task == "tenth"  # without set_task
        changed = storage.update_observation(
            eid, stored.id, ObservationPatch(task="half", set_task=True)
        )
        assert changed.task == "half"
        assert storage.get_observation(eid, stored.id).task == "half"
        moved = storage.update_observation(
            eid, stored.id, ObservationPatch(assignments=point(1), task="full", set_task=True)
        )
        assert (moved.assignments, moved.task) == (point(1), "full")
        # A suggestion brings its own task.
        suggestion = storage.create_suggestion(eid, at_task(point(2), "tenth"))
        linked = storage.update_observation(
            eid, stored.id, ObservationPatch(suggestion_id=suggestion.id)
        )
        assert (linked.suggestion_id, linked.task) == (suggestion.id, "tenth")

    def test_candidates_keep_their_task(self, storage: Storage) -> None:
        eid = self.experiment(storage, tasks=TASKS).id
        inputs = storage.fit_inputs(eid)
        points = [point(3), point(4), point(5)]
        storage.store_candidates(
            eid, CandidateSet(points, 2, inputs, 0.5, ["tenth", "full", "half"])
        )
        found = peek_candidates(storage, eid)
        assert [(c.assignments, c.task) for c in found] == list(
            zip(points, ["tenth", "full", "half"], strict=True)
        )
        # A fit that chose no tasks (a plain experiment's) stores none.
        storage.store_candidates(eid, CandidateSet(points[:1], 1, inputs, 0.5))
        assert [c.task for c in peek_candidates(storage, eid)] == [None]

    def test_observations_sort_by_their_tasks_cost(self, storage: Storage) -> None:
        eid = self.experiment(storage, tasks=TASKS).id
        costs = {task.name: task.cost for task in TASKS}
        values: dict[int, float | None] = {}
        for index, task in enumerate(["full", "tenth", "half", "tenth", "full", None]):
            stored = observed(storage, eid, assignments=point(index), task=task)
            values[stored.id] = costs[task] if task is not None else None
        order = ObservationOrder(field="task", task_costs=tuple(costs.items()))
        check_sorted_paging(lambda page: storage.list_observations(eid, page, order=order), values)
