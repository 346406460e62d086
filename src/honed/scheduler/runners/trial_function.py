"""How the Python-function runners (CallableRunner, RayRunner, DaskRunner) call the user's
function: ``fn(assignments)``, or ``fn(assignments, task=<task name>)`` when ``fn``
declares a parameter named ``task`` that can be passed by keyword, so that it knows at
which task (fidelity) of a multitask experiment to evaluate. Such a function gets
``task=None`` in a plain experiment; a function without the parameter is called as it
always was. ``**kwargs`` alone does not ask for the task: such a function may pass its
keywords on to code that knows none.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def takes_task(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` declares a parameter ``task`` that can be passed by keyword."""
    try:
        parameter = inspect.signature(fn).parameters.get("task")
    except (TypeError, ValueError):  # no signature to read (some builtins and C callables)
        return False
    return parameter is not None and parameter.kind in _BY_KEYWORD


@dataclass(frozen=True)
class TrialFunction:
    """The user's function and whether it takes the task, decided once, where the runner
    is made. Picklable when ``fn`` is: it travels to the worker process, Ray actor or
    Dask worker that calls it."""

    fn: Callable[..., Any]
    with_task: bool

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> TrialFunction:
        return cls(fn, takes_task(fn))

    def __call__(self, assignments: dict[str, Any], task: str | None) -> Any:
        if self.with_task:
            return self.fn(assignments, task=task)
        return self.fn(assignments)
