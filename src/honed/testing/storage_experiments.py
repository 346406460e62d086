"""The ``ExperimentStore`` role.

Part of ``honed.testing.storage.StorageConformance``; subclass ``ExperimentConformance`` alone to
run only this role's tests (see ``RoleSuite`` for the fixture).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.metrics import Strategy
from honed.domain.paging import PageRequest
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.errors import NotFoundError
from honed.storage.base import Storage
from honed.storage.experiments import ExperimentPatch
from honed.storage.experiments import ExperimentQuery
from honed.testing.storage_support import SPACE
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import check_paging
from honed.testing.storage_support import make_spec
from honed.testing.storage_support import point


class ExperimentConformance(RoleSuite):
    def test_create_and_get_experiment(self, storage: Storage) -> None:
        client = storage.create_client("c")
        spec = make_spec(
            space=SearchSpace(
                parameters=(
                    *SPACE.parameters,
                    Parameter("g", ParameterType.DOUBLE, grid=(0.1, 0.2, 0.4)),
                    Parameter("l", ParameterType.DOUBLE, bounds=(1e-3, 1.0), transformation="log"),
                ),
                linear_constraints=(LinearConstraint("less_than", (("x", 1.0), ("g", 2)), 1.5),),
            ),
            metrics=(Metric("f"), Metric("cost", Objective.MINIMIZE, Strategy.STORE)),
            parallel_bandwidth=3,
        )
        created = storage.create_experiment(client.id, spec)
        assert created.client_id == client.id
        assert created.spec == spec
        assert created.state is ExperimentState.ACTIVE
        assert not created.is_deleted
        assert isinstance(created.created, int)
        assert isinstance(created.updated, int)
        assert created.created <= created.updated
        assert storage.get_experiment(created.id) == created
        with pytest.raises(NotFoundError):
            storage.get_experiment(created.id + 1000)
        with pytest.raises(NotFoundError):
            storage.create_experiment(client.id + 1000, spec)

    def test_list_experiments(self, storage: Storage) -> None:
        mine, theirs = storage.create_client("mine"), storage.create_client("theirs")
        ids = []
        for index in range(5):
            ids.append(storage.create_experiment(mine.id, make_spec(f"e{index}")).id)
            storage.create_experiment(theirs.id, make_spec(f"other{index}"))
        check_paging(lambda page: storage.list_experiments(mine.id, page), ids)

        deleted, kept = ids[1], [i for i in ids if i != ids[1]]
        development = storage.create_experiment(mine.id, make_spec("dev", development=True)).id
        storage.update_experiment(deleted, ExperimentPatch(state=ExperimentState.DELETED))

        def listed(states: Sequence[ExperimentState], dev: bool | None = None) -> list[int]:
            page = storage.list_experiments(mine.id, PageRequest(), states, dev)
            assert page.count == len(page.items)
            return [e.id for e in page.items]

        default = storage.list_experiments(mine.id, PageRequest())
        assert [e.id for e in default.items] == [development, *reversed(kept)]
        assert listed([ExperimentState.DELETED]) == [deleted]
        assert listed(list(ExperimentState)) == [development, *reversed(ids)]
        assert listed([ExperimentState.ACTIVE], dev=True) == [development]
        assert listed(list(ExperimentState), dev=False) == list(reversed(ids))

    def test_update_experiment(self, storage: Storage) -> None:
        experiment = self.experiment(storage)
        eid = experiment.id

        def update(**patch: Any) -> ExperimentSpec:
            updated = storage.update_experiment(eid, ExperimentPatch(**patch))
            assert storage.get_experiment(eid) == updated
            assert updated.state is ExperimentState.ACTIVE
            return updated.spec

        assert update(name="renamed").name == "renamed"
        spec = update(observation_budget=42, set_observation_budget=True)
        assert (spec.name, spec.observation_budget) == ("renamed", 42)
        spec = update(observation_budget=None, set_observation_budget=True)
        assert spec.observation_budget is None
        assert update(parallel_bandwidth=4, set_parallel_bandwidth=True).parallel_bandwidth == 4
        metadata = {"k": "v", "n": 2.5}
        assert update(metadata=metadata, set_metadata=True).metadata == metadata
        # A patch that does not set a field keeps it.
        spec = update(metadata=None, observation_budget=3, parallel_bandwidth=None)
        assert (spec.metadata, spec.observation_budget, spec.parallel_bandwidth) == (
            metadata,
            None,
            4,
        )
        assert update(metadata=None, set_metadata=True).metadata is None
        replacement = make_spec("from spec", observation_budget=7)
        assert update(spec=replacement) == replacement

        deleted = storage.update_experiment(eid, ExperimentPatch(state=ExperimentState.DELETED))
        assert deleted.is_deleted
        assert deleted.spec == replacement
        assert storage.get_experiment(eid).is_deleted
        restored = storage.update_experiment(eid, ExperimentPatch(state=ExperimentState.ACTIVE))
        assert restored.state is ExperimentState.ACTIVE
        assert experiment.spec.name == "conformance"  # the first snapshot never changed
        with pytest.raises(NotFoundError):
            storage.update_experiment(eid + 1000, ExperimentPatch(name="x"))

    def test_concurrent_updates_of_one_experiment_keep_both_fields(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        rounds = 40
        barrier = threading.Barrier(2)

        def set_budgets() -> None:
            barrier.wait(timeout=60)
            for value in range(1, rounds + 1):
                patch = ExperimentPatch(observation_budget=value, set_observation_budget=True)
                storage.update_experiment(eid, patch)

        def set_bandwidths() -> None:
            barrier.wait(timeout=60)
            for value in range(1, rounds + 1):
                patch = ExperimentPatch(parallel_bandwidth=value, set_parallel_bandwidth=True)
                storage.update_experiment(eid, patch)

        threads = [threading.Thread(target=set_budgets), threading.Thread(target=set_bandwidths)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        # Each update rewrites the whole spec: one read before the other's commit would
        # put back the other's older value.
        spec = storage.get_experiment(eid).spec
        assert (spec.observation_budget, spec.parallel_bandwidth) == (rounds, rounds)

    def test_experiment_search_recent_and_period(self, storage: Storage) -> None:
        client = storage.create_client("query")
        names = ["Alpha one", "beta TWO", "alpha%", "gamma_alphA"]
        ids = [storage.create_experiment(client.id, make_spec(n)).id for n in names]

        def listed(query: ExperimentQuery, page: PageRequest | None = None) -> list[int]:
            page = page or PageRequest()
            found = storage.list_experiments(client.id, page, query=query)
            assert found.count == len(found.items) or page.limit < found.count
            return [e.id for e in found.items]

        assert listed(ExperimentQuery(search="ALPHA")) == [ids[3], ids[2], ids[0]]
        # LIKE wildcards in the search are plain characters.
        assert listed(ExperimentQuery(search="a%")) == [ids[2]]
        assert listed(ExperimentQuery(search="_")) == [ids[3]]
        assert listed(ExperimentQuery(search="two")) == [ids[1]]
        # Touch the oldest: it is the most recently updated.
        self.observe(storage, ids[0], assignments=point(0))
        recent = [ids[0], ids[3], ids[2], ids[1]]
        assert listed(ExperimentQuery(recent=True)) == recent
        rising = listed(ExperimentQuery(recent=True), PageRequest(ascending=True))
        assert rising == recent[::-1]
        walked: list[int] = []
        page = storage.list_experiments(
            client.id, PageRequest(limit=1), query=ExperimentQuery(recent=True)
        )
        while True:
            walked.extend(e.id for e in page.items)
            if page.before is None:
                break
            request = PageRequest(limit=1, before=page.before, before_value=page.before_value)
            page = storage.list_experiments(client.id, request, query=ExperimentQuery(recent=True))
        assert walked == recent
        first = storage.get_experiment(ids[0]).created
        assert listed(ExperimentQuery(created_from=first + 3600)) == []
        assert listed(ExperimentQuery(created_before=first)) == []
        window = ExperimentQuery(created_from=first, created_before=first + 3600, search="beta")
        assert listed(window) == [ids[1]]
