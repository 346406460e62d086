"""Multitask: which task a point gets when its engine chose none (honed.engine.tasks)."""

from __future__ import annotations

import pytest

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.engine.base import Proposal
from honed.engine.design import initial_design_size
from honed.engine.tasks import cheapest_first
from honed.engine.tasks import design_task
from honed.engine.tasks import proposal_tasks
from honed.engine.tasks import target_task

SPACE = SearchSpace((Parameter("x", ParameterType.DOUBLE, bounds=(0.0, 1.0)),))


def spec(*tasks: Task) -> ExperimentSpec:
    return ExperimentSpec("t", SPACE, (Metric("f"),), observation_budget=20, tasks=tasks)


# Given out of cost order: the cycle goes by cost.
THREE = spec(Task("full", 1.0), Task("tenth", 0.1), Task("half", 0.5))
PLAIN = spec()


def test_the_design_cycles_through_the_tasks_cheapest_first_then_the_target() -> None:
    assert [t.name for t in cheapest_first(THREE)] == ["tenth", "half", "full"]
    design = initial_design_size(THREE)
    assert design == 6  # two points of each task, more than a plain one-parameter design
    assert initial_design_size(PLAIN) == 5
    tasks = [design_task(THREE, cursor) for cursor in range(design + 3)]
    assert tasks[:design] == ["tenth", "half", "full"] * 2
    assert tasks[design:] == ["full"] * 3
    assert target_task(THREE) == "full"
    assert [design_task(PLAIN, cursor) for cursor in range(3)] == [None] * 3
    assert target_task(PLAIN) is None


def test_a_large_design_keeps_its_size_and_gives_every_task_several_points() -> None:
    many = [Parameter(f"x{i}", ParameterType.DOUBLE, bounds=(0.0, 1.0)) for i in range(20)]
    wide = ExperimentSpec(
        "w",
        SearchSpace(tuple(many)),
        (Metric("f"),),
        observation_budget=20,
        tasks=(Task("cheap", 0.2), Task("full", 1.0)),
    )
    design = initial_design_size(wide)
    assert design == 10
    tasks = [design_task(wide, cursor) for cursor in range(design)]
    assert (tasks.count("cheap"), tasks.count("full")) == (5, 5)


def test_a_proposals_points_get_the_engines_task_or_the_target() -> None:
    points: list[dict[str, float | int | str]] = [{"x": 0.1}, {"x": 0.2}, {"x": 0.3}]
    assert proposal_tasks(THREE, Proposal(points, 0)) == ["full"] * 3
    chosen = Proposal(points, 0, tasks=["tenth", None, "half"])
    assert proposal_tasks(THREE, chosen) == ["tenth", "full", "half"]
    assert proposal_tasks(PLAIN, chosen) == [None] * 3
    assert proposal_tasks(THREE, Proposal([], 0)) == []


@pytest.mark.parametrize(
    ("tasks", "fragment"),
    [(["tenth", "nope", None], "'nope'"), (["tenth"], "parallel")],
)
def test_an_engines_wrong_tasks_are_refused(tasks: list[str | None], fragment: str) -> None:
    points: list[dict[str, float | int | str]] = [{"x": 0.1}, {"x": 0.2}, {"x": 0.3}]
    with pytest.raises(ValueError, match=fragment):
        proposal_tasks(THREE, Proposal(points, 0, tasks=tasks))
