"""The task the runner conformance suite runs, as a function and as a command.

``x`` in [0, 1] is a normal trial (``loss = (x - 0.3)**2``, after the intermediate values
of ``curve(x)``, reported with ``honed.scheduler.report`` or printed as ``{"step": ...}``
lines); ``x >= LASTING`` is one that takes ``LASTING_SECONDS`` (still running when a test
kills its scheduler); ``x == FAIL`` fails (a non-zero exit / an exception); ``x == SLOW``
runs a minute, for stop tests, and ``x == REPORTING`` too, after reporting its curve.
A trial at a task of a multitask experiment (the function's ``task``, the command's
``--task``) sees its loss shifted by ``TASK_SHIFTS[task]``, a cheaper evaluation's bias,
so that a test can tell which task reached it.
``python -m honed.testing.trial_task --x 0.5 --task cheap`` is the command form. Every run appends
``x`` to the file named by the ``HONED_TRIAL_LOG`` environment variable, if set, so tests
can count how often a trial ran.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

FAIL = -1.0
SLOW = -2.0
REPORTING = -3.0
STEPS = 3
LASTING = 10.0
LASTING_SECONDS = 2.0
LOG = "HONED_TRIAL_LOG"
TASK_SHIFTS = {"cheap": 0.25, "full": 0.0}


def expected_loss(x: float, task: str | None = None) -> float:
    """The final loss of the trial ``x`` at ``task`` (None: a plain experiment's)."""
    return (x - 0.3) ** 2 + (TASK_SHIFTS[task] if task is not None else 0.0)


def curve(x: float) -> dict[float, float]:
    """The intermediate losses a trial reports, by step."""
    return {float(step): expected_loss(x) + 1 / (step + 1) for step in range(STEPS)}


def log_run(x: float) -> None:
    path = os.environ.get(LOG)
    if path:
        # One short write in append mode: lines of concurrent runs do not mix.
        with open(path, "a") as log:
            log.write(f"{x!r}\n")


def runs(x: float) -> int:
    """How many runs of the trial ``x`` the log holds."""
    with open(os.environ[LOG]) as log:
        return sum(float(line) == x for line in log if line.strip())


def _wait(x: float) -> None:
    if x in {SLOW, REPORTING}:
        time.sleep(60)
    elif x >= LASTING:
        time.sleep(LASTING_SECONDS)


def task(assignments: dict[str, Any], task: str | None = None) -> dict[str, float]:
    """The trial as a function; ``task`` by keyword, as runners pass it."""
    # Here, so that the command form does not import the scheduler.
    from honed.scheduler.progress import report

    x = float(assignments["x"])
    log_run(x)
    for step, loss in curve(x).items():
        report(step, {"loss": loss})
    if x == FAIL:
        raise RuntimeError(f"deliberate failure for x={x}")
    _wait(x)
    return {"loss": expected_loss(x, task)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--result-file", default=None)
    # Empty for a plain experiment: SubprocessRunner fills in {task} as ''.
    parser.add_argument("--task", default="")
    x = parser.parse_args().x
    log_run(x)
    for step, loss in curve(x).items():
        print(json.dumps({"step": step, "loss": loss}), flush=True)
    if x == FAIL:
        print(f"deliberate failure for x={x}", file=sys.stderr)
        sys.exit(3)
    _wait(x)
    args = parser.parse_args()
    result = {"loss": expected_loss(x, args.task or None)}
    if args.result_file:
        with open(args.result_file, "w") as handle:
            json.dump(result, handle)
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
