"""The ``ObservationStore`` role: reports, repeats, idempotency keys, lists.

Part of ``honed.testing.storage.StorageConformance``; subclass ``ObservationConformance`` alone to
run only this role's tests (see ``RoleSuite`` for the fixture).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.metrics import Strategy
from honed.domain.paging import Page
from honed.domain.paging import PageRequest
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.ranking import best_observations
from honed.domain.ranking import budget_consumed
from honed.domain.ranking import budget_of_counts
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.domain.records import SuggestionState
from honed.domain.trials import STATUS_KEY
from honed.domain.trials import is_early_stopped
from honed.errors import InvalidRequestError
from honed.errors import UnprocessableError
from honed.storage.base import Storage
from honed.storage.observations import IdempotencyKey
from honed.storage.observations import NewObservation
from honed.storage.observations import ObservationOrder
from honed.storage.observations import ObservationPatch
from honed.testing.storage_support import RoleSuite
from honed.testing.storage_support import check_paging
from honed.testing.storage_support import check_sorted_paging
from honed.testing.storage_support import list_observations_by
from honed.testing.storage_support import make_spec
from honed.testing.storage_support import point

# How ``test_update_observation`` changes an observation, and what it expects to change.
# Every case runs on its own observation; fields a patch leaves out must keep their values.
OBSERVATION_PATCHES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "values": (
        {"values": (MetricValue("f", 9.0, None),)},
        {"values": ({"name": "f", "value": 9.0, "value_stddev": None},)},
    ),
    "failed": ({"values": (), "failed": True}, {"values": (), "failed": True}),
    "metadata": ({"metadata": {"k": 1}, "set_metadata": True}, {"metadata": {"k": 1}}),
    "clear-metadata": ({"metadata": None, "set_metadata": True}, {"metadata": None}),
    "metadata-unset": ({"metadata": {"k": 1}}, {}),
    "assignments": ({"assignments": point(7)}, {"suggestion_id": None, "assignments": point(7)}),
    "nothing": ({}, {}),
}


def _constrained(i: int) -> tuple[float, ...]:
    """loss, memory (at most 1.5), seconds."""
    if i == 4:
        return (0.1, 2.0, 1.0)  # the lowest loss, over the memory limit
    if i == 11:
        return (0.05, 1.0, 1.0)  # lower still, but stopped early
    if i in (8, 12, 14):
        return (0.2, 1.0, 1.0)  # tied for best: the earliest wins
    return (1 + i % 6 / 10, 1 + i % 3 / 2, 1.0)


def _two_metrics(i: int) -> tuple[float, ...]:
    """f (at least 0.4), g (at most 2)."""
    if i == 4:
        return (10.0, 2.5)  # would lead the front, but over g's threshold
    if i in (8, 12):
        return (5.0, 0.5)  # the same point twice: both on the front
    return (float(i % 5), (i * 3) % 7 / 2)


def _multitask(i: int) -> tuple[float, ...]:
    """f, at the cheap task for even i, the full one for odd i."""
    if i == 4:
        return (10.0,)  # the highest, at the cheap task: not a best
    if i in (13, 15):
        return (5.0,)
    return (i % 6 / 10,)


# Experiments whose observations ``test_observation_totals_are_the_observations_figures``
# sums up (every 7th failed, every 5th stopped early): what makes an observation count for
# best differs in each. Each comes with its values by index, in metric name order.
TOTALS_CASES: dict[str, tuple[ExperimentSpec, Callable[[int], tuple[float, ...]]]] = {
    "minimized, with a constraint": (
        make_spec(
            metrics=(
                Metric("loss", Objective.MINIMIZE),
                Metric("memory", Objective.MINIMIZE, Strategy.CONSTRAINT, threshold=1.5),
                Metric("seconds", Objective.MINIMIZE, Strategy.STORE),
            )
        ),
        _constrained,
    ),
    "two metrics, thresholded": (
        make_spec(
            metrics=(
                Metric("f", Objective.MAXIMIZE, threshold=0.4),
                Metric("g", Objective.MINIMIZE, threshold=2.0),
            )
        ),
        _two_metrics,
    ),
    "multitask": (make_spec(tasks=(Task("cheap", 0.3), Task("full", 1.0))), _multitask),
}


class ObservationConformance(RoleSuite):
    def test_create_observations(self, storage: Storage) -> None:
        experiment = self.experiment(storage)
        eid = experiment.id
        suggestion = self.suggest(storage, eid, {"x": 0.5, "n": 3, "c": "b"})
        observation = self.observe(storage, eid, suggestion.id, value=2.5)
        assert observation.experiment_id == eid
        assert observation.suggestion_id == suggestion.id
        assert observation.assignments == {"x": 0.5, "n": 3, "c": "b"}
        assert observation.values == (MetricValue("f", 2.5, 0.1),)
        assert (observation.failed, observation.metadata, observation.deleted) == (
            False,
            {"host": "h"},
            False,
        )
        assert isinstance(observation.created, int)
        assert storage.get_observation(eid, observation.id) == observation
        closed = storage.get_suggestion(eid, suggestion.id)
        assert closed.state is SuggestionState.CLOSED
        assert not closed.is_open
        assert suggestion.is_open  # the earlier snapshot is unchanged
        # More observations of a closed suggestion are allowed; it stays closed.
        failed = self.observe(storage, eid, suggestion.id, failed=True)
        assert (failed.failed, failed.values, failed.suggestion_id) == (True, (), suggestion.id)
        assert storage.get_suggestion(eid, suggestion.id).state is SuggestionState.CLOSED
        raw = self.observe(storage, eid, assignments=point(3), value=-1e300)
        assert (raw.suggestion_id, raw.assignments, raw.values[0].value) == (
            None,
            point(3),
            -1e300,
        )
        assert storage.get_experiment(eid).updated >= experiment.updated

    def test_repeated_observation_is_stored_once(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        suggestion = self.suggest(storage, eid, point(0))
        first = self.observe(storage, eid, suggestion.id, value=2.5)
        # The same report again (a retry): the stored observation, nothing new.
        assert self.observe(storage, eid, suggestion.id, value=2.5) == first
        assert storage.count_observations(eid) == 1
        # Other values for the same suggestion are a second observation, as in SigOpt.
        second = self.observe(storage, eid, suggestion.id, value=3.0)
        assert second.id != first.id
        assert storage.count_observations(eid) == 2

    def test_a_batch_naming_a_suggestion_twice(self, storage: Storage) -> None:
        """The second sees the suggestion as the first left it, closed: the same report
        again is a repeat, other values a second observation."""
        eid = self.experiment(storage).id
        suggestion = self.suggest(storage, eid, point(0))
        same = NewObservation(suggestion.id, None, (MetricValue("f", 1.0),), False, None)
        other = dataclasses.replace(same, values=(MetricValue("f", 2.0),))
        created = storage.create_observations(eid, [same, same, other])
        assert created[1] == created[0]
        assert created[2].id != created[0].id
        assert storage.count_observations(eid) == 2

    def test_idempotency_keys(self, storage: Storage) -> None:
        experiment = self.experiment(storage)
        eid, client = experiment.id, experiment.client_id
        suggestion = self.suggest(storage, eid, point(0))
        other = self.suggest(storage, eid, point(1))
        key = IdempotencyKey(client, "key-1", "hash-1")

        def observe(suggestion_id: int, value: float, idem: IdempotencyKey) -> list[Observation]:
            new = NewObservation(suggestion_id, None, (MetricValue("f", value),), False, None)
            return storage.observe(eid, lambda _e: [new], idem)[1]

        first = observe(suggestion.id, 1.0, key)
        assert observe(suggestion.id, 1.0, key) == first
        # The key alone decides: even a request that would store something new replays.
        assert observe(other.id, 5.0, key) == first
        assert storage.count_observations(eid) == 1
        with pytest.raises(UnprocessableError):
            observe(suggestion.id, 1.0, IdempotencyKey(client, "key-1", "another request"))
        # Keys are per client.
        foreign = IdempotencyKey(storage.create_client("other").id, "key-1", "hash-1")
        assert observe(other.id, 5.0, foreign)[0].id != first[0].id
        assert storage.purge_idempotency_keys(time.time() + 1) == 2
        assert observe(suggestion.id, 1.0, key) == first  # a repeat of the same report

    def test_observation_batch_is_all_or_nothing(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        good = self.suggest(storage, eid, point(0))
        deleted = self.suggest(storage, eid, point(1)).id
        storage.delete_suggestions(eid, deleted)
        bad_ids = {
            "missing": good.id + 1000,
            "other-experiment": self.suggest(storage, self.experiment(storage).id, point(1)).id,
            "deleted": deleted,
        }
        values = (MetricValue("f", 1.0),)
        for kind, bad_id in bad_ids.items():
            batch = [
                NewObservation(good.id, None, values, False, None),
                NewObservation(None, point(2), values, False, None),
                NewObservation(bad_id, None, values, False, None),
            ]
            with pytest.raises(InvalidRequestError):
                storage.create_observations(eid, batch)
            assert storage.count_observations(eid) == 0, kind
            assert storage.list_observations(eid, PageRequest()).count == 0, kind
            assert storage.get_suggestion(eid, good.id).is_open, kind
        created = storage.create_observations(eid, batch[:2])
        assert [o.suggestion_id for o in created] == [good.id, None]
        assert created[0].id < created[1].id
        assert storage.all_observations(eid) == created
        assert not storage.get_suggestion(eid, good.id).is_open

    def test_list_count_delete_observations(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        self.observe(storage, self.experiment(storage).id, assignments=point(0))
        made = [self.observe(storage, eid, assignments=point(i), value=i) for i in range(6)]
        ids = [o.id for o in made]
        check_paging(lambda page: storage.list_observations(eid, page), ids)
        assert storage.all_observations(eid) == made
        assert storage.count_observations(eid) == 6

        assert storage.delete_observations(eid, ids[2]) == 1
        assert storage.delete_observations(eid, ids[2]) == 0
        assert storage.count_observations(eid) == 5
        assert [o.id for o in storage.all_observations(eid)] == ids[:2] + ids[3:]
        live = storage.list_observations(eid, PageRequest())
        assert ([o.id for o in live.items], live.count) == ([*reversed(ids[3:]), *ids[1::-1]], 5)
        gone = storage.list_observations(eid, PageRequest(), deleted=True)
        assert [o.id for o in gone.items] == [ids[2]]
        assert gone.items[0].deleted
        assert storage.get_observation(eid, ids[2]).deleted

        assert storage.delete_observations(eid) == 5
        assert storage.count_observations(eid) == 0
        assert storage.all_observations(eid) == []
        assert storage.list_observations(eid, PageRequest(), deleted=True).count == 6

    def test_sorted_observations(self, storage: Storage) -> None:
        spec = make_spec(
            metrics=(Metric("f", Objective.MAXIMIZE), Metric("g", Objective.MINIMIZE))
        )
        eid = storage.create_experiment(storage.create_client("sorted").id, spec).id
        # Ties everywhere (ids break them) and a failed observation (no values: sorts on top).
        rows = [(0.5, 0.1, 3), (0.2, None, 1), (0.5, 0.3, 0), (None, None, 7), (-1.0, 0.1, 2)]
        made: dict[int, tuple[Any, ...]] = {}
        for index, (f, stddev, n) in enumerate(rows):
            values = (
                ()
                if f is None
                else (MetricValue("f", f, stddev), MetricValue("g", float(index), None))
            )
            assignments: dict[str, float | int | str]
            assignments = {"x": n / 10, "n": 1 + n % 5, "c": "ba"[index % 2]}
            if index == 4:
                assignments = {"x": 0.35, "n": 2, "c": "a"}
            new = NewObservation(None, assignments, values, f is None, None)
            made[storage.create_observations(eid, [new])[0].id] = (f, stddev, index, assignments)

        def listed(order: ObservationOrder) -> Callable[[PageRequest], Page[Any]]:
            return lambda page: storage.list_observations(eid, page, order=order)

        orders: list[tuple[ObservationOrder, Callable[[tuple[Any, ...]], Any]]] = [
            (ObservationOrder(field="value", metric_index=0), lambda m: m[0]),
            (ObservationOrder(field="value_stddev", metric_index=0), lambda m: m[1]),
            (
                ObservationOrder(field="value", metric_index=1),
                lambda m: None if m[0] is None else float(m[2]),
            ),
            (ObservationOrder(field="parameter", parameter="x"), lambda m: m[3]["x"]),
            (ObservationOrder(field="parameter", parameter="n"), lambda m: float(m[3]["n"])),
            (ObservationOrder(field="parameter", parameter="c", text=True), lambda m: m[3]["c"]),
        ]
        for order, value in orders:
            check_sorted_paging(listed(order), {i: value(m) for i, m in made.items()})
        # Any parameter name can be sorted by, whatever JSON paths make of it.
        odd = ('say "hi"', "dotted.name", "ünï [0]", "it's")
        odd_space = SearchSpace(
            parameters=tuple(Parameter(n, ParameterType.DOUBLE, bounds=(0.0, 1.0)) for n in odd)
        )
        odd_id = storage.create_experiment(
            storage.create_client("odd").id, make_spec(space=odd_space)
        ).id
        odd_values: dict[int, Any] = {}
        for x in (0.3, 0.9, 0.1):
            new = NewObservation(
                None, dict.fromkeys(odd, x), (MetricValue("f", 1.0),), False, None
            )
            odd_values[storage.create_observations(odd_id, [new])[0].id] = x
        for name in odd:
            check_sorted_paging(
                partial(
                    list_observations_by,
                    storage,
                    odd_id,
                    ObservationOrder(field="parameter", parameter=name),
                ),
                odd_values,
            )

        # Created one after another: by time is by id.
        stamps = storage.list_observations(eid, PageRequest(), order=ObservationOrder("created"))
        assert [o.id for o in stamps.items] == sorted(made, reverse=True)

    @pytest.mark.parametrize("kind", list(TOTALS_CASES))
    def test_observation_totals_are_the_observations_figures(
        self, storage: Storage, kind: str
    ) -> None:
        """Counts, budget, first, last and best as honed.domain computes them from every
        observation: failed, stopped early, infeasible, deleted, tied and cheaper-task ones."""
        spec, values_of = TOTALS_CASES[kind]
        experiment = storage.create_experiment(storage.create_client("totals").id, spec)
        eid = experiment.id
        empty = storage.observation_totals(experiment)
        assert (empty.count, empty.first, empty.last, empty.best, empty.front) == (
            0,
            None,
            None,
            None,
            0,
        )
        names = sorted(str(m.name) for m in spec.metrics)
        tasks: list[str | None] = [t.name for t in spec.tasks] or [None]
        made = []
        for i in range(40):
            failed = i % 7 == 3
            values = tuple(MetricValue(n, v) for n, v in zip(names, values_of(i), strict=True))
            metadata = {STATUS_KEY: "early_stopped"} if i % 5 == 1 else {"host": "h"}
            new = NewObservation(
                None, point(i), () if failed else values, failed, metadata, tasks[i % len(tasks)]
            )
            made.append(storage.create_observations(eid, [new])[0])
        for deleted in (made[0], made[10], made[-1]):
            storage.delete_observations(eid, deleted.id)
        observations = storage.all_observations(eid)
        totals = storage.observation_totals(experiment)
        assert totals.count == len(observations) == 37
        assert totals.failed == sum(o.failed for o in observations)
        assert totals.early_stopped == sum(is_early_stopped(o) for o in observations)
        assert budget_of_counts(spec, dict(totals.per_task)) == budget_consumed(spec, observations)
        assert (totals.first, totals.last) == (observations[0], observations[-1])
        best = best_observations(spec, observations)
        if len(spec.optimized_metrics) == 1:
            assert (totals.best, totals.front) == (best[0], 0)
        else:
            assert (totals.best, totals.front) == (None, len(best))
            assert storage.pareto_front(experiment) == best

    @pytest.mark.parametrize(
        "objectives",
        [
            (Objective.MAXIMIZE, Objective.MAXIMIZE),
            (Objective.MAXIMIZE, Objective.MINIMIZE),
            (Objective.MINIMIZE, Objective.MINIMIZE),
        ],
    )
    def test_pareto_front_is_the_observations_front(
        self, storage: Storage, objectives: tuple[Objective, Objective]
    ) -> None:
        """Computed where the observations are stored, the front is honed.domain.ranking's
        of the observations that count for best, in its order: values on a small grid tie
        on either metric and repeat whole points, and failed, stopped early and deleted
        observations are left out. The first optimized metric is not the first by name."""
        spec = make_spec(
            metrics=(
                Metric("g", objectives[0]),
                Metric("f", objectives[1]),
                Metric("seconds", Objective.MINIMIZE, Strategy.STORE),
            )
        )
        experiment = storage.create_experiment(storage.create_client("front").id, spec)
        eid = experiment.id
        assert storage.pareto_front(experiment) == []
        made = []
        for i in range(60):
            failed = i % 11 == 5
            # In name order: f, g, seconds. f and g take 4 values each, every pair of them
            # about 4 times, so ties abound.
            values = (
                MetricValue("f", float(i % 4)),
                MetricValue("g", (i // 4) % 4 / 2),
                MetricValue("seconds", 100.0 - i),
            )
            metadata = {STATUS_KEY: "early_stopped"} if i % 9 == 4 else None
            new = NewObservation(None, point(i), () if failed else values, failed, metadata)
            made.append(storage.create_observations(eid, [new])[0])
        for deleted in made[3::13]:
            storage.delete_observations(eid, deleted.id)
        front = best_observations(spec, storage.all_observations(eid))
        assert 1 < len(front) < 40
        assert storage.pareto_front(experiment) == front
        assert storage.observation_totals(experiment).front == len(front)

    def test_update_observation(self, storage: Storage) -> None:
        eid = self.experiment(storage).id
        for case, (patch, changes) in OBSERVATION_PATCHES.items():
            suggestion = self.suggest(storage, eid, point(1))
            before = self.observe(storage, eid, suggestion.id, value=1.0)
            after = storage.update_observation(eid, before.id, ObservationPatch(**patch))
            expected = {**dataclasses.asdict(before), **changes}
            assert dataclasses.asdict(after) == expected, case
            assert storage.get_observation(eid, before.id) == after, case
        # Naming a suggestion closes it and takes its assignments.
        other = self.suggest(storage, eid, point(2))
        after = storage.update_observation(
            eid, before.id, ObservationPatch(suggestion_id=other.id)
        )
        assert (after.suggestion_id, after.assignments) == (other.id, point(2))
        assert storage.get_suggestion(eid, other.id).state is SuggestionState.CLOSED
