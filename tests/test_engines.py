"""Engines: Sobol, random and grid proposals, and the service's free-point fallback."""

from __future__ import annotations

import math
import random
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from honed.domain.experiment import Experiment
from honed.domain.experiment import ExperimentSpec
from honed.domain.experiment import ExperimentState
from honed.domain.experiment import ExperimentType
from honed.domain.metrics import Metric
from honed.domain.parameters import AssignmentValue
from honed.domain.parameters import LinearConstraint
from honed.domain.parameters import Parameter
from honed.domain.parameters import ParameterType
from honed.domain.parameters import SearchSpace
from honed.domain.parameters import point_hash
from honed.domain.records import MetricValue
from honed.domain.records import ObservationInput
from honed.domain.tenancy import Token
from honed.engine import space as space_module
from honed.engine.base import Engine
from honed.engine.base import ProposalRequest
from honed.engine.grid import GridEngine
from honed.engine.random import RandomEngine
from honed.engine.selection import engine_for
from honed.engine.sobol import SobolEngine
from honed.engine.space import first_free_point
from honed.engine.space import point_at_index
from honed.engine.space import satisfies_constraints
from honed.errors import ConflictError
from honed.service.app import Services
from honed.service.choice import free_point
from honed.storage.sql.storage import SqlStorage

Point = dict[str, AssignmentValue]

X = Parameter("x", ParameterType.DOUBLE, bounds=(-2.0, 3.0))
Y = Parameter("y", ParameterType.DOUBLE, bounds=(0.0, 1.0))
N = Parameter("n", ParameterType.INT, bounds=(-3, 4))
M = Parameter("m", ParameterType.INT, bounds=(0, 10))
LOG = Parameter("l", ParameterType.DOUBLE, bounds=(1e-4, 1.0), transformation="log")
C = Parameter("c", ParameterType.CATEGORICAL, categorical_values=("a", "b", "c"))
G = Parameter("g", ParameterType.DOUBLE, grid=(0.5, 0.1, 2.0))
K = Parameter("k", ParameterType.INT, grid=(8, 2, 4))


def experiment(
    *parameters: Parameter,
    constraints: Sequence[LinearConstraint] = (),
    experiment_id: int = 7,
    type_: ExperimentType = ExperimentType.OFFLINE,
    development: bool = False,
) -> Experiment:
    spec = ExperimentSpec(
        name="engine test",
        space=SearchSpace(tuple(parameters), tuple(constraints)),
        metrics=(Metric("f"),),
        type=type_,
        development=development,
    )
    return Experiment(experiment_id, 1, spec, ExperimentState.ACTIVE, 0, 0)


def propose(engine: Engine, target: Experiment, cursor: int = 0, count: int = 1) -> list[Point]:
    proposal = engine.propose(ProposalRequest(target, cursor, count=count))
    return proposal.points


def walk(engine: Engine, target: Experiment, steps: int, cursor: int = 0) -> list[Point]:
    """One point per request, handing the returned cursor back each time."""
    points = []
    for _ in range(steps):
        proposal = engine.propose(ProposalRequest(target, cursor))
        assert len(proposal.points) == 1
        points.extend(proposal.points)
        cursor = proposal.cursor
    return points


def assert_valid(target: Experiment, points: Sequence[Point]) -> None:
    """Every point is a complete assignment already in canonical form (types included)."""
    space = target.spec.space
    for point in points:
        checked = space.check_assignments(point)
        assert checked == point
        assert {k: type(v) for k, v in checked.items()} == {k: type(v) for k, v in point.items()}


ENGINES: list[Any] = [
    pytest.param(SobolEngine, id="sobol"),
    pytest.param(lambda: RandomEngine(seed=1), id="random"),
]


@pytest.mark.parametrize("make", ENGINES)
def test_points_are_valid_assignments(make: Any) -> None:
    target = experiment(X, N, LOG, C, G, K)
    points = propose(make(), target, count=64)
    assert len(points) == 64
    assert_valid(target, points)
    assert len({point_hash(p) for p in points}) > 60


@pytest.mark.parametrize("make", ENGINES)
@pytest.mark.parametrize(
    ("parameter", "values"),
    [
        (N, list(range(-3, 5))),
        (C, ["a", "b", "c"]),
        (G, [0.1, 0.5, 2.0]),
        (K, [2, 4, 8]),
    ],
    ids=["int", "categorical", "double-grid", "int-grid"],
)
def test_discrete_parameters_take_every_value(
    make: Any, parameter: Parameter, values: list[AssignmentValue]
) -> None:
    target = experiment(X, parameter)
    points = propose(make(), target, count=64)
    assert_valid(target, points)
    seen = Counter(p[parameter.name] for p in points)
    assert sorted(seen) == values
    assert {type(v) for v in seen} == {type(values[0])}
    # Uniform over the values: none is starved.
    assert min(seen.values()) >= 64 / len(values) / 3


@pytest.mark.parametrize("make", ENGINES)
@pytest.mark.parametrize(
    ("parameter", "centre"),
    [(LOG, math.sqrt(1e-4 * 1.0)), (Y, 0.5)],
    ids=["log", "linear"],
)
def test_doubles_spread_evenly_in_their_scale(
    make: Any, parameter: Parameter, centre: float
) -> None:
    """Log-scaled: half the points below the geometric mean (a linear spread would put
    99% of them above it); linear: the median near the middle."""
    target = experiment(parameter)
    values = [float(p[parameter.name]) for p in propose(make(), target, count=256)]
    low, high = parameter.low, parameter.high
    assert all(low <= v <= high for v in values)
    median = statistics.median(values)
    if parameter.is_log:
        assert abs(math.log10(median) - math.log10(centre)) < 0.3
        decades = Counter(math.floor(math.log10(v)) for v in values)
        assert sorted(decades) == [-4, -3, -2, -1]
        assert min(decades.values()) >= 40
    else:
        assert abs(median - centre) < 0.08


def test_sobol_is_deterministic_per_cursor() -> None:
    target = experiment(X, N, C)
    first = propose(SobolEngine(), target, cursor=5, count=3)
    assert propose(SobolEngine(), target, cursor=5, count=3) == first
    # A batch is the same as consecutive single requests.
    assert [propose(SobolEngine(), target, cursor=c)[0] for c in (5, 6, 7)] == first
    assert SobolEngine().propose(ProposalRequest(target, 5, count=3)).cursor == 8
    # Advancing the cursor moves on to new points.
    later = propose(SobolEngine(), target, cursor=8, count=3)
    assert {point_hash(p) for p in later}.isdisjoint(point_hash(p) for p in first)
    # Each experiment has its own sequence.
    other = experiment(X, N, C, experiment_id=8)
    assert propose(SobolEngine(), other, cursor=5, count=3) != first


def test_sobol_walk_does_not_repeat() -> None:
    target = experiment(X, Y)
    points = walk(SobolEngine(), target, 50)
    assert len({point_hash(p) for p in points}) == 50


def test_sobol_point_depends_on_the_cursor_alone() -> None:
    """Server processes take turns along one sequence, so a process asks for cursors in any
    order, back and forth, past and within its cached block: each must give the point of
    a plain walk, or processes would hand out different sequences (and repeats)."""
    target = experiment(X, N, C, experiment_id=11)
    sequential = walk(SobolEngine(), target, 150)
    order = [0, 3, 1, 70, 69, 140, 2, 64, 63, 149, 128, 5, 100, 99, 6]
    fresh = experiment(X, N, C, experiment_id=11)
    assert [propose(SobolEngine(), fresh, cursor=c)[0] for c in order] == [
        sequential[c] for c in order
    ]


def test_sobol_starts_at_the_centre_of_the_space() -> None:
    """The first point is the centre in each parameter's own scale (a log parameter's
    geometric middle, the middle integer and category); the sequence follows."""
    target = experiment(X, LOG, M, C)
    first = propose(SobolEngine(), target)[0]
    assert first == {"x": 0.5, "l": pytest.approx(1e-2), "m": 5, "c": "b"}
    # Only cursor 0 is the centre: a batch from 0 and a walk from 1 continue alike.
    batch = propose(SobolEngine(), target, count=4)
    assert batch[0] == first
    assert batch[1:] == walk(SobolEngine(), target, 3, cursor=1)
    assert first not in batch[1:]


def test_sobol_skips_a_centre_that_breaks_a_linear_constraint() -> None:
    rule = LinearConstraint("greater_than", (("x", 1.0), ("y", 1.0)), 2.0)
    target = experiment(X, Y, constraints=[rule])
    proposal = SobolEngine().propose(ProposalRequest(target, 0, count=3))
    assert len(proposal.points) == 3
    assert all(rule.is_satisfied(p) for p in proposal.points)
    assert {"x": 0.5, "y": 0.5} not in proposal.points


DOUBLE_RULES = [
    pytest.param(
        (X, Y, C),
        LinearConstraint("less_than", (("x", 1.0), ("y", 2.0)), -1.0),
        id="double-less-than",
    ),
    pytest.param(
        (X, Y),
        LinearConstraint("greater_than", (("x", -1.0), ("y", 1.0)), 0.9),
        id="double-greater-than",
    ),
]
INT_RULE = pytest.param(
    (N, M), LinearConstraint("greater_than", (("n", 1.0), ("m", 1.0)), 10.0), id="int"
)


@pytest.mark.parametrize(
    ("make", "parameters", "rule"),
    [
        *[
            pytest.param(make.values[0], *rule.values, id=f"{rule.id}-{make.id}")
            for make in ENGINES
            for rule in [*DOUBLE_RULES, INT_RULE]
        ],
        pytest.param(GridEngine, *INT_RULE.values, id="int-grid"),
    ],
)
def test_linear_constraints_are_respected(
    make: Any, parameters: tuple[Parameter, ...], rule: LinearConstraint
) -> None:
    engine = make()
    target = experiment(*parameters, constraints=[rule])
    proposal = engine.propose(ProposalRequest(target, 0, count=10))
    assert len(proposal.points) == 10
    assert all(rule.is_satisfied(p) for p in proposal.points)
    assert_valid(target, proposal.points)
    # Most of the unconstrained space breaks the rule, so points were skipped.
    unconstrained = experiment(*parameters)
    skipped = [p for p in propose(make(), unconstrained, count=20) if not rule.is_satisfied(p)]
    assert skipped
    if not isinstance(engine, RandomEngine):
        assert proposal.cursor > 10  # the cursor moved past the skipped points


def test_random_engine() -> None:
    target = experiment(X, N, C)
    first = propose(RandomEngine(seed=3), target, count=10)
    assert propose(RandomEngine(seed=3), target, count=10) == first
    assert propose(RandomEngine(seed=4), target, count=10) != first
    engine = RandomEngine()
    assert propose(engine, target) != propose(engine, target)  # documented as random
    assert engine.propose(ProposalRequest(target, 41)).cursor == 42


GRID_SPACE = (G, C, Parameter("b", ParameterType.INT, bounds=(0, 1)))  # 3 * 3 * 2 points


def every_point(parameters: Sequence[Parameter]) -> set[str]:
    points: list[Point] = [{}]
    for parameter in parameters:
        if parameter.type is ParameterType.CATEGORICAL:
            values: list[AssignmentValue] = list(parameter.categorical_values)
        elif parameter.grid is not None:
            values = list(parameter.grid)
        else:
            values = list(range(int(parameter.low), int(parameter.high) + 1))
        points = [{**p, parameter.name: v} for p in points for v in values]
    return {point_hash(p) for p in points}


def test_grid_walks_every_point_once_before_repeating() -> None:
    target = experiment(*GRID_SPACE, type_=ExperimentType.GRID)
    size = 18
    assert target.spec.space.discrete_size() == size
    points = walk(GridEngine(), target, 2 * size + 1)
    assert_valid(target, points)
    first_round = [point_hash(p) for p in points[:size]]
    assert set(first_round) == every_point(GRID_SPACE)
    assert len(set(first_round)) == size
    assert [point_hash(p) for p in points[size : 2 * size]] == first_round
    assert points[2 * size] == points[0]
    # A batch is the same walk.
    assert propose(GridEngine(), target, cursor=0, count=size) == points[:size]


def test_grid_skips_points_that_break_a_constraint() -> None:
    rule = LinearConstraint("less_than", (("n", 1.0),), 1.0)  # n in -3..1: 5 of 8 values
    target = experiment(N, C, constraints=[rule], type_=ExperimentType.GRID)
    points = walk(GridEngine(), target, 16)
    hashes = [point_hash(p) for p in points]
    assert len(set(hashes[:15])) == 15
    assert hashes[15] == hashes[0]
    assert all(int(p["n"]) <= 1 for p in points)


def test_a_grid_point_of_a_wide_int_range_is_computed_not_enumerated() -> None:
    """In a process limited to 1 GiB: a list of the range's values would need tens of GB."""
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))\n"
        "from honed.domain.parameters import Parameter, ParameterType, SearchSpace\n"
        "from honed.engine.space import point_at_index\n"
        "space = SearchSpace((Parameter('c', ParameterType.CATEGORICAL,"
        " categorical_values=('a', 'b')), Parameter('n', ParameterType.INT,"
        " bounds=(-10**12, 10**12))))\n"
        "print(point_at_index(space, 2 * 10**12 + 1 + 7), point_at_index(space, 5))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        done.stdout.split("\n")[0]
        == "{'c': 'b', 'n': -999999999993} {'c': 'a', 'n': -999999999995}"
    )


@pytest.mark.parametrize(
    ("type_", "development", "expected"),
    [
        (ExperimentType.OFFLINE, False, SobolEngine),
        (ExperimentType.RANDOM, False, RandomEngine),
        (ExperimentType.OFFLINE, True, RandomEngine),
        (ExperimentType.GRID, False, GridEngine),
    ],
    ids=["offline", "random", "development", "grid"],
)
def test_engine_selection(type_: ExperimentType, development: bool, expected: type) -> None:
    target = experiment(G, C, type_=type_, development=development)
    assert type(engine_for(target)) is expected


# --- the service's last resort ------------------------------------------------------------

TINY = experiment(Parameter("n", ParameterType.INT, bounds=(1, 2)), C)  # 6 points


def test_free_point_finds_the_last_free_point() -> None:
    everything = [{"n": n, "c": c} for n in (1, 2) for c in ("a", "b", "c")]
    for last in everything:
        taken = {point_hash(p) for p in everything if p != last}
        for _ in range(5):  # the search starts at a random index
            assert free_point(TINY, taken) == (last, None)


def test_free_point_respects_constraints() -> None:
    rule = LinearConstraint("greater_than", (("n", 1.0),), 2.0)  # only n = 2
    target = experiment(Parameter("n", ParameterType.INT, bounds=(1, 2)), C, constraints=[rule])
    taken = {point_hash({"n": 2, "c": c}) for c in ("a", "b")}
    assert free_point(target, taken) == ({"n": 2, "c": "c"}, None)
    with pytest.raises(ConflictError, match="No free point left"):
        free_point(target, taken | {point_hash({"n": 2, "c": "c"})})


def test_free_point_raises_conflict_when_none_is_left() -> None:
    everything = {point_hash({"n": n, "c": c}) for n in (1, 2) for c in ("a", "b", "c")}
    with pytest.raises(ConflictError, match="all 6 points"):
        free_point(TINY, everything)


@pytest.mark.parametrize("seed", range(20))
def test_first_free_point_is_the_first_feasible_untaken_point_from_start(seed: int) -> None:
    """The chunked search agrees with walking the space point by point, on random mixed
    spaces (int ranges, grids, categories), constraints and taken sets."""
    rng = random.Random(seed)
    parameters = [
        Parameter("i", ParameterType.INT, bounds=(-3, rng.randint(0, 40))),
        Parameter("g", ParameterType.DOUBLE, grid=(0.5, 1.5, 2.5)),
        Parameter("c", ParameterType.CATEGORICAL, categorical_values=("a", "b")),
        Parameter("j", ParameterType.INT, grid=(1, 4, 9, 16)),
    ]
    rules = [
        LinearConstraint(
            rng.choice(["greater_than", "less_than"]),
            (("i", rng.uniform(-1, 1)), ("g", rng.uniform(-1, 1)), ("j", rng.uniform(-1, 1))),
            rng.uniform(-10, 10),
        )
        for _ in range(rng.randint(0, 2))
    ]
    space = SearchSpace(tuple(parameters), tuple(rules))
    size = space.discrete_size()
    assert size is not None
    walk = [point_at_index(space, i) for i in range(size)]
    taken = {point_hash(p) for p in walk if rng.random() < 0.9}
    start = rng.randrange(size)
    expected = next(
        (
            p
            for p in walk[start:] + walk[:start]
            if satisfies_constraints(space, p) and point_hash(p) not in taken
        ),
        None,
    )
    assert first_free_point(space, taken, start) == expected


def test_a_tight_constraint_is_searched_without_building_every_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """195,112 points of which only the far corner meets the constraint: the search, which
    runs inside the experiment's lock (on SQLite the whole database's), builds and hashes
    only feasible points; point by point it took 6 s."""
    parameters = tuple(Parameter(n, ParameterType.INT, bounds=(0, 57)) for n in "xyz")
    rule = LinearConstraint("greater_than", (("x", 1.0), ("y", 1.0), ("z", 1.0)), 171.0)
    target = experiment(*parameters, constraints=[rule])
    built = 0
    original = space_module.point_at_index

    def counting(space: SearchSpace, index: int) -> dict[str, AssignmentValue]:
        nonlocal built
        built += 1
        return original(space, index)

    monkeypatch.setattr(space_module, "point_at_index", counting)
    assert free_point(target, set()) == ({"x": 57, "y": 57, "z": 57}, None)
    assert built == 1
    with pytest.raises(ConflictError, match="No free point left"):
        free_point(target, {point_hash({"x": 57, "y": 57, "z": 57})})
    assert built == 2


def test_free_point_in_a_continuous_space() -> None:
    target = experiment(X, C)
    point, task = free_point(target, set())
    assert task is None
    assert_valid(target, [point])
    assert free_point(target, {point_hash(point)})[0] != point


def test_service_hands_out_every_point_then_conflicts(storage: SqlStorage) -> None:
    """Through the whole suggestion path: engine points, fallbacks, then a 409."""
    services = Services(storage)
    client = storage.create_client("c")
    caller: Token = services.tokens.issue(client.id).token
    created = services.experiments.create(caller, TINY.spec)
    handed = [services.suggestions.create(caller, created.id) for _ in range(6)]
    assert {point_hash(s.assignments) for s in handed} == {
        point_hash({"n": n, "c": c}) for n in (1, 2) for c in ("a", "b", "c")
    }
    with pytest.raises(ConflictError):
        services.suggestions.create(caller, created.id)
    services.suggestions.delete(caller, created.id, handed[3].id)
    assert services.suggestions.create(caller, created.id).assignments == handed[3].assignments


def test_design_points_skip_observed_points_until_every_point_is_observed(
    storage: SqlStorage,
) -> None:
    """A worker that reports before it asks again gets every point of a small discrete
    space once (Sobol's points there repeat one another); then a repeat, not a 409."""
    services = Services(storage)
    client = storage.create_client("c")
    caller: Token = services.tokens.issue(client.id).token
    created = services.experiments.create(caller, TINY.spec)
    handed = []
    for _ in range(6):
        suggestion = services.suggestions.create(caller, created.id)
        handed.append(point_hash(suggestion.assignments))
        report(services, caller, created.id, suggestion_id=suggestion.id)
    assert sorted(handed) == sorted(
        point_hash({"n": n, "c": c}) for n in (1, 2) for c in ("a", "b", "c")
    )
    again = services.suggestions.create(caller, created.id)
    assert point_hash(again.assignments) in handed


def test_the_centre_is_not_suggested_when_it_was_already_reported(storage: SqlStorage) -> None:
    """Users often report their default configuration first; the design's first point,
    the centre, would evaluate it again."""
    services = Services(storage)
    client = storage.create_client("c")
    caller: Token = services.tokens.issue(client.id).token
    created = services.experiments.create(caller, experiment(X, Y).spec)
    centre: Point = {"x": 0.5, "y": 0.5}
    first = services.suggestions.create(caller, created.id)
    assert first.assignments == centre  # what a fresh experiment starts with
    later = services.experiments.create(caller, experiment(X, Y).spec)
    report(services, caller, later.id, assignments=centre)
    assert services.suggestions.create(caller, later.id).assignments != centre


def report(
    services: Services,
    caller: Token,
    experiment_id: int,
    suggestion_id: int | None = None,
    assignments: Point | None = None,
) -> None:
    values = (MetricValue("f", 1.0),)
    given = ObservationInput(suggestion_id, assignments, values)
    services.observations.create(caller, experiment_id, given)
