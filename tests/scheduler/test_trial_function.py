"""How the Python-function runners call the user's function: with ``task=`` exactly when
it declares a parameter ``task`` that can be passed by keyword (the runners themselves are
shown to deliver it in the runner conformance suite, tests/scheduler/test_runners.py)."""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from honed.scheduler.runners.trial_function import TrialFunction
from honed.scheduler.runners.trial_function import takes_task


def plain(assignments: dict[str, Any]) -> Any:
    return ("plain", assignments["x"])


def optional(assignments: dict[str, Any], task: str | None = None) -> Any:
    return ("optional", assignments["x"], task)


def required(assignments: dict[str, Any], task: str | None) -> Any:
    return ("required", assignments["x"], task)


def keyword_only(assignments: dict[str, Any], *, task: str | None) -> Any:
    return ("keyword_only", assignments["x"], task)


def positional_only(assignments: dict[str, Any], task: str | None = None, /) -> Any:
    return ("positional_only", assignments["x"], task)


def keywords(assignments: dict[str, Any], **options: Any) -> Any:
    return ("keywords", assignments["x"], options)


class Trainer:
    def __call__(self, assignments: dict[str, Any], task: str | None = None) -> Any:
        return ("trainer", assignments["x"], task)


def decorated(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (plain, False),
        (optional, True),
        (required, True),
        (keyword_only, True),
        (positional_only, False),  # cannot be passed as task=
        (keywords, False),  # **kwargs alone does not ask for it
        (Trainer(), True),
        (decorated(optional), True),  # the signature functools.wraps keeps
        (functools.partial(required, {"x": 1}), True),
        (max, False),  # no signature to read
    ],
    ids=lambda value: getattr(value, "__name__", None) or type(value).__name__,
)
def test_a_function_takes_the_task_when_it_declares_it(
    fn: Callable[..., Any], expected: bool
) -> None:
    assert takes_task(fn) is expected


@pytest.mark.parametrize("task", ["cheap", None])
def test_the_call_passes_the_task_only_to_a_function_that_takes_it(task: str | None) -> None:
    assert TrialFunction.of(plain)({"x": 1}, task) == ("plain", 1)
    assert TrialFunction.of(required)({"x": 1}, task) == ("required", 1, task)
    assert TrialFunction.of(keyword_only)({"x": 1}, task) == ("keyword_only", 1, task)
    assert TrialFunction.of(positional_only)({"x": 1}, task) == ("positional_only", 1, None)
    assert TrialFunction.of(keywords)({"x": 1}, task) == ("keywords", 1, {})


def test_it_travels_pickled_as_the_function_does() -> None:
    call = pickle.loads(pickle.dumps(TrialFunction.of(optional)))
    assert call == TrialFunction(optional, True)
    assert call({"x": 2}, "full") == ("optional", 2, "full")
