"""Turning what a trial produced into metric values, shared by the runners."""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from typing import Any

REASON_CHARS = 480


def to_values(result: Any) -> Mapping[str, float] | float:
    """A number, or a mapping of metric names to numbers (``{"value": v}`` style too)."""
    if isinstance(result, bool) or result is None:
        raise TypeError(f"a trial must return a number or a {{metric: number}} dict: {result!r}")
    if isinstance(result, int | float):
        return float(result)
    if isinstance(result, Mapping):
        values = {}
        for name, value in result.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"metric {name!r} is not a number: {value!r}")
            values[str(name)] = float(value)
        return values
    raise TypeError(f"a trial must return a number or a {{metric: number}} dict: {result!r}")


def last_result_line(text: str) -> Any:
    """The last line of ``text`` that is a JSON object without a ``step`` (those are
    intermediate values), or a bare number."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if not line or line[0] not in "{-0123456789":
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "step" not in data:
            return data
        if isinstance(data, int | float) and not isinstance(data, bool):
            return data
    raise ValueError('no result: print a JSON line such as {"loss": 0.1} or write the result file')


def progress_lines(text: str) -> dict[float, dict[str, float]]:
    """Intermediate values: JSON lines with a ``step`` and metric values."""
    progress: dict[float, dict[str, float]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{") or '"step"' not in line:
            continue
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("step"), int | float):
            progress[float(data["step"])] = {
                str(k): float(v)
                for k, v in data.items()
                if k != "step" and isinstance(v, int | float) and not isinstance(v, bool)
            }
    return progress


def error_reason(error: BaseException) -> str:
    """The error and the end of its traceback (the remote one where there is one)."""
    text = "".join(traceback.format_exception(error)).strip()
    return tail(text)


def tail(text: str, chars: int = REASON_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= chars else "..." + text[-chars:]
