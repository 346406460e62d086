"""Multitask: the task a point is evaluated at when its engine chose none.

An engine may choose a task per point (``Proposal.tasks``); where it does not, the caller
picks here. During the initial design the sequence engine's points cycle through the
tasks, cheapest first (the design index is the engine's cursor), so that every task is
observed at several design points: a multi-fidelity model learns how the tasks relate only
from points of each (``honed.engine.design`` sizes the design for that). After the design,
points an engine chose without a task (an engine that knows no tasks) are evaluated at the
target task, the one of cost 1, whose results are the ones that count; so are fallback
points, while the target task has a free one.

Every function returns None for a plain experiment (no tasks).
"""

from __future__ import annotations

from collections.abc import Sequence

from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import Task
from honed.engine.base import Proposal
from honed.engine.design import initial_design_size


def cheapest_first(spec: ExperimentSpec) -> tuple[Task, ...]:
    """The experiment's tasks by cost, cheapest first (costs are distinct)."""
    return tuple(sorted(spec.tasks, key=lambda task: task.cost))


def target_task(spec: ExperimentSpec) -> str | None:
    """The name of the task of cost 1, or None for a plain experiment."""
    target = spec.target_task
    return target.name if target is not None else None


def design_task(spec: ExperimentSpec, cursor: int) -> str | None:
    """The task of the sequence engine's point proposed at ``cursor``: within the initial
    design (``cursor`` below its size) the tasks in turn, cheapest first; past it the
    target task."""
    if not spec.tasks:
        return None
    if 0 <= cursor < initial_design_size(spec):
        ordered = cheapest_first(spec)
        return ordered[cursor % len(ordered)].name
    return target_task(spec)


def proposal_tasks(spec: ExperimentSpec, proposal: Proposal) -> list[str | None]:
    """The task of each of ``proposal``'s points: the engine's choice where it made one,
    else the target task (all None for a plain experiment).

    Raises ValueError for an engine's choice that names no task of the experiment, or a
    ``tasks`` list that is not parallel to the points: an engine fault, which the optimizer
    loop records rather than storing candidates nobody could evaluate.
    """
    count = len(proposal.points)
    if not spec.tasks:
        return [None] * count
    chosen: Sequence[str | None] = proposal.tasks if proposal.tasks is not None else [None] * count
    if len(chosen) != count:
        raise ValueError(
            f"the engine proposed {count} points but {len(chosen)} tasks; "
            "Proposal.tasks must be parallel to Proposal.points"
        )
    names = {task.name for task in spec.tasks}
    target = target_task(spec)
    tasks: list[str | None] = []
    for task in chosen:
        if task is not None and task not in names:
            raise ValueError(
                f"the engine chose the task {task!r}, which is not one of the experiment's "
                f"({', '.join(sorted(names))})"
            )
        tasks.append(task if task is not None else target)
    return tasks
