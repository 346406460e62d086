"""The task the runner conformance suite runs, as a function and as a command.

``x`` in [0, 1] is a normal trial (``loss = (x - 0.3)**2``, a few intermediate values on
stdout); ``x == FAIL`` fails (a non-zero exit / an exception); ``x == SLOW`` runs a minute,
for stop tests. ``python -m honed.testing.trial_task --x 0.5`` is the command form.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

FAIL = -1.0
SLOW = -2.0


def expected_loss(x: float) -> float:
    return (x - 0.3) ** 2


def task(assignments: dict[str, Any]) -> dict[str, float]:
    x = float(assignments["x"])
    if x == FAIL:
        raise RuntimeError(f"deliberate failure for x={x}")
    if x == SLOW:
        time.sleep(60)
    return {"loss": expected_loss(x)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, required=True)
    parser.add_argument("--result-file", default=None)
    x = parser.parse_args().x
    for step in range(3):
        print(json.dumps({"step": step, "loss": expected_loss(x) + 1 / (step + 1)}), flush=True)
    if x == FAIL:
        print(f"deliberate failure for x={x}", file=sys.stderr)
        sys.exit(3)
    if x == SLOW:
        time.sleep(60)
    result = {"loss": expected_loss(x)}
    args = parser.parse_args()
    if args.result_file:
        with open(args.result_file, "w") as handle:
            json.dump(result, handle)
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
