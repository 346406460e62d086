"""Test problems and the simulated worker loop shared by quality.py and _ax_arm.py.

Pure Python (``math`` and ``random`` only): the Ax arm imports this module from its own
venv, which has neither honed nor optuna. Every problem is a minimisation with a known
optimum; ``regret`` is always measured on the noiseless value.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any
from typing import Generic
from typing import TypeVar

Value = float | int | str
Point = Mapping[str, Value]


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is "double", "int" or "categorical". ``conditions``: per
    conditional, the values under which the parameter applies (SigOpt's conditions)."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    values: tuple[str, ...] = ()
    conditions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def is_active(self, point: Point) -> bool:
        return all(point.get(name) in values for name, values in self.conditions)


@dataclass(frozen=True)
class Conditional:
    """A switch assigned one of ``values``; it decides which conditioned parameters apply."""

    name: str
    values: tuple[str, ...]


#: How far a point may exceed a linear constraint and still count as meeting it.
FEASIBILITY_TOLERANCE = 1e-8


@dataclass(frozen=True)
class LinearConstraint:
    """``sum(weight * value) <= bound`` over (parameter name, weight) terms."""

    terms: tuple[tuple[str, float], ...]
    bound: float

    def excess(self, point: Point) -> float:
        """How far the point exceeds the bound (<= 0: the constraint holds)."""
        return sum(weight * float(point[name]) for name, weight in self.terms) - self.bound

    def ax_string(self) -> str:
        """The constraint as Ax's ``parameter_constraints`` parse it: "2*x + y <= 3"."""
        terms = " + ".join(
            name if weight == 1 else f"{weight!r}*{name}" for name, weight in self.terms
        )
        return f"{terms} <= {self.bound!r}"


@dataclass(frozen=True)
class Problem:
    name: str
    params: tuple[Param, ...]
    function: Callable[[Point], float]
    optimum: float
    noise_sd: float = 0.0
    note: str = ""
    #: Left out of the default grid; run with --problems.
    on_request: bool = False
    #: Every arm is told of them; a point that breaks one is evaluated (the functions are
    #: defined everywhere) but never counts as the best.
    constraints: tuple[LinearConstraint, ...] = ()
    #: Its points assign each conditional a value and only the parameters active there.
    conditionals: tuple[Conditional, ...] = ()

    @property
    def dim(self) -> int:
        return len(self.params) + len(self.conditionals)

    def flat(self) -> Problem:
        """The same problem without conditionals: each becomes a categorical parameter
        and every parameter always applies (the function ignores the inactive ones)."""
        switches = tuple(Param(c.name, "categorical", values=c.values) for c in self.conditionals)
        params = tuple(replace(p, conditions=()) for p in self.params)
        return replace(self, params=switches + params, conditionals=())

    def feasible(self, point: Point) -> bool:
        return all(c.excess(point) <= FEASIBILITY_TOLERANCE for c in self.constraints)


def _doubles(prefix: str, count: int, low: float, high: float) -> tuple[Param, ...]:
    return tuple(Param(f"{prefix}{i}", "double", low, high) for i in range(count))


def _xs(point: Point, count: int) -> list[float]:
    return [float(point[f"x{i}"]) for i in range(count)]


def branin_xy(x1: float, x2: float) -> float:
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


BRANIN_MIN = 0.397887357729738


def branin(point: Point) -> float:
    return branin_xy(float(point["x0"]), float(point["x1"]))


_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
_H6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)
HARTMANN6_MIN = -3.32236801141551


def hartmann6(point: Point) -> float:
    x = _xs(point, 6)
    total = 0.0
    for alpha, a_row, p_row in zip(_H6_ALPHA, _H6_A, _H6_P, strict=True):
        inner = sum(a * (xi - p) ** 2 for a, xi, p in zip(a_row, x, p_row, strict=True))
        total -= alpha * math.exp(-inner)
    return total


def ackley10(point: Point) -> float:
    x = _xs(point, 10)
    n = len(x)
    a, b, c = 20.0, 0.2, 2 * math.pi
    part1 = -a * math.exp(-b * math.sqrt(sum(v * v for v in x) / n))
    part2 = -math.exp(sum(math.cos(c * v) for v in x) / n)
    return part1 + part2 + a + math.e


_ST_ARGMIN = -2.903534018185960


def _styblinski_term(v: float) -> float:
    return 0.5 * (v**4 - 16 * v**2 + 5 * v)


def styblinski_tang4(point: Point) -> float:
    return sum(_styblinski_term(v) for v in _xs(point, 4))


def levy20(point: Point) -> float:
    w = [1 + (v - 1) / 4 for v in _xs(point, 20)]
    total = math.sin(math.pi * w[0]) ** 2
    total += sum((v - 1) ** 2 * (1 + 10 * math.sin(math.pi * v + 1) ** 2) for v in w[:-1])
    return total + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


# The best category is the first and its int target is 8, so neither is the middle value
# that a centre point (Ax's first trial is the centre: k=5, c="b") would pick; "c" at k=5 is
# a decoy local optimum.
_MIXED_TARGET = {"a": 8, "b": 2, "c": 5}
_MIXED_OFFSET = {"a": 0.0, "b": 2.0, "c": 1.0}


def mixed(point: Point) -> float:
    """Branin over two doubles, times and plus a penalty for the int's distance from a
    target that depends on the category, plus a per-category offset. Optimum: Branin's
    minimum at k=8, c="a"."""
    category = str(point["c"])
    miss = int(point["k"]) - _MIXED_TARGET[category]
    base = branin_xy(float(point["x0"]), float(point["x1"]))
    return base * (1 + 0.1 * abs(miss)) + 0.5 * miss**2 + _MIXED_OFFSET[category]


_H3_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H3_A = ((3.0, 10.0, 30.0), (0.1, 10.0, 35.0), (3.0, 10.0, 30.0), (0.1, 10.0, 35.0))
_H3_P = (
    (0.3689, 0.1170, 0.2673),
    (0.4699, 0.4387, 0.7470),
    (0.1091, 0.8732, 0.5547),
    (0.03815, 0.5743, 0.8828),
)
HARTMANN3_MIN = -3.86278214782076


def hartmann3(x: Sequence[float]) -> float:
    total = 0.0
    for alpha, a_row, p_row in zip(_H3_ALPHA, _H3_A, _H3_P, strict=True):
        inner = sum(a * (xi - p) ** 2 for a, xi, p in zip(a_row, x, p_row, strict=True))
        total -= alpha * math.exp(-inner)
    return total


# The conditional problem's branches: "branin" holds the global optimum (0), "hartmann3"
# a worse one (0.5) in a branch whose typical values are better (a model that averages
# over branches is drawn to it), "baseline" has no parameters at all.
CONDITIONAL_HARTMANN_OFFSET = 0.5
CONDITIONAL_BASELINE = 3.0
_CONDITIONAL_PARAMS = (
    Param("b0", "double", -5.0, 10.0, conditions=(("model", ("branin",)),)),
    Param("b1", "double", 0.0, 15.0, conditions=(("model", ("branin",)),)),
    *(
        Param(f"h{i}", "double", 0.0, 1.0, conditions=(("model", ("hartmann3",)),))
        for i in range(3)
    ),
)


def conditional(point: Point) -> float:
    """Reads only the parameters that the value of ``model`` activates."""
    model = point["model"]
    if model == "branin":
        return (branin_xy(float(point["b0"]), float(point["b1"])) - BRANIN_MIN) / 10
    if model == "hartmann3":
        x = [float(point[f"h{i}"]) for i in range(3)]
        return hartmann3(x) - HARTMANN3_MIN + CONDITIONAL_HARTMANN_OFFSET
    return CONDITIONAL_BASELINE


# Two problems with linear constraints, on request: Ax takes 3.5-3.8 s per candidate on
# them (BoTorch's hit-and-run sampler draws its starting points), five times its
# unconstrained cost. Their optima were found with 3,000 SLSQP starts
# (hartmann6_constrained) and 100 per category and int (mixed_constrained).
# Hartmann6 under x3 + x4 + x5 <= 1 loses its global basin (there x3 + x4 + x5 = 1.24); the
# best feasible point is another basin's minimum, at x3 + x4 + x5 = 0.75.
HARTMANN6_CONSTRAINED_MIN = -3.2031619183962294
# mixed under x0 + x1 <= 5 (SigOpt's API takes constraints over doubles or over ints, not
# both): it cuts off Branin's three minima, and the optimum lies on it, at c="a", k=8,
# x = (3.1231, 1.8769).
MIXED_CONSTRAINED_MIN = 0.569739742891338
_MIXED_PARAMS = (
    Param("x0", "double", -5.0, 10.0),
    Param("x1", "double", 0.0, 15.0),
    Param("k", "int", 0, 10),
    Param("c", "categorical", values=("a", "b", "c")),
)


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in (
        Problem(
            "branin",
            (Param("x0", "double", -5.0, 10.0), Param("x1", "double", 0.0, 15.0)),
            branin,
            BRANIN_MIN,
            note="2-d, x0 in [-5, 10], x1 in [0, 15]",
        ),
        Problem(
            "hartmann6",
            _doubles("x", 6, 0.0, 1.0),
            hartmann6,
            HARTMANN6_MIN,
            note="6-d unit cube",
        ),
        Problem(
            "ackley10",
            _doubles("x", 10, -5.0, 10.0),
            ackley10,
            0.0,
            note="10-d on [-5, 10]^10 (asymmetric: the centre is not the optimum)",
        ),
        Problem(
            "styblinski_tang4",
            _doubles("x", 4, -5.0, 5.0),
            styblinski_tang4,
            4 * _styblinski_term(_ST_ARGMIN),
            note="4-d on [-5, 5]^4",
        ),
        Problem(
            "mixed",
            _MIXED_PARAMS,
            mixed,
            BRANIN_MIN,
            note="2 doubles, 1 int in [0, 10], 1 categorical with 3 values",
        ),
        Problem(
            "hartmann6_noisy",
            _doubles("x", 6, 0.0, 1.0),
            hartmann6,
            HARTMANN6_MIN,
            noise_sd=0.1,
            note="Hartmann6 + N(0, 0.1^2) noise; regret of the best observed point's true value",
        ),
        Problem(
            "hartmann6_constrained",
            _doubles("x", 6, 0.0, 1.0),
            hartmann6,
            HARTMANN6_CONSTRAINED_MIN,
            note="Hartmann6 under x3 + x4 + x5 <= 1 (a sixth of the cube; cuts off the "
            "global basin)",
            constraints=(LinearConstraint((("x3", 1.0), ("x4", 1.0), ("x5", 1.0)), 1.0),),
            on_request=True,
        ),
        Problem(
            "mixed_constrained",
            _MIXED_PARAMS,
            mixed,
            MIXED_CONSTRAINED_MIN,
            note="mixed under x0 + x1 <= 5 (active at the optimum)",
            constraints=(LinearConstraint((("x0", 1.0), ("x1", 1.0)), 5.0),),
            on_request=True,
        ),
        # Above 10 parameters, where honed's initial design grows past Ax's 5 points; on
        # request, as Ax takes seconds per candidate here.
        Problem(
            "hartmann6_in20",
            _doubles("x", 20, 0.0, 1.0),
            hartmann6,
            HARTMANN6_MIN,
            note="Hartmann6 on the first 6 of 20 parameters in the unit cube (14 inactive)",
            on_request=True,
        ),
        # On request: Ax has no arm for conditionals here; run it with
        # --problems conditional --arms honed,honed-flat,optuna.
        Problem(
            "conditional",
            _CONDITIONAL_PARAMS,
            conditional,
            0.0,
            note="conditional 'model': branin (2 doubles, optimum 0), hartmann3 (3 doubles, "
            "optimum 0.5) or baseline (none, 3.0)",
            conditionals=(Conditional("model", ("branin", "hartmann3", "baseline")),),
            on_request=True,
        ),
        Problem(
            "levy20",
            _doubles("x", 20, -5.0, 10.0),
            levy20,
            0.0,
            note="20-d on [-5, 10]^20 (optimum at 1 in every coordinate, not the centre)",
            on_request=True,
        ),
    )
}
DEFAULT_PROBLEMS = tuple(name for name, problem in PROBLEMS.items() if not problem.on_request)

# Evaluations x points in flight. 60x8 (many workers, most of them waiting while the
# initial design is out) is run on request: --budgets 60x8.
BUDGETS: dict[str, tuple[int, int]] = {"30x1": (30, 1), "60x4": (60, 4), "60x8": (60, 8)}
DEFAULT_BUDGETS = ("30x1", "60x4")


Token = TypeVar("Token")


@dataclass
class Arm(Generic[Token]):
    """What an optimizer offers the loop.

    ``ask(pending)`` gets the points being evaluated right now and returns a token and a
    new point, or None when the optimizer cannot propose yet (then one pending point is
    completed and it is asked again); ``is_model`` says whether the last ask used a model.
    """

    ask: Callable[[Sequence[Point]], tuple[Token, Point] | None]
    tell: Callable[[Token, Point, float], None]
    is_model: Callable[[], bool] = field(default=lambda: False)


def simulate(
    problem: Problem, arm: Arm[Any], evaluations: int, workers: int, seed: int
) -> dict[str, Any]:
    """Run ``evaluations`` instant evaluations with ``workers`` points in flight.

    Points are completed first in, first out; with ``workers`` > 1 the optimizer is asked
    for a new point while the other ``workers - 1`` are still pending. Returns, in order of
    completion, the true and observed values, the best-so-far regret after each evaluation
    (true value of the best *observed* point minus the optimum), the points, and the time
    of every ask. A point that breaks a linear constraint is evaluated and told, but is
    never the best (the regret is infinite until a point meets them all).
    """
    noise = noise_draws(problem, seed, evaluations)
    pending: deque[tuple[Any, Point]] = deque()
    true_values: list[float] = []
    observed: list[float] = []
    ask_seconds: list[float] = []
    ask_model: list[bool] = []
    points: list[dict[str, Value]] = []
    asked = 0
    stalls = 0
    while len(true_values) < evaluations:
        while len(pending) < workers and asked < evaluations:
            started = time.perf_counter()
            proposal = arm.ask([point for _, point in pending])
            elapsed = time.perf_counter() - started
            if proposal is None:
                stalls += 1
                if not pending:
                    raise RuntimeError("optimizer proposed nothing with no pending points")
                break
            ask_seconds.append(elapsed)
            ask_model.append(arm.is_model())
            pending.append(proposal)
            asked += 1
        token, point = pending.popleft()
        value = problem.function(point)
        noisy = value + noise[len(true_values)]
        arm.tell(token, point, noisy)
        true_values.append(value)
        observed.append(noisy)
        points.append(dict(point))
    return {
        **score(problem, points, true_values, observed),
        "ask_seconds": ask_seconds,
        "ask_model": ask_model,
        "stalls": stalls,
    }


def noise_draws(problem: Problem, seed: int, evaluations: int) -> list[float]:
    """The observation noise of the evaluations, in order (all 0.0 on a noiseless problem)."""
    if not problem.noise_sd:
        return [0.0] * evaluations
    noise = random.Random(f"{problem.name}-{seed}")
    return [noise.gauss(0.0, problem.noise_sd) for _ in range(evaluations)]


def score(
    problem: Problem,
    points: Sequence[Point],
    true_values: Sequence[float],
    observed: Sequence[float],
) -> dict[str, Any]:
    """The best-so-far regret after each evaluation, in order of completion: the true value
    of the best *observed* point minus the optimum. A point that breaks a linear constraint
    is never the best (the regret is infinite until a point meets them all)."""
    trace: list[float] = []
    best_observed = math.inf
    best_true = math.inf
    infeasible = 0
    for point, value, noisy in zip(points, true_values, observed, strict=True):
        if not problem.feasible(point):
            infeasible += 1
        elif noisy < best_observed:
            best_observed, best_true = noisy, value
        trace.append(best_true - problem.optimum)
    return {
        "true_values": list(true_values),
        "observed": list(observed),
        "trace": trace,
        "regret": trace[-1],
        "infeasible": infeasible,
        "points": [dict(point) for point in points],
    }
