"""Experiments: the definition a user gives, and the stored snapshot honed returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from honed.domain.metrics import Metric
from honed.domain.metrics import Strategy
from honed.domain.parameters import Parameter
from honed.domain.parameters import SearchSpace
from honed.errors import InvalidRequestError

Metadata = Mapping[str, str | float | int]


class ExperimentType(StrEnum):
    OFFLINE = "offline"
    RANDOM = "random"
    GRID = "grid"


class ExperimentState(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(frozen=True)
class Task:
    """Multitask: a cheaper variant of the evaluation (fewer epochs, a data subset) and its
    cost relative to the full one. Exactly one task of an experiment costs 1: the target,
    the only one whose results count as best."""

    name: str
    cost: float


@dataclass(frozen=True)
class ExperimentSpec:
    """What a user defines: validated by honed.domain.validation before it is stored."""

    name: str
    space: SearchSpace
    metrics: tuple[Metric, ...]
    type: ExperimentType = ExperimentType.OFFLINE
    observation_budget: int | None = None
    parallel_bandwidth: int | None = None
    metadata: Metadata | None = None
    development: bool = False
    #: An AI experiment: evaluated through training runs; its budget is observation_budget.
    runs_only: bool = False
    #: The reference id of the project it belongs to, if any.
    project: str | None = None
    #: honed's extension: open suggestions expire this long after they were handed out or
    #: last updated by their worker (None: never, as in SigOpt).
    suggestion_ttl_seconds: float | None = None
    #: Multisolution: how many good, diverse solutions to search for and report (SigOpt's
    #: num_solutions; None or 1: the single best).
    num_solutions: int | None = None
    #: Multitask: two or more tasks, one of cost 1 (empty: a plain experiment).
    tasks: tuple[Task, ...] = ()

    @property
    def solutions(self) -> int:
        return self.num_solutions or 1

    @property
    def target_task(self) -> Task | None:
        """The task of cost 1 of a multitask experiment (None for a plain one)."""
        return next((t for t in self.tasks if t.cost == 1.0), None)

    def task_cost(self, name: str | None) -> float:
        """The cost of a task by name: 1 for a plain experiment's evaluations."""
        return next((t.cost for t in self.tasks if t.name == name), 1.0)

    def task_named(self, name: str | None) -> Task | None:
        """The task called ``name``, or None (a plain experiment, or no such task)."""
        return next((t for t in self.tasks if t.name == name), None)

    def check_task(self, name: str | None, path: str = "task") -> str | None:
        """``name`` if it is right for a point of this experiment: a task of a multitask
        experiment (required there), and none for a plain one; else InvalidRequestError
        naming ``path``."""
        if not self.tasks:
            if name is not None:
                raise InvalidRequestError(
                    f"Invalid {path}: this experiment is not multitask (it has no tasks)"
                )
            return None
        names = ", ".join(repr(t.name) for t in self.tasks)
        if name is None:
            raise InvalidRequestError(
                f"Invalid {path}: a multitask experiment needs the task, one of {names}"
            )
        if self.task_named(name) is None:
            raise InvalidRequestError(
                f"Invalid {path}: {name!r} is not a task of this experiment ({names})"
            )
        return name

    @property
    def optimized_metrics(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.strategy is Strategy.OPTIMIZE)

    @property
    def constraint_metrics(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.strategy is Strategy.CONSTRAINT)


@dataclass(frozen=True)
class Experiment:
    """A stored experiment. ``client_id`` is the tenant that owns it."""

    id: int
    client_id: int
    spec: ExperimentSpec
    state: ExperimentState
    created: int
    updated: int

    @property
    def is_deleted(self) -> bool:
        return self.state is ExperimentState.DELETED


@dataclass(frozen=True)
class ExperimentUpdate:
    """A partial update: None leaves a field unchanged; the ``set_*`` flags allow nulls."""

    name: str | None = None
    state: ExperimentState | None = None
    observation_budget: int | None = None
    set_observation_budget: bool = False
    parallel_bandwidth: int | None = None
    set_parallel_bandwidth: bool = False
    metadata: dict[str, object] | None = None
    set_metadata: bool = False
    parameters: tuple[Parameter, ...] | None = None
    metrics: tuple[Metric, ...] | None = None
    project: str | None = None
    set_project: bool = False
    suggestion_ttl_seconds: float | None = None
    set_suggestion_ttl: bool = False
