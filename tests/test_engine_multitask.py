"""Multitask in the engine: every proposed point comes with a task of the experiment, the
choice weighs information against cost, open suggestions at their tasks are pending, a
point observed at one task is still new at another, and a mixed space (an integer, a
categorical) is searched like any other."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import pytest
import torch
from botorch.acquisition.acquisition import AcquisitionFunction

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import Task
from honed.domain.metrics import Metric
from honed.domain.metrics import Objective
from honed.domain.parameters import Assignments
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import Observation
from honed.engine.base import ProposalRequest
from honed.engine.botorch import multitask
from honed.engine.botorch import task_search
from honed.engine.botorch.encoding import Encoding
from honed.engine.botorch.engine import BoTorchEngine

SPACE = SearchSpace(
    (
        Parameter("x", ParameterType.DOUBLE, (0.0, 1.0)),
        Parameter("y", ParameterType.DOUBLE, (0.0, 1.0)),
    )
)
MIXED = SearchSpace(
    (
        Parameter("x", ParameterType.DOUBLE, (0.0, 1.0)),
        Parameter("layers", ParameterType.INT, (1, 6)),
        Parameter("kind", ParameterType.CATEGORICAL, categorical_values=("a", "b", "c")),
    )
)


def experiment(tasks: tuple[Task, ...], space: SearchSpace = SPACE) -> Experiment:
    spec = ExperimentSpec(
        "multitask",
        space,
        (Metric("loss", Objective.MINIMIZE),),
        observation_budget=20,
        tasks=tasks,
    )
    return Experiment(3, 1, spec, ExperimentState.ACTIVE, 0, 0)


def loss(point: Assignments, task: str) -> float:
    """A bowl at (0.3, 0.6); the cheap task sees it shifted a little and scaled."""
    x, y = float(point["x"]), float(point.get("y", 0.5))
    shift = 0.05 if task == "cheap" else 0.0
    bowl = (x - 0.3 - shift) ** 2 + (y - 0.6) ** 2
    return (0.8 if task == "cheap" else 1.0) * bowl + 0.1 * math.sin(7 * x)


def observed(points: list[tuple[Assignments, str]]) -> list[Observation]:
    return [
        Observation(i + 1, 3, None, p, (MetricValue("loss", loss(p, t)),), False, None, 0, task=t)
        for i, (p, t) in enumerate(points)
    ]


DESIGN: list[tuple[Assignments, str]] = [
    ({"x": 0.1, "y": 0.2}, "cheap"),
    ({"x": 0.8, "y": 0.9}, "full"),
    ({"x": 0.5, "y": 0.5}, "cheap"),
    ({"x": 0.2, "y": 0.7}, "full"),
    ({"x": 0.9, "y": 0.1}, "cheap"),
]


def test_each_point_has_a_task_and_pending_points_are_avoided() -> None:
    tasks = (Task("full", 1.0), Task("cheap", 0.2))
    pending: list[Assignments] = [{"x": 0.31, "y": 0.59}]
    proposal = BoTorchEngine().propose(
        ProposalRequest(
            experiment(tasks), 5, pending, observed(DESIGN), count=2, pending_tasks=["full"]
        )
    )
    assert len(proposal.points) == 2
    assert proposal.tasks is not None
    assert len(proposal.tasks) == 2
    assert set(proposal.tasks) <= {"full", "cheap"}
    hashes = {point_hash(p, t) for p, t in zip(proposal.points, proposal.tasks, strict=True)}
    assert len(hashes) == 2
    assert point_hash(pending[0], "full") not in hashes
    for point in proposal.points:
        SPACE.check_assignments(point)


def test_a_batch_spreads_away_from_an_open_suggestion() -> None:
    """An open suggestion where the acquisition would put its point, and a batch of three
    more (as for workers asking at once): each lands away from the open suggestion and
    from the others, rather than around it, a hair apart."""
    tasks = (Task("full", 1.0), Task("cheap", 0.2))
    open_point = {"x": 0.4367, "y": 0.3504}  # the proposal with nothing pending
    proposal = BoTorchEngine().propose(
        ProposalRequest(
            experiment(tasks), 5, [open_point], observed(DESIGN), 3, pending_tasks=["cheap"]
        )
    )
    points = [(float(p["x"]), float(p["y"])) for p in proposal.points]
    assert len(points) == 3
    for i, point in enumerate(points):
        assert math.dist(point, (open_point["x"], open_point["y"])) > 0.1
        for other in points[i + 1 :]:
            assert math.dist(point, other) > 0.1


def test_a_nearly_free_task_is_chosen_while_much_is_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At a hundredth of the cost, an evaluation of the correlated cheap task tells far
    more per unit cost than a full one, five observations into the search. The proposal's
    fit and candidate times are logged, as a plain experiment's are."""
    tasks = (Task("full", 1.0), Task("cheap", 0.01))
    with caplog.at_level(logging.INFO, logger="honed.engine.botorch.engine"):
        proposal = BoTorchEngine().propose(
            ProposalRequest(experiment(tasks), 5, [], observed(DESIGN), count=1)
        )
    assert proposal.tasks == ["cheap"]
    (record,) = [r for r in caplog.records if "multitask model" in r.getMessage()]
    assert record.__dict__["training_points"] == len(DESIGN)
    assert record.__dict__["fit_seconds"] > 0
    assert record.__dict__["candidate_seconds"] > 0


def test_a_point_observed_at_a_cheaper_task_is_new_at_the_full_one() -> None:
    """Every point of a small space observed at the cheap task: the full task is still
    to be evaluated anywhere, and the engine proposes a point there rather than finding
    the space used up."""
    tasks = (Task("full", 1.0), Task("cheap", 0.5))
    space = SearchSpace((Parameter("x", ParameterType.INT, (1, 6)),))
    design: list[tuple[Assignments, str]] = [({"x": x}, "cheap") for x in range(1, 7)]
    proposal = BoTorchEngine().propose(
        ProposalRequest(experiment(tasks, space), 6, [], observed(design), count=1)
    )
    assert proposal.tasks == ["full"]
    assert len(proposal.points) == 1
    assert proposal.points[0] in [point for point, _ in design]


def test_a_mixed_space_gets_valid_points() -> None:
    tasks = (Task("full", 1.0), Task("cheap", 0.1))
    design: list[tuple[Assignments, str]] = [
        ({"x": 0.1 * i, "layers": 1 + i % 6, "kind": "abc"[i % 3]}, ("cheap", "full")[i % 2])
        for i in range(6)
    ]
    proposal = BoTorchEngine().propose(
        ProposalRequest(experiment(tasks, MIXED), 6, [], observed(design), count=1)
    )
    assert proposal.tasks is not None
    assert proposal.tasks[0] in {"full", "cheap"}
    MIXED.check_assignments(proposal.points[0])
    assert isinstance(proposal.points[0]["layers"], int)


@pytest.mark.parametrize("failed", [True, False])
def test_too_little_data_to_fit_leaves_the_task_to_the_caller(failed: bool) -> None:
    """With fewer than two usable results (here: the design failed, or reported no task)
    the engine proposes a design point and chooses no task."""
    tasks = (Task("full", 1.0), Task("cheap", 0.1))
    observations = [
        Observation(
            i + 1,
            3,
            None,
            p,
            () if failed else (MetricValue("loss", 1.0),),
            failed,
            None,
            0,
            task=t if failed else None,
        )
        for i, (p, t) in enumerate(DESIGN)
    ]
    proposal = BoTorchEngine().propose(
        ProposalRequest(experiment(tasks), 5, [], observations, count=1)
    )
    assert proposal.tasks is None
    assert len(proposal.points) == 1


def test_the_tasks_searched_together_choose_what_they_choose_one_after_the_other() -> None:
    """In a continuous space every task's restarts are ascended in one batch: from the same
    random state, the same starts and the same ascents as the search one task at a time
    (that of mixed spaces), so the same points and tasks."""
    tasks = (Task("full", 1.0), Task("medium", 0.4), Task("cheap", 0.1))
    spec = experiment(tasks).spec
    encoding = Encoding.of(spec.space)
    usable = multitask.task_observations(spec, observed(DESIGN))
    model = multitask.fit_task_model(spec, encoding, usable)
    engine = BoTorchEngine()

    def chosen(together: bool) -> list[tuple[list[float], str]]:
        torch.manual_seed(0)
        choices = multitask.choose(
            spec,
            encoding,
            model,
            [({"x": 0.3, "y": 0.6}, "full")],
            1,
            lambda acquisition, costs: (
                task_search.optimize_together(acquisition, encoding, costs)
                if together
                else task_search.optimize_apart(
                    acquisition, encoding, costs, engine._optimize_batch
                )
            ),
            seed=5,
            taken=lambda x, task: False,
        )
        return [(c.x.tolist(), c.task) for c in choices]

    apart, together = chosen(False), chosen(True)
    assert [task for _, task in together] == [task for _, task in apart]
    for (x, _), (y, _) in zip(together, apart, strict=True):
        assert x == pytest.approx(y, abs=5e-3)  # to L-BFGS-B's tolerance


def test_a_batch_is_chosen_by_one_acquisition() -> None:
    """The max values (a posterior over all the candidates) are drawn once per batch, not
    once per point."""
    tasks = (Task("full", 1.0), Task("cheap", 0.1))
    spec = experiment(tasks).spec
    encoding = Encoding.of(spec.space)
    model = multitask.fit_task_model(
        spec, encoding, multitask.task_observations(spec, observed(DESIGN))
    )
    seen: list[AcquisitionFunction] = []

    def optimize(
        acquisition: AcquisitionFunction, costs: Sequence[float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        seen.append(acquisition)
        # A point per task, each new: the search itself is not what is tested.
        x = torch.rand(len(costs), encoding.dim, dtype=torch.double)
        points = torch.cat([x, torch.tensor(costs, dtype=torch.double).reshape(-1, 1)], 1)
        return points, torch.arange(len(costs), dtype=torch.double)

    choices = multitask.choose(
        spec, encoding, model, [], 3, optimize, seed=5, taken=lambda x, task: False
    )
    assert len(choices) == 3
    assert len(seen) == 3
    assert all(acquisition is seen[0] for acquisition in seen)
