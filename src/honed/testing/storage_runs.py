"""The ``ProjectStore`` and ``TrainingRunStore`` roles: projects, AI experiments in them,
training runs and checkpoints.

Part of ``honed.testing.storage.StorageConformance``; subclass ``ProjectConformance`` or
``TrainingRunConformance`` alone to run only that role's tests (see ``RoleSuite``).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from honed.domain.experiment import Experiment
from honed.domain.paging import PageRequest
from honed.domain.records import MetricValue
from honed.domain.records import SuggestionSource
from honed.domain.records import SuggestionState
from honed.domain.runs import RunCounts
from honed.domain.runs import RunState
from honed.domain.runs import TrainingRun
from honed.errors import ConflictError
from honed.errors import InvalidRequestError
from honed.errors import NotFoundError
from honed.storage.base import Storage
from honed.storage.observations import NewObservation
from honed.storage.projects import ProjectPatch
from honed.storage.runs import NewTrainingRun
from honed.storage.runs import RunUpdate
from honed.storage.suggestions import NewSuggestion
from honed.storage.suggestions import SuggestionDecision
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import run_together

POINT: dict[str, float | int | str] = {"x": 0.5, "n": 2, "c": "a"}


def finish(
    run: TrainingRun, experiment: Experiment | None, value: float = 1.0, delay: float = 0.0
) -> RunUpdate:
    """A ``change`` that completes a run, with an observation unless it has one."""
    time.sleep(delay)  # widen the window a racing update would need
    observation = None
    if run.observation_id is None and run.suggestion_id is not None:
        observation = NewObservation(
            run.suggestion_id, None, (MetricValue("f", value),), False, None
        )
    data = {**run.data, "values": {"f": {"value": value, "value_stddev": None}}}
    return RunUpdate(RunState.COMPLETED, data, run.deleted, run.project, observation)


class ProjectConformance(RoleSuite):
    def test_projects(self, storage: Storage) -> None:
        alice, bob = storage.create_client("alice"), storage.create_client("bob")
        project = storage.create_project(alice.id, "proj", "Project", {"team": "a"})
        assert (project.reference, project.name, project.client_id) == (
            "proj",
            "Project",
            alice.id,
        )
        assert project.metadata == {"team": "a"}
        assert not project.deleted
        assert storage.get_project(alice.id, "proj") == project
        with pytest.raises(ConflictError, match="`proj` already exists"):
            storage.create_project(alice.id, "proj", "again", None)
        with pytest.raises(NotFoundError):
            storage.get_project(bob.id, "proj")
        theirs = storage.create_project(bob.id, "proj", "Bob's", None)
        assert theirs.id != project.id

        storage.create_project(alice.id, "second", "Second", None)
        page = storage.list_projects(alice.id, PageRequest(limit=1))
        assert (page.count, [p.reference for p in page.items]) == (2, ["second"])
        older = storage.list_projects(alice.id, PageRequest(limit=1, before=page.before))
        assert [p.reference for p in older.items] == ["proj"]

        renamed = storage.update_project(
            alice.id, "second", ProjectPatch(name="Renamed", deleted=True, set_metadata=True)
        )
        assert (renamed.name, renamed.deleted, renamed.metadata) == ("Renamed", True, None)
        assert [p.reference for p in storage.list_projects(alice.id, PageRequest()).items] == [
            "proj"
        ]
        assert storage.list_projects(alice.id, PageRequest(), deleted=None).count == 2
        with pytest.raises(NotFoundError):
            storage.update_project(bob.id, "second", ProjectPatch(name="x"))

    def test_experiments_in_projects(self, storage: Storage) -> None:
        client = storage.create_client("c")
        with pytest.raises(InvalidRequestError, match="project `proj`, the project does not"):
            self.ai_experiment(storage, client.id, "proj")
        storage.create_project(client.id, "proj", "P", None)
        ai = self.ai_experiment(storage, client.id, "proj")
        assert (ai.spec.runs_only, ai.spec.project) == (True, "proj")
        assert storage.get_experiment(ai.id) == ai
        classic = storage.create_experiment(client.id, self.spec())
        assert (classic.spec.runs_only, classic.spec.project) == (False, None)

        def ids(**query: Any) -> list[int]:
            return [
                e.id for e in storage.list_experiments(client.id, PageRequest(), **query).items
            ]

        assert ids() == [classic.id]
        assert ids(runs_only=True) == [ai.id]
        assert ids(runs_only=None) == [classic.id, ai.id]  # newest first
        assert ids(runs_only=None, project="proj") == [ai.id]


class TrainingRunConformance(RoleSuite):
    def run_with_suggestion(
        self, storage: Storage, experiment: Experiment, point: dict[str, float | int | str] = POINT
    ) -> TrainingRun:
        def decide(context: Any) -> SuggestionDecision:
            return SuggestionDecision(
                NewSuggestion(point, SuggestionSource.ENGINE), context.cursor + 1
            )

        suggestion = storage.create_suggestion(experiment.id, decide)
        new = NewTrainingRun("proj", RunState.ACTIVE, {"name": "r"}, experiment.id, suggestion.id)
        return storage.create_training_runs(experiment.client_id, [new])[0]

    def test_create_get_and_list_runs(self, storage: Storage) -> None:
        client = storage.create_client("c")
        storage.create_project(client.id, "proj", "P", None)
        new = [
            NewTrainingRun("proj", RunState.ACTIVE, {"name": "a", "metadata": {"k": 1}}),
            NewTrainingRun("proj", RunState.FAILED, {"name": "b"}),
        ]
        first, second = storage.create_training_runs(client.id, new)
        assert (first.name, first.state, first.completed) == ("a", RunState.ACTIVE, None)
        assert first.data == {"name": "a", "metadata": {"k": 1}}
        assert second.state is RunState.FAILED
        assert second.completed is not None
        assert (first.experiment_id, first.suggestion_id, first.observation_id) == (None,) * 3
        assert storage.get_training_run(first.id) == first
        with pytest.raises(NotFoundError):
            storage.get_training_run(second.id + 100)

        # All or nothing: a missing project stores none of the batch.
        with pytest.raises(NotFoundError):
            storage.create_training_runs(
                client.id, [new[0], dataclasses.replace(new[0], project="missing")]
            )
        page = storage.list_training_runs(client.id, "proj", PageRequest())
        assert [r.id for r in page.items] == [second.id, first.id]
        other = storage.create_client("other")
        assert storage.list_training_runs(other.id, "proj", PageRequest()).count == 0

    def test_finishing_a_run_stores_its_observation(self, storage: Storage) -> None:
        client = storage.create_client("c")
        storage.create_project(client.id, "proj", "P", None)
        experiment = self.ai_experiment(storage, client.id, "proj")
        run = self.run_with_suggestion(storage, experiment)
        assert storage.run_counts(experiment.id) == RunCounts(active=1, finished=0)

        def refuse(run: TrainingRun, experiment: Experiment | None) -> RunUpdate:
            finish(run, experiment)
            raise InvalidRequestError("no")

        with pytest.raises(InvalidRequestError):
            storage.update_training_run(run.id, refuse)
        assert storage.get_training_run(run.id) == run
        assert storage.count_observations(experiment.id) == 0

        seen: list[Experiment | None] = []

        def record(run: TrainingRun, experiment: Experiment | None) -> RunUpdate:
            seen.append(experiment)
            return finish(run, experiment, 2.0)

        done = storage.update_training_run(run.id, record)
        assert seen == [experiment]
        assert (done.state, done.completed is not None) == (RunState.COMPLETED, True)
        assert done.observation_id is not None
        observation = storage.get_observation(experiment.id, done.observation_id)
        assert (observation.suggestion_id, observation.value_of("f")) == (run.suggestion_id, 2.0)
        assert observation.assignments == POINT
        assert run.suggestion_id is not None
        suggestion = storage.get_suggestion(experiment.id, run.suggestion_id)
        assert suggestion.state is SuggestionState.CLOSED
        assert storage.run_counts(experiment.id) == RunCounts(active=0, finished=1)
        best = storage.runs_for_observations(experiment.id, [done.observation_id, 999])
        assert [r.id for r in best] == [run.id]

    def test_a_run_created_finished_with_its_observation(self, storage: Storage) -> None:
        client = storage.create_client("c")
        storage.create_project(client.id, "proj", "P", None)
        experiment = self.ai_experiment(storage, client.id, "proj")
        observation = NewObservation(None, POINT, (), True, None)
        new = NewTrainingRun(
            "proj", RunState.FAILED, {"name": "r"}, experiment.id, observation=observation
        )
        (run,) = storage.create_training_runs(client.id, [new])
        assert run.observation_id is not None
        assert storage.get_observation(experiment.id, run.observation_id).failed

    def test_concurrent_finishing_stores_one_observation(self, storage: Storage) -> None:
        client = storage.create_client("c")
        storage.create_project(client.id, "proj", "P", None)
        experiment = self.ai_experiment(storage, client.id, "proj")
        run = self.run_with_suggestion(storage, experiment)
        errors = run_together(
            lambda index: storage.update_training_run(
                run.id, lambda r, e: finish(r, e, index, 0.02)
            ),
            workers=4,
        )
        assert errors == []
        assert storage.count_observations(experiment.id) == 1

    def test_a_withdrawn_suggestion_gets_no_observation(self, storage: Storage) -> None:
        client = storage.create_client("c")
        storage.create_project(client.id, "proj", "P", None)
        experiment = self.ai_experiment(storage, client.id, "proj")
        run = self.run_with_suggestion(storage, experiment)
        storage.delete_suggestions(experiment.id, open_only=True)
        done = storage.update_training_run(run.id, finish)
        assert (done.state, done.observation_id) == (RunState.COMPLETED, None)
        assert storage.count_observations(experiment.id) == 0

    def test_delete_runs_and_checkpoints(self, storage: Storage) -> None:
        client = storage.create_client("c")
        storage.create_project(client.id, "proj", "P", None)
        experiment = self.ai_experiment(storage, client.id, "proj")
        run = self.run_with_suggestion(storage, experiment)
        checkpoint = storage.create_checkpoint(run.id, [MetricValue("f", 0.5)], {"epoch": 1})
        assert (checkpoint.training_run_id, checkpoint.metadata) == (run.id, {"epoch": 1})
        assert checkpoint.values == (MetricValue("f", 0.5),)
        storage.create_checkpoint(run.id, [], None)
        assert storage.get_training_run(run.id).checkpoint_count == 2
        page = storage.list_checkpoints(run.id, PageRequest(limit=1))
        assert (page.count, page.items[0].metadata) == (2, None)
        with pytest.raises(NotFoundError):
            storage.create_checkpoint(run.id + 100, [], None)
        with pytest.raises(NotFoundError):
            storage.list_checkpoints(run.id + 100, PageRequest())

        assert storage.delete_experiment_runs(experiment.id) == 1
        assert storage.get_training_run(run.id).deleted
        assert storage.run_counts(experiment.id) == RunCounts(active=0, finished=0)
        assert storage.list_training_runs(client.id, "proj", PageRequest()).count == 0
        assert (
            storage.list_training_runs(client.id, "proj", PageRequest(), deleted=None).count == 1
        )
