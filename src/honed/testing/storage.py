"""The storage conformance suite: every ``Storage`` implementation must pass it.

Subclass ``StorageConformance`` in a test module and provide a ``storage`` fixture that
yields a fresh, empty, ready store per test (see ``honed.testing``). The tests only use the
public contract of ``honed.storage``, so they apply to any backend.

The suite is one class per storage role, each in its own module, and an implementer of one
role may subclass that class alone: ``TenantConformance``, ``ExperimentConformance``,
``SuggestionConformance`` (and ``SuggestionBatchConformance``), ``ObservationConformance``,
``OptimizerQueueConformance``,
``OptimizerSignalsConformance`` (both: ``OptimizerConformance``), ``ProjectConformance``,
``TrainingRunConformance``, ``ModelAnalysesConformance``, ``RunFileConformance`` and
``TagConformance``; ``MultitaskConformance`` checks the tasks of every record that has one.
This class adds what spans roles.

``suggest_from_processes`` runs the suggestion race across the OS processes of a
``ProcessRace``, for backends that several processes can open (pass a picklable factory,
e.g. a ``functools.partial``); ``check_race_outcomes`` judges the result.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import pytest

from honed.domain.paging import PageRequest
from honed.domain.tenancy import TokenType
from honed.errors import NotFoundError
from honed.storage.base import Storage
from honed.storage.experiments import ExperimentPatch
from honed.storage.observations import ObservationPatch
from honed.testing.storage_analyses import ModelAnalysesConformance
from honed.testing.storage_experiments import ExperimentConformance
from honed.testing.storage_files import RunFileConformance
from honed.testing.storage_files import TagConformance
from honed.testing.storage_observations import ObservationConformance
from honed.testing.storage_optimizer import OptimizerConformance
from honed.testing.storage_optimizer import OptimizerQueueConformance
from honed.testing.storage_optimizer import OptimizerSignalsConformance
from honed.testing.storage_runs import ProjectConformance
from honed.testing.storage_runs import TrainingRunConformance
from honed.testing.storage_suggestion_batch import SuggestionBatchConformance
from honed.testing.storage_suggestions import SuggestionConformance
from honed.testing.storage_support import ProcessRace
from honed.testing.storage_support import check_race_outcomes
from honed.testing.storage_support import make_spec
from honed.testing.storage_support import open_and_close
from honed.testing.storage_support import point
from honed.testing.storage_support import suggest_from_processes
from honed.testing.storage_tasks import MultitaskConformance
from honed.testing.storage_tenants import TenantConformance

__all__ = [
    "ExperimentConformance",
    "ModelAnalysesConformance",
    "MultitaskConformance",
    "ObservationConformance",
    "OptimizerConformance",
    "OptimizerQueueConformance",
    "OptimizerSignalsConformance",
    "ProcessRace",
    "ProjectConformance",
    "RunFileConformance",
    "StorageConformance",
    "SuggestionBatchConformance",
    "SuggestionConformance",
    "TagConformance",
    "TenantConformance",
    "TrainingRunConformance",
    "check_race_outcomes",
    "make_spec",
    "open_and_close",
    "suggest_from_processes",
]


class StorageConformance(
    TenantConformance,
    ExperimentConformance,
    SuggestionConformance,
    SuggestionBatchConformance,
    ObservationConformance,
    OptimizerConformance,
    ProjectConformance,
    TrainingRunConformance,
    RunFileConformance,
    TagConformance,
    ModelAnalysesConformance,
    MultitaskConformance,
):
    """The whole ``Storage`` contract: every role's tests, and those that span roles."""

    def test_pool_use_counts_connections(self, storage: Storage) -> None:
        storage.ping()  # a connection was taken from the pool and given back
        for count in storage.pool_use():  # checked out now, kept
            assert isinstance(count, int)
            assert count >= 0

    def test_records_of_another_experiment_are_not_found(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        other = self.experiment(storage).id
        foreign = self.suggest(storage, other, point(0))
        foreign_observation = self.observe(storage, other, foreign.id)
        own = self.suggest(storage, eid, point(1))
        missing_experiment = eid + other + 1000
        calls: list[Callable[[], object]] = [
            lambda: storage.get_suggestion(eid, foreign.id),
            lambda: storage.update_suggestion_metadata(eid, foreign.id, {"a": "b"}),
            lambda: storage.delete_suggestions(eid, foreign.id),
            lambda: storage.get_observation(eid, foreign_observation.id),
            lambda: storage.update_observation(eid, foreign_observation.id, ObservationPatch()),
            lambda: storage.delete_observations(eid, foreign_observation.id),
            lambda: storage.get_observation(eid, foreign_observation.id + 1000),
            lambda: storage.get_suggestion(missing_experiment, own.id),
            lambda: storage.create_observations(missing_experiment, []),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                call()
        untouched = storage.get_suggestion(other, foreign.id)
        assert (untouched.metadata, untouched.deleted) == (None, False)
        assert storage.get_observation(other, foreign_observation.id) == foreign_observation
        assert storage.list_suggestions(eid, PageRequest()).count == 1

    def test_snapshots_are_frozen(self, storage: Storage) -> None:
        client = storage.create_client("c")
        token = storage.create_token(client.id, "hash", TokenType.CLIENT_API, "write")
        experiment = storage.create_experiment(client.id, make_spec())
        suggestion = self.suggest(storage, experiment.id, point(0))
        queued = storage.create_queued_suggestion(experiment.id, point(1))
        observation = self.observe(storage, experiment.id, suggestion.id)
        page = storage.list_observations(experiment.id, PageRequest())
        snapshots: list[tuple[object, str]] = [
            (client, "name"),
            (token, "revoked"),
            (experiment, "state"),
            (experiment.spec, "name"),
            (suggestion, "state"),
            (queued, "assignments"),
            (observation, "failed"),
            (observation.values[0], "value"),
            (page, "count"),
        ]
        for snapshot, attribute in snapshots:
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(snapshot, attribute, None)

    def test_experiment_version_moves_with_every_write_of_the_experiment(
        self, storage: Storage
    ) -> None:
        eid = self.experiment(storage, suggestion_ttl_seconds=60.0).id
        other = self.experiment(storage).id
        seen = [storage.experiment_version(eid)]

        def changed(what: str) -> None:
            version = storage.experiment_version(eid)
            assert version not in seen, what
            assert storage.experiment_version(eid) == version, what  # a read changes nothing
            seen.append(version)

        assert storage.experiment_version(eid) == seen[0]
        first = self.suggest(storage, eid, point(0))
        changed("suggestion created")
        storage.update_suggestion_metadata(eid, first.id, {"stage": "training"})
        changed("suggestion metadata")
        storage.extend_suggestion_lease(eid, first.id, time.time() + 120)
        assert storage.experiment_version(eid) == seen[-1], "a lease alone is no change"
        storage.extend_suggestion_lease(eid, first.id, time.time() + 180, {"step": 1}, True)
        changed("suggestion metadata with its lease")
        observation = self.observe(storage, eid, first.id)
        changed("observation of a suggestion (which closes it)")
        self.observe(storage, eid, assignments=point(1))
        changed("observation of assignments")
        storage.update_observation(eid, observation.id, ObservationPatch(failed=True))
        changed("observation updated")
        storage.update_observation(
            eid, observation.id, ObservationPatch(metadata={"host": "b"}, set_metadata=True)
        )
        changed("observation metadata")
        second = self.suggest(storage, eid, point(2))
        changed("another suggestion")
        storage.update_observation(eid, observation.id, ObservationPatch(suggestion_id=second.id))
        changed("observation moved to another suggestion (which closes it)")
        storage.delete_observations(eid, observation.id)
        changed("observation deleted")
        third = self.suggest(storage, eid, point(3))
        changed("a third suggestion")
        assert storage.expire_suggestions(eid, time.time() + 600) == 1
        changed("suggestion expired")
        self.suggest(storage, eid, point(4))
        changed("a fourth suggestion")
        storage.delete_suggestions(eid)
        changed("suggestions deleted")
        storage.update_experiment(eid, ExperimentPatch(metadata={"a": 1}, set_metadata=True))
        changed("experiment metadata")
        storage.update_experiment(eid, ExperimentPatch(name="renamed"))
        changed("experiment renamed")
        storage.create_queued_suggestion(eid, point(5))  # not the experiment's records
        storage.update_observation(
            other, self.observe(storage, other, assignments=point(6)).id, ObservationPatch()
        )
        self.suggest(storage, other, point(7))
        assert storage.experiment_version(eid) == seen[-1], "another experiment's writes"
        assert storage.get_suggestion(eid, third.id).deleted
        with pytest.raises(NotFoundError):
            storage.experiment_version(eid + other + 1000)
